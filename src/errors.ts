/**
 * kpki's error hierarchy. Everything the library throws on bad input extends
 * PkiError; only src/cli/main.ts turns errors into messages and exit codes.
 */

export type PkiErrorCode =
  /** A flag, config file or argument is invalid. */
  | "invalid-input"
  /** A file on disk does not match what it should be (wrong CA, missing SAN, key mismatch). */
  | "mismatch"
  /** A file could not be read or written. */
  | "io";

export class PkiError extends Error {
  override name = "PkiError";
  readonly code: PkiErrorCode;
  constructor(code: PkiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export const isPkiError = (error: unknown): error is PkiError =>
  error instanceof PkiError || (error as { name?: unknown } | null)?.name === "PkiError";

export const invalidInput = (message: string): PkiError => new PkiError("invalid-input", message);
export const mismatch = (message: string): PkiError => new PkiError("mismatch", message);
