import { randomBytes } from "node:crypto";
import { constants, existsSync, promises as fs, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { PkiError } from "../errors.js";
import type { PkiStore } from "../kubeadm/store.js";

const reason = (error: unknown): string => {
  const e = error as NodeJS.ErrnoException;
  switch (e.code) {
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "a parent is not a directory";
    case "EROFS":
      return "read-only file system";
    case "ENOSPC":
      return "no space left on device";
    case "ELOOP":
      return "too many levels of symbolic links";
    default:
      return e.message ?? String(error);
  }
};

async function fsyncDir(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, constants.O_RDONLY);
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  } finally {
    await handle?.close();
  }
}

/**
 * Writes `data` to `path` atomically: a temporary file in the same directory,
 * created with `mode`, flushed to disk, then renamed over `path`, and the
 * directory flushed. A crash leaves either the old file or the new one.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const dir = dirname(path);
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  } catch (error) {
    throw new PkiError("io", `cannot create directory ${dir}: ${reason(error)}`, { cause: error });
  }
  const tmp = join(dir, `.${basename(path)}.kpki-${randomBytes(6).toString("hex")}.tmp`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    await handle.writeFile(data);
    await handle.chmod(mode); // the umask may have narrowed or the mode argument been ignored
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(tmp, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw new PkiError("io", `cannot write ${path}: ${reason(error)}`, { cause: error });
  }
  await fsyncDir(dir);
}

/** Reads a text file; undefined when it does not exist. */
export async function readFileIfExists(path: string): Promise<string | undefined> {
  const bytes = await readBytesIfExists(path);
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}

/**
 * Throws unless a file can be created in `dir`, or, when `dir` does not exist yet, in the nearest
 * existing folder above it (where the missing folders would be made). A probe file is created and
 * removed; nothing else changes.
 */
export async function checkWritable(dir: string): Promise<void> {
  let at = dir === "" ? "." : dir;
  for (;;) {
    try {
      const st = await fs.stat(at);
      if (!st.isDirectory()) throw new PkiError("io", `cannot write in ${dir}: ${at} is not a directory; nothing was changed`);
      break;
    } catch (error) {
      if (error instanceof PkiError) throw error;
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new PkiError("io", `cannot write in ${dir}: ${reason(error)}; nothing was changed`, { cause: error });
      const up = dirname(at);
      if (up === at) break;
      at = up;
    }
  }
  const probe = join(at, `.kpki-probe-${randomBytes(4).toString("hex")}`);
  try {
    await fs.writeFile(probe, "", { flag: "wx", mode: 0o600 });
  } catch (error) {
    throw new PkiError("io", `cannot write in ${dir}: ${reason(error)}; nothing was changed`, { cause: error });
  }
  await fs.rm(probe, { force: true });
}

/** The PkiStore on the local file system. */
export const fsStore = (): PkiStore => ({
  read: readFileIfExists,
  write: writeFileAtomic,
  checkWritable,
});

/** A store that reads the real files but only reports the writes it would make (for --dry-run). */
export const dryRunStore = (report: (line: string) => void): PkiStore => ({
  read: readFileIfExists,
  write: async (path, _data, mode) => {
    report(`[dryrun] Would write file "${path}" with mode ${mode.toString(8).padStart(4, "0")}`);
  },
  checkWritable: async () => undefined,
});

/**
 * Reads a file's bytes; undefined when it does not exist. Synchronous inside:
 * for the small files kpki reads, a thread-pool round trip costs more than the
 * read (a 10,000-file scan is I/O-call bound).
 */
export async function readBytesIfExists(path: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
  try {
    const buf = readFileSync(path);
    return new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new PkiError("io", `cannot read ${path}: ${reason(error)}`, { cause: error });
  }
}

/**
 * `mayExist` for BytesReader: answers from one cached listing per directory,
 * so looking for a key beside each of 10,000 certificates costs no failed reads.
 */
export function directoryListingCache(): (path: string) => boolean {
  const listings = new Map<string, Set<string> | undefined>();
  return (path: string): boolean => {
    const dir = dirname(path);
    if (!listings.has(dir)) {
      let names: Set<string> | undefined;
      try {
        names = existsSync(dir) ? new Set(readdirSync(dir)) : new Set();
      } catch {
        names = undefined; // unknown: let the read decide
      }
      listings.set(dir, names);
    }
    const names = listings.get(dir);
    return names === undefined || names.has(basename(path));
  };
}
