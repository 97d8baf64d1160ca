import { closeSync, constants, existsSync, fstatSync, promises as fs, openSync, readdirSync, readSync } from "node:fs";
import { basename, dirname } from "node:path";
import { PkiError } from "../errors.js";
import type { PkiStore } from "../kubeadm/store.js";
import { checkInterrupted, registerTemporary, removeStaleTemporaries, temporaryName, tracked } from "./temporaries.js";

// The errno codes kpki's users meet, said plainly; the code itself follows in parentheses so that
// it can be searched for (strerror's wording, as coreutils prints it).
const ERRNO_TEXT: Readonly<Record<string, string>> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  ENOENT: "no such file or directory",
  ENOTDIR: "a parent is not a directory",
  EISDIR: "is a directory",
  EEXIST: "already exists",
  ENOTEMPTY: "directory not empty",
  ELOOP: "too many levels of symbolic links",
  ENAMETOOLONG: "file name too long",
  EMFILE: "too many open files",
  ENFILE: "too many open files in system",
  EBUSY: "device or resource busy",
  EXDEV: "not on the same file system",
  EIO: "input/output error",
  ETXTBSY: "text file busy",
  EFBIG: "file too large",
};

/**
 * What an I/O error means, in words, with its errno: `read-only file system (EROFS)`. The one
 * helper for every file-system message kpki prints, so that each names the real errno.
 */
export function errnoText(error: unknown): string {
  if (error instanceof PkiError) return error.message;
  const e = error as NodeJS.ErrnoException;
  const code = typeof e?.code === "string" ? e.code : undefined;
  if (code === undefined) return (e as Error | undefined)?.message ?? String(error);
  const text = ERRNO_TEXT[code];
  if (text !== undefined) return `${text} (${code})`;
  // Node's message is "CODE: text, syscall 'path'"; keep the text.
  const plain = /^[A-Z0-9]+: ([^,]+)/.exec(e.message ?? "")?.[1];
  return `${plain ?? e.message ?? "error"} (${code})`;
}

/** One clear line for a failed file operation: `cannot write /x/ca.key: read-only file system (EROFS)`. */
export const ioError = (what: string, error: unknown): PkiError =>
  error instanceof PkiError ? error : new PkiError("io", `${what}: ${errnoText(error)}`, { cause: error });

/** Flushes a file or a folder (a rename is durable once its folder is flushed); best effort. */
export async function fsyncPath(path: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(path, constants.O_RDONLY);
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  } finally {
    await handle?.close();
  }
}

/**
 * Writes `data` to `path` atomically: a temporary file in the same directory
 * (`.NAME.kpki-<pid>-<random>.tmp`, registered so that SIGINT/SIGTERM removes it),
 * created with `mode`, flushed to disk, then renamed over `path`, and the
 * directory flushed. A crash leaves either the old file or the new one; the
 * next write into that folder removes a temporary whose process is gone.
 * Errors name the path and the errno; the old file is left as it was.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const dir = dirname(path);
  await tracked(async () => {
    try {
      await fs.mkdir(dir, { recursive: true, mode: 0o755 });
    } catch (error) {
      throw ioError(`cannot create directory ${dir}`, error);
    }
    removeStaleTemporaries(dir);
    const tmp = temporaryName(dir, basename(path));
    const release = registerTemporary(tmp);
    let handle: fs.FileHandle | undefined;
    try {
      handle = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
      await handle.writeFile(data);
      checkInterrupted();
      await handle.chmod(mode); // the umask may have narrowed or the mode argument been ignored
      await handle.sync();
      await handle.close();
      handle = undefined;
      checkInterrupted();
      await fs.rename(tmp, path);
      release();
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      release();
      throw ioError(`cannot write ${path}`, error);
    }
    await fsyncPath(dir);
  });
}

/** Reads a text file; undefined when it does not exist. */
export async function readFileIfExists(path: string): Promise<string | undefined> {
  const bytes = await readBytesIfExists(path);
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}

