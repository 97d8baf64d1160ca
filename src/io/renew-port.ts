import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import { dirname, join } from "node:path";
import { PkiError } from "../errors.js";
import type { RenewPort } from "../renew/renew.js";
import { readFileIfExists, writeFileAtomic } from "./fs-store.js";
import { replacePair } from "./pair-writer.js";

/** RenewPort on the local file system. `now` names new pair generations. */
export function fsRenewPort(now: Date): RenewPort {
  return {
    read: readFileIfExists,
    replacePair: (keyPath, certPath, keyPem, certPem) => replacePair(keyPath, certPath, keyPem, certPem, now),
    replaceFile: async (path, data) => {
      const mode = (await fs.stat(path).catch(() => undefined))?.mode ?? 0o600;
      await writeFileAtomic(path, data, mode & 0o777);
    },
    checkWritable: async (dir) => {
      const probe = join(dir, `.kpki-probe-${randomBytes(4).toString("hex")}`);
      try {
        await fs.writeFile(probe, "", { flag: "wx", mode: 0o600 });
        await fs.rm(probe, { force: true });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const why = code === "EACCES" || code === "EPERM" ? "permission denied" : code === "EROFS" ? "read-only file system" : (error as Error).message;
        throw new PkiError("io", `cannot write in ${dir}: ${why}; nothing was changed`, { cause: error });
      }
    },
    backup: async (dir, files) => {
      try {
        await fs.mkdir(dirname(dir), { recursive: true });
        await fs.mkdir(dir, { mode: 0o700 }); // fails if it exists: a backup is never mixed with another
      } catch (error) {
        const exists = (error as NodeJS.ErrnoException).code === "EEXIST";
        throw new PkiError("io", `cannot create backup folder ${dir}: ${exists ? "it already exists" : (error as Error).message}`, { cause: error });
      }
      for (const f of files) {
        const mode = (await fs.stat(f.from)).mode & 0o777; // follows kpki's pair links to the real file
        await writeFileAtomic(join(dir, f.to), await fs.readFile(f.from, "utf8"), mode);
      }
    },
  };
}
