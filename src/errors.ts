/**
 * kpki's error hierarchy. Everything the library throws on bad input extends
 * PkiError; only src/cli/main.ts turns errors into messages and exit codes.
 */

export type PkiErrorCode =
  /** The command line is wrong: an unknown or repeated flag, a value of the wrong form. */
  | "usage"
  /** A config file, an input file or a flag's meaning is invalid. */
  | "invalid-input"
  /** A file on disk does not match what it should be (wrong CA, missing SAN, key mismatch). */
  | "mismatch"
  /** A file could not be read or written. */
  | "io"
  /** The Kubernetes API answered with an error status. */
  | "api";

/** The process exit code of each error kind (README, "Exit codes"): 2 for usage errors, else 1. */
export const EXIT_CODE_OF: Readonly<Record<PkiErrorCode, number>> = { usage: 2, "invalid-input": 1, mismatch: 1, io: 1, api: 1 };

export class PkiError extends Error {
  override name = "PkiError";
  readonly code: PkiErrorCode;
  /** The exit code the CLI ends with when this error stops a command (a command may set its own, e.g. 3 UNKNOWN). */
  readonly exitCode: number;
  constructor(code: PkiErrorCode, message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.exitCode = options?.exitCode ?? EXIT_CODE_OF[code];
  }
}

export const isPkiError = (error: unknown): error is PkiError =>
  error instanceof PkiError || (error as { name?: unknown } | null)?.name === "PkiError";

export const usageError = (message: string): PkiError => new PkiError("usage", message);
export const invalidInput = (message: string): PkiError => new PkiError("invalid-input", message);
export const mismatch = (message: string): PkiError => new PkiError("mismatch", message);
