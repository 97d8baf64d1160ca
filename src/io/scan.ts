import { readdirSync, realpathSync, statSync, type Dirent } from "node:fs";
import { join, normalize, resolve, sep } from "node:path";
import { PAIR_STORE_DIR } from "./pair-writer.js";

/** A file found by a scan, or a path that could not be walked (with the reason). */
export type ScanEntry = { readonly path: string; readonly explicit: boolean } | { readonly path: string; readonly error: string };

const GLOB_CHARS = /[*?[]/;

/**
 * A file met while walking a folder or matching a glob, so never one named on the command line: an
 * object of one field, 32 bytes, where `{ path, explicit }` takes 40 (a scan can list 100,000).
 */
class WalkedFile {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  get explicit(): boolean {
    return false;
  }
}

/**
 * Entries gathered in blocks of 4096, then copied once into an array of the exact length. One array
 * grown by push is copied to ever larger ones; past 16,000 entries each copy is a large object that
 * only a full GC frees, and at 100,000 files they left about 1.6 MB behind for the whole scan.
 */
class EntryList {
  private readonly blocks: ScanEntry[][] = [];
  private block: ScanEntry[] = [];
  length = 0;

  push(entry: ScanEntry): void {
    if (this.block.length === 4096) {
      this.blocks.push(this.block);
      this.block = [];
    }
    this.block.push(entry);
    this.length++;
  }

  toArray(): ScanEntry[] {
    const out = new Array<ScanEntry>(this.length);
    let k = 0;
    for (const block of this.blocks) for (const entry of block) out[k++] = entry;
    for (const entry of this.block) out[k++] = entry;
    return out;
  }
}

/** Where a --scan argument's walk starts: the path itself, or a glob's folders before its first wildcard (`.` when none). */
export function scanRoot(arg: string): { readonly root: string; readonly glob: boolean } {
  const globAt = arg.search(GLOB_CHARS);
  return globAt < 0 ? { root: arg, glob: false } : { root: arg.slice(0, arg.lastIndexOf("/", globAt) + 1) || ".", glob: true };
}

/** A glob (`*`, `?`, `[...]`, `**`) as a regular expression over whole paths. */
function globToRegex(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] ?? "";
    if (c === "*") {
      if (glob[i + 1] === "*") {
        // `**/` matches any number of directories, `**` at the end anything
        const slash = glob[i + 2] === "/";
        re += slash ? "(?:.*/)?" : ".*";
        i += slash ? 2 : 1;
      } else {
        re += "[^/]*";
      }
    } else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const close = glob.indexOf("]", i + 1);
      if (close < 0) re += "\\[";
      else {
        re += `[${glob.slice(i + 1, close).replace(/^!/, "^").replace(/\\/g, "\\\\")}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

const reason = (error: unknown): string => {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ELOOP") return "too many levels of symbolic links (a symlink loop)";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "ENOENT") return "no such file or directory";
  return (error as Error).message;
};

/**
 * Expands `--scan` arguments: a file, a directory (walked recursively, symlinks
 * followed, each real directory visited once so loops end), or a glob. Entries
 * come back sorted by path; what cannot be walked comes back with its reason.
 */
export async function scanPaths(args: readonly string[]): Promise<ScanEntry[]> {
  const out: ScanEntry[] = [];
  const seenFiles = new Set<string>();
  for (const arg of args) {
    const { root, glob } = scanRoot(arg);
    const matcher = glob ? globToRegex(resolve(arg)) : undefined;
    const visitedDirs = new Set<string>();
    const found = new EntryList();

    // Synchronous calls: a scan is thousands of tiny directory and stat calls, and a
    // thread-pool round trip for each costs more than the call itself.
    const walkDir = (path: string): void => {
      let real: string;
      let entries: Dirent[];
      try {
        real = realpathSync(path);
        if (visitedDirs.has(real)) return; // a symlink back up the tree: walked already
        visitedDirs.add(real);
        entries = readdirSync(path, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      } catch (error) {
        found.push({ path, error: reason(error) });
        return;
      }
      // path.join() builds each path out of many slices that stay referenced (about 500 bytes a
      // path on Node 20); for a normalized folder and a name from readdir (no slash, never . or ..)
      // the concatenation is what it returns. `prefix + name` would be a cons string (a pair of
      // pointers, 32 bytes, holding the name's own string) that the first system call given the
      // path flattens into a third string, kept as long as the path; [prefix, name].join("") is
      // the one flat string at once (about 80 bytes for a 60-character path, against 140).
      const prefix = path !== "." && path !== sep && normalize(path) === path ? `${path}${sep}` : undefined;
      for (const e of entries) {
        const child = prefix === undefined ? join(path, e.name) : [prefix, e.name].join("");
        if (e.isDirectory()) {
          // kpki's pair store holds the same certificates again (see pair-writer.ts)
          if (e.name !== PAIR_STORE_DIR) walkDir(child);
        }
        else if (e.isFile()) addFile(child, false);
        else if (e.isSymbolicLink()) walk(child, false);
      }
    };
    const addFile = (path: string, explicit: boolean): void => {
      if (matcher && !matcher.test(resolve(path))) return;
      found.push(explicit && !matcher ? { path, explicit: true } : new WalkedFile(path));
    };
    const walk = (path: string, explicit: boolean): void => {
      let stat;
      try {
        stat = statSync(path);
      } catch (error) {
        if (explicit || (error as NodeJS.ErrnoException).code === "ELOOP") found.push({ path, error: reason(error) });
        return;
      }
      if (stat.isDirectory()) walkDir(path);
      else if (stat.isFile()) addFile(path, explicit);
      // sockets, devices and the like are passed over
    };

    walk(root.endsWith(sep) && root.length > 1 ? root.slice(0, -1) : root, matcher === undefined);
    if (matcher && found.length === 0) out.push({ path: arg, error: "no file matches this pattern" });
    // One argument cannot name a file twice: each real directory is walked once, and names in it are unique.
    if (args.length === 1 && out.length === 0) return found.toArray();
    for (const entry of found.toArray()) {
      const key = resolve(entry.path);
      if (seenFiles.has(key)) continue;
      seenFiles.add(key);
      out.push(entry);
    }
  }
  return out;
}
