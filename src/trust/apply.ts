/**
 * Runs a trust operation on the stores selected by ./plan.ts through a TrustPort (implemented at
 * the edge by src/io/trust-store.ts): reads each store, changes it, and reads it back by the SHA-256
 * of the certificate's DER. A store that does not end in the wanted state is reported as failed.
 */
import { bytesToHex } from "../pki/der.js";
import type { ReadBack, StoreTarget, TrustHostFacts, TrustProbe, TrustStep } from "./plan.js";
import { certificatesIn, describeStep, describeTarget, installSteps, javaEntries, readBack, uninstallSteps } from "./plan.js";

/** A command's result; `code` 127 when the program could not be started. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The file system and programs of the host, as `kpki trust` needs them. */
export interface TrustPort {
  readonly facts: (probe: TrustProbe, home: string | undefined, javaHome: string | undefined) => Promise<TrustHostFacts>;
  /** A file's text, undefined when it does not exist. */
  readonly read: (path: string) => Promise<string | undefined>;
  readonly write: (path: string, text: string, mode: number) => Promise<void>;
  /** Removes a file; no error when it is already gone. */
  readonly remove: (path: string) => Promise<void>;
  readonly run: (argv: readonly string[]) => Promise<RunResult>;
}

export type TrustOperation = "install" | "uninstall" | "status";

/** One store's outcome (the JSON/YAML `stores[]` items). */
export interface StoreOutcome {
  readonly store: StoreTarget["kind"];
  readonly location: string;
  /**
   * install: installed, already-present, would-install, failed; uninstall: removed, already-absent,
   * would-remove, failed; status: present, absent.
   */
  readonly status: string;
  /** Whether the store holds the CA: after the change, or now (status, --dry-run, already-present/absent). */
  readonly held: boolean;
  /** The steps made (or, with --dry-run, to be made), one line each. */
  readonly steps: readonly string[];
  /** How the store was read back. */
  readonly readBack: string;
  readonly ok: boolean;
  readonly error: string | null;
}

export interface TrustRequest {
  readonly operation: TrustOperation;
  readonly name: string;
  readonly sha256Hex: string;
  readonly pem: string;
  readonly certFile: string;
  readonly dryRun: boolean;
  readonly sha256: (der: Uint8Array<ArrayBuffer>) => Promise<string>;
}

/** What the store holds: whether any of its certificates is the CA, and (Java) every alias whose certificate is. */
interface Holding {
  readonly held: boolean;
  readonly aliases: readonly string[];
}

async function inspect(port: TrustPort, target: StoreTarget, query: ReadBack, req: TrustRequest): Promise<Holding> {
  let text: string | undefined;
  if (query.op === "read") text = await port.read(query.path);
  else {
    // certutil -L -n exits non-zero when the entry does not exist (keytool -list too, when the keystore cannot be read).
    const result = await port.run(query.argv);
    text = result.code === 0 ? result.stdout : undefined;
  }
  if (text === undefined) return { held: false, aliases: [] };
  const aliases: string[] = [];
  if (target.kind === "java") {
    for (const entry of javaEntries(text)) if ((await req.sha256(entry.der)) === req.sha256Hex) aliases.push(entry.alias);
    if (aliases.length) return { held: true, aliases };
  }
  // Every certificate counts, also one whose alias the listing did not name.
  for (const der of certificatesIn(text)) if ((await req.sha256(der)) === req.sha256Hex) return { held: true, aliases };
  return { held: false, aliases };
}

async function runSteps(port: TrustPort, steps: readonly TrustStep[]): Promise<string | null> {
  for (const step of steps) {
    try {
      if (step.op === "write") await port.write(step.path, step.text, step.mode);
      else if (step.op === "remove") await port.remove(step.path);
      else {
        const r = await port.run(step.argv);
        if (r.code !== 0) {
          const why = (r.stderr.trim() || r.stdout.trim()).split("\n").map((l) => l.trim()).filter(Boolean).join("; ");
          return `${describeStep(step)} exited ${r.code}${why ? `: ${why}` : ""}`;
        }
      }
    } catch (error) {
      return `${describeStep(step)}: ${(error as Error).message}`;
    }
  }
  return null;
}

/** The operation on one store. */
export async function applyToStore(port: TrustPort, target: StoreTarget, req: TrustRequest): Promise<StoreOutcome> {
  const query = readBack(target, req.name);
  const base = { store: target.kind, location: describeTarget(target), readBack: describeStep(query) };
  const found = await inspect(port, target, query, req);
  const before = found.held;
  if (req.operation === "status") return { ...base, status: before ? "present" : "absent", held: before, steps: [], ok: before, error: null };

  const installing = req.operation === "install";
  // The system anchor file may exist while the bundle was never rebuilt (or the reverse); only
  // the file tells whether kpki's entry is there.
  const fileThere = target.kind === "system" ? (await port.read(target.file)) !== undefined : before;
  const done = installing ? before && (target.kind !== "system" || fileThere) : !before && !fileThere;
  if (done) return { ...base, status: installing ? "already-present" : "already-absent", held: before, steps: [], ok: true, error: null };

  const steps = installing ? installSteps(target, req.name, req.pem, req.certFile) : uninstallSteps(target, req.name, found.aliases);
  const lines = steps.map(describeStep);
  if (req.dryRun) return { ...base, status: installing ? "would-install" : "would-remove", held: before, steps: lines, ok: true, error: null };

  const stepError = await runSteps(port, steps);
  const after = (await inspect(port, target, query, req)).held;
  const ok = installing ? after : !after;
  let error: string | null = null;
  if (!ok) {
    const state = installing ? "the certificate is not in it afterwards" : "the certificate is still in it afterwards";
    const other = !installing && target.kind === "system" && !stepError ? ` (another file under the anchor folder or the distribution provides it; kpki removes only ${target.file})` : "";
    error = `${state}${stepError ? ` (${stepError})` : other}`;
  } else if (stepError) {
    error = stepError;
  }
  return { ...base, status: ok ? (installing ? "installed" : "removed") : "failed", held: after, steps: lines, ok, error };
}

/** Hex SHA-256 through WebCrypto. */
export const sha256With = (crypto: Crypto) => async (der: Uint8Array<ArrayBuffer>): Promise<string> =>
  bytesToHex(new Uint8Array(await crypto.subtle.digest("SHA-256", der)));