/**
 * Throws unless a file can be created in `dir`, or, when `dir` does not exist yet, in the nearest
 * existing folder above it (where the missing folders would be made). A probe file is created and
 * removed; nothing else changes. The message names the errno: `cannot write in /x/pki: read-only
 * file system (EROFS); nothing was changed`. Creating an empty file needs no free blocks, so a
 * full disk (ENOSPC) usually shows only at the write itself.
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
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new PkiError("io", `cannot write in ${dir}: ${errnoText(error)}; nothing was changed`, { cause: error });
      const up = dirname(at);
      if (up === at) break;
      at = up;
    }
  }
  const probe = temporaryName(at, "probe");
  await tracked(async () => {
    const release = registerTemporary(probe);
    try {
      await fs.writeFile(probe, "", { flag: "wx", mode: 0o600 });
    } catch (error) {
      throw new PkiError("io", `cannot write in ${dir}: ${errnoText(error)}; nothing was changed`, { cause: error });
    } finally {
      await fs.rm(probe, { force: true }).catch(() => undefined);
      release();
    }
  });
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
 * read (a 10,000-file scan is I/O-call bound). The bytes are read straight into
 * an array of their own (readFileSync's Buffer of a small file is a slice of a
 * shared pool, which would have to be copied out).
 */
export async function readBytesIfExists(path: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
  try {
    return readWhole(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw ioError(`cannot read ${path}`, error);
  }
}

/** readFileSync's reading: the size fstat gives, or, where it gives none (/proc, a pipe), until end of file. */
function readWhole(path: string): Uint8Array<ArrayBuffer> {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    let buf = new Uint8Array(size > 0 ? size : 8192);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (size > 0) break;
        const bigger = new Uint8Array(2 * buf.length);
        bigger.set(buf);
        buf = bigger;
      }
      const read = readSync(fd, buf, n, buf.length - n, null);
      if (read === 0) break;
      n += read;
    }
    return n === buf.length ? buf : buf.slice(0, n);
  } finally {
    closeSync(fd);
  }
}

/** FNV-1a of a string's char codes, for the listings below. */
function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h | 1; // never 0, the empty slot
}

/** A folder's names as 32-bit hashes (open addressing): no name is kept, a hash that matches means "may exist". */
class NameHashes {
  private readonly slots: Int32Array;

  constructor(names: readonly string[]) {
    let size = 16;
    while (size < 2 * names.length) size *= 2;
    this.slots = new Int32Array(size);
    for (const name of names) {
      const h = nameHash(name);
      let k = h & (size - 1);
      while (this.slots[k] !== 0 && this.slots[k] !== h) k = (k + 1) & (size - 1);
      this.slots[k] = h;
    }
  }

  mayHave(name: string): boolean {
    const h = nameHash(name);
    const mask = this.slots.length - 1;
    for (let k = h & mask; ; k = (k + 1) & mask) {
      const slot = this.slots[k]!;
      if (slot === h) return true;
      if (slot === 0) return false;
    }
  }
}

/**
 * `mayExist` for BytesReader: answers from a cached listing per directory,
 * so looking for a key beside each of 10,000 certificates costs no failed reads.
 * A listing keeps 32-bit hashes of the names, not the names (a 100,000-file tree's
 * names would be kept twice, and as 100,000 JS strings that V8 has to carry
 * through its young generation); a hash that matches only means that the file
 * may exist, which the read then decides. Up to `keep` folders are kept; then the cache starts
 * again (a scan asks about one folder after another). Entries are never moved or deleted one by
 * one: a Map whose entries keep being deleted and added again rebuilds its table over and over,
 * which at 100,000 files showed as 20 MB more of V8's old generation.
 */
export function directoryListingCache(keep = 64): (path: string) => boolean {
  const listings = new Map<string, NameHashes | undefined>();
  return (path: string): boolean => {
    const dir = dirname(path);
    let names: NameHashes | undefined;
    if (listings.has(dir)) names = listings.get(dir);
    else {
      try {
        names = new NameHashes(existsSync(dir) ? readdirSync(dir) : []);
      } catch {
        names = undefined; // unknown: let the read decide
      }
      if (listings.size >= keep) listings.clear();
      listings.set(dir, names);
    }
    return names === undefined || names.mayHave(basename(path));
  };
}
