import { constants, promises as fs } from "node:fs";
import { basename, dirname, join } from "node:path";
import { PkiError } from "../errors.js";
import type { BackupCopy } from "../renew/renew.js";
import type { RotatePort } from "../rotate/rotate.js";
import { checkWritable, errnoText, fsyncPath, ioError, readFileIfExists } from "./fs-store.js";
import { removePair, stageFile, stageKubeletPem, stagePair, tidy } from "./pair-writer.js";
import { checkInterrupted, critically, registerTemporary, removeStaleTemporaries, takeLock, temporaryName, tracked } from "./temporaries.js";

/** The nearest folder above `dir` (or `dir` itself) that exists, and the first missing one below it. */
async function firstMissing(dir: string): Promise<string | undefined> {
  let missing: string | undefined;
  for (let at = dir; ; at = dirname(at)) {
    try {
      await fs.stat(at);
      return missing;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      missing = at;
      if (dirname(at) === at) return missing;
    }
  }
}

/**
 * Copies `files` into the new folder `dir`, all or nothing: the copy is written and flushed in a
 * temporary folder beside it (`.<name>.kpki-<pid>-<random>.tmp`, removed on SIGINT/SIGTERM and by
 * the next run if this one is killed) and renamed to `dir` once complete. If it cannot be completed
 * (ENOSPC, EDQUOT, ...) the partial copy, and any parent folder made for it, are removed before this
 * throws, so a retry on a full disk does not leave one partial backup per attempt. The finished
 * copy stays registered as a temporary until `keep()`: an interruption before the first switch
 * leaves no backup of files that did not change.
 */
async function backup(dir: string, files: readonly { from: string; to: string }[]): Promise<BackupCopy> {
  const target = dir.replace(/\/+$/, "") || dir;
  const parent = dirname(target);
  return tracked(async () => {
    const exists = await fs.lstat(target).then(() => true, (error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return false;
      throw ioError(`cannot write the backup ${target}`, error);
    });
    if (exists) throw new PkiError("io", `cannot write the backup ${target}: it already exists (a backup is never mixed with another)`);
    let madeParent: string | undefined;
    try {
      madeParent = await firstMissing(parent);
      await fs.mkdir(parent, { recursive: true, mode: 0o755 });
    } catch (error) {
      throw ioError(`cannot create the folder ${parent} for the backup`, error);
    }
    removeStaleTemporaries(parent);
    const tmp = temporaryName(parent, basename(target));
    let release = registerTemporary(tmp);
    try {
      await fs.mkdir(tmp, { mode: 0o700 });
      const made = new Set<string>([tmp]);
      for (const f of files) {
        checkInterrupted();
        const to = join(tmp, f.to);
        const sub = dirname(to);
        if (!made.has(sub)) {
          await fs.mkdir(sub, { recursive: true, mode: 0o700 });
          made.add(sub);
        }
        const mode = (await fs.stat(f.from)).mode & 0o777; // follows kpki's pair links to the real file
        const handle = await fs.open(to, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
        try {
          await handle.writeFile(await fs.readFile(f.from));
          await handle.chmod(mode);
          await handle.sync();
        } finally {
          await handle.close();
        }
      }
      for (const d of [...made].reverse()) await fsyncPath(d);
      // The finished copy appears under its name in one step; it stays a temporary until keep().
      const releaseTarget = registerTemporary(target);
      try {
        await fs.rename(tmp, target);
      } catch (error) {
        releaseTarget();
        throw error;
      }
      release();
      release = releaseTarget;
      await fsyncPath(parent);
    } catch (error) {
      await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      if (madeParent !== undefined) await fs.rm(madeParent, { recursive: true, force: true }).catch(() => undefined);
      release();
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EEXIST" || code === "ENOTEMPTY") throw new PkiError("io", `cannot write the backup ${target}: it already exists (a backup is never mixed with another)`, { cause: error });
      throw new PkiError("io", `cannot write the backup ${target}: ${errnoText(error)}; the partial copy was removed`, { cause: error });
    }
    return {
      keep: () => release(),
      remove: async () => {
        await fs.rm(target, { recursive: true, force: true }).catch((error: unknown) => {
          throw ioError(`cannot remove ${target}`, error);
        });
        if (madeParent !== undefined) await fs.rm(madeParent, { recursive: true, force: true }).catch(() => undefined);
        release();
      },
    };
  });
}

/** The port of `certs renew` and `ca rotate` on the local file system. `now` names new pair generations. */
export function fsRenewPort(now: Date): RotatePort {
  return {
    removePair,
    tidy,
    stageKubeletPem: (path, data) => stageKubeletPem(path, data, now),
    lock: (path, what) => takeLock(path, what),
    read: readFileIfExists,
    checkWritable,
    backup,
    stagePair: (keyPath, certPath, keyPem, certPem) => stagePair(keyPath, certPath, keyPem, certPem, now),
    stageFile,
    uninterruptible: critically,
  };
}
