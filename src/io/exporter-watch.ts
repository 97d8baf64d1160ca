import { existsSync, statSync, watch, type FSWatcher } from "node:fs";
import { dirname } from "node:path";
import { scanRoot } from "./scan.js";

/** A folder to watch, and whether its subfolders too. */
export interface WatchedFolder {
  readonly path: string;
  readonly recursive: boolean;
}

/**
 * The folders whose changes can change what `paths` hold: a folder itself (with its subfolders when
 * `recursive`), a file's folder (kubelet-client-current.pem and a mounted Secret's `..data` are
 * replaced by a rename in their folder), a glob's folder before its first wildcard (with its
 * subfolders). Folders that do not exist are left out: the periodic re-read finds them once made.
 */
export function foldersToWatch(paths: readonly { readonly path: string; readonly recursive: boolean }[]): WatchedFolder[] {
  const byPath = new Map<string, boolean>();
  const add = (path: string, recursive: boolean): void => {
    if (!existsSync(path)) return;
    byPath.set(path, (byPath.get(path) ?? false) || recursive);
  };
  for (const { path, recursive } of paths) {
    const { root, glob } = scanRoot(path);
    if (glob) {
      add(root, true);
      continue;
    }
    let folder = false;
    try {
      folder = statSync(path).isDirectory();
    } catch {
      // not there (yet): its folder is watched, below
    }
    add(folder ? path : dirname(path), folder && recursive);
  }
  return [...byPath].map(([path, recursive]) => ({ path, recursive }));
}

/**
 * Calls `onChange` after something changes in one of the folders (node:fs's watch: inotify on Linux;
 * with `recursive`, one watch per subfolder). Events come in bursts (a renewal writes two files, a
 * rename is two events), so `onChange` runs once `settleMs` have passed without another one.
 */
export function watchFolders(folders: readonly WatchedFolder[], onChange: () => void, settleMs = 100): { readonly close: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const changed = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      onChange();
    }, settleMs);
  };
  const watchers: FSWatcher[] = [];
  for (const f of folders) {
    try {
      const w = watch(f.path, { recursive: f.recursive, persistent: false }, changed);
      // A watched folder that goes away (or a watch the kernel refuses) leaves the periodic re-read.
      w.on("error", () => w.close());
      watchers.push(w);
    } catch {
      // no watch for this folder (too many watches, no permission): the periodic re-read covers it
    }
  }
  return {
    close: () => {
      if (timer !== undefined) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
