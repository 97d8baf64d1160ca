import { lstatSync, promises as fsp, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { PkiError } from "../errors.js";

/**
 * Every temporary name kpki creates, so that none outlives the run: a file written under a
 * temporary name before its rename, a pair generation or backup folder being written, a symlink
 * made ready for a switch. Each is registered while it exists; SIGINT and SIGTERM remove the
 * registered ones before the process exits (see installSignalCleanup). A run that is killed
 * outright (SIGKILL, power loss) cannot clean up, so every temporary name carries the writer's PID
 * (`.<name>.kpki-<pid>-<random>.tmp`) and the next run that writes into a folder removes the
 * ones whose process is gone (removeStaleTemporaries). The names start with a dot so that
 * globs such as `*.crt` never see them.
 */

/** A temporary name in `dir` for `name`: `.<name>.kpki-<pid>-<random>.tmp`. */
export const temporaryName = (dir: string, name: string): string =>
  join(dir, `.${name}.kpki-${process.pid}-${Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(6))).toString("hex")}.tmp`);

const TEMPORARY = /^\..+\.kpki-(\d+)-[0-9a-f]+\.tmp$/;
/** What kpki before PIDs were in the names wrote: `.<name>.kpki-<12 hex>.tmp`. */
const LEGACY = /^\..+\.kpki-[0-9a-f]{12}\.tmp$/;
/** A legacy temporary older than this is a leftover: writing one file never took that long. */
const LEGACY_AGE_MS = 10 * 60_000;

// Paths (files or whole folders) to remove if the process is stopped, in registration order.
const registered = new Set<string>();
// File operations in flight; a signal waits for them (see below) before removing anything.
let inFlight = 0;
// Sections that must finish once started (renewal's switch and roll-back); a signal waits for them too.
let critical = 0;
let pending: NodeJS.Signals | undefined;
let exiting = false;

/** Thrown when a new file operation would start after SIGINT/SIGTERM arrived. */
const interrupted = (): PkiError => new PkiError("io", `interrupted by ${pending ?? "a signal"}`);

/**
 * Registers `path` (a file or a folder) as temporary: a signal removes it. Call before it is
 * created; call the returned function once it is renamed to its real name or removed.
 */
export function registerTemporary(path: string): () => void {
  registered.add(path);
  return () => {
    registered.delete(path);
  };
}

/**
 * Runs one file operation that creates or renames temporaries. A signal that arrives meanwhile is
 * handled once no such operation is in flight, so that the removal never races a rename the
 * kernel is still doing (removing a folder while it is being renamed into place could leave half
 * a generation live). After a signal, new operations are refused, except inside `critical`.
 */
export async function tracked<T>(operation: () => Promise<T>): Promise<T> {
  checkInterrupted();
  inFlight++;
  try {
    return await operation();
  } finally {
    inFlight--;
    settle();
  }
}

/**
 * Throws once SIGINT/SIGTERM has arrived (outside `critical`): long writes call it between steps,
 * so that an interrupted one stops, removes its temporary and lets the process exit promptly.
 */
export function checkInterrupted(): void {
  if (pending !== undefined && critical === 0) throw interrupted();
}

/**
 * Runs `section` to its end even if SIGINT/SIGTERM arrives meanwhile; the signal is handled
 * afterwards. For steps that are short and must not be cut in two: renewal switching every
 * staged pair, or rolling the switched ones back.
 */
export async function critically<T>(section: () => Promise<T>): Promise<T> {
  critical++;
  try {
    return await section();
  } finally {
    critical--;
    settle();
  }
}

/** Removes every registered temporary now (synchronously; errors are ignored: best effort). */
export function removeRegisteredTemporaries(): void {
  for (const path of [...registered].reverse()) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      // an immutable or vanished folder: the next run's stale sweep gets another chance
    }
    registered.delete(path);
  }
}

const SIGNAL_NUMBER: Readonly<Record<string, number>> = { SIGINT: 2, SIGTERM: 15 };

function exitNow(): void {
  if (exiting) return;
  exiting = true;
  removeRegisteredTemporaries();
  // 128 + the signal's number, as shells report a process a signal ended: 130 SIGINT, 143 SIGTERM.
  process.exit(128 + (SIGNAL_NUMBER[pending ?? "SIGTERM"] ?? 15));
}

function settle(): void {
  if (pending !== undefined && inFlight === 0 && critical === 0) exitNow();
}

/**
 * Installs the SIGINT/SIGTERM handler that removes kpki's temporaries and exits with 130 or 143.
 * bin/kpki.ts calls it before running a command, so its listener is the first one.
 *
 * A command that stops gracefully on these signals itself (`approver run`) adds its own listener;
 * when another listener is present at the moment a signal arrives, this one removes temporaries
 * that no operation is using (none, for the approver) and leaves the exit to that command. A second
 * signal after that command's one-shot listener is gone ends the process here (130/143), as an
 * impatient second Ctrl-C should.
 *
 * Otherwise the exit waits until no file operation is in flight (at most `graceMs`; a hung network
 * file system must not make Ctrl-C useless), and a second signal exits at once.
 */
export function installSignalCleanup(graceMs = 5000): void {
  const onSignal = (signal: NodeJS.Signals): void => {
    if (process.listenerCount(signal) > 1) {
      if (inFlight === 0 && critical === 0) removeRegisteredTemporaries();
      return;
    }
    if (pending !== undefined) {
      exitNow(); // a second signal: no more waiting
      return;
    }
    pending = signal;
    settle();
    setTimeout(exitNow, graceMs).unref();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

/**
 * Takes `path` as a lock file that holds this process's PID, created exclusively. A lock left by a
 * process that is gone (killed) is taken over; one whose process runs is refused, naming it (two
 * processes that find the same dead lock at the same moment could both take it over). Returns the
 * release; an exit on SIGINT/SIGTERM removes the file as it removes temporaries.
 */
export async function takeLock(path: string, what: string): Promise<() => Promise<void>> {
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await fsp.open(path, "wx", 0o600);
      try {
        await handle.writeFile(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      const release = registerTemporary(path);
      return async () => {
        release();
        await fsp.rm(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw error;
      const pid = Number((await fsp.readFile(path, "utf8").catch(() => "")).trim());
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
        throw new PkiError("io", `another ${what} (PID ${pid}) is running on these files; wait for it to end (its lock: ${path})`);
      }
      await fsp.rm(path, { force: true }); // its process is gone
    }
  }
}

/** Whether process `pid` exists (a PID kpki cannot signal, EPERM, still exists). */
function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

const swept = new Set<string>();

/**
 * Removes, once per folder and process, the temporaries a killed kpki left in `dir`: names
 * `.*.kpki-<pid>-*.tmp` whose PID is no live process (a live one may be another kpki writing
 * right now, and is never touched), and names of the older form `.*.kpki-<hex>.tmp` (no PID) last
 * modified more than ten minutes ago. A PID reused by an unrelated process keeps its file until
 * that process ends: the safe side. Errors are ignored; a folder that cannot be listed or changed
 * fails the write that follows with a clear message.
 */
export function removeStaleTemporaries(dir: string): void {
  if (swept.has(dir)) return;
  swept.add(dir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names) {
    const path = join(dir, name);
    const m = TEMPORARY.exec(name);
    let stale = false;
    if (m) stale = !isAlive(Number(m[1]));
    else if (LEGACY.test(name)) {
      try {
        stale = now - lstatSync(path).mtimeMs > LEGACY_AGE_MS;
      } catch {
        stale = false;
      }
    }
    if (!stale) continue;
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      // left for a later run
    }
  }
}
