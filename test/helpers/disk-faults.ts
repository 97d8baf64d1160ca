import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCi } from "./testenv.js";

/**
 * Real disk faults for the write tests: a tiny tmpfs (ENOSPC) and immutable folders (chattr +i,
 * which stops root too; EPERM). Both need root, mount and chattr.
 */

/** Why the root-only tests cannot run here, or undefined. Under CI=true a missing capability throws. */
export function rootFaultsUnavailable(): string | undefined {
  const why = ((): string | undefined => {
    if (process.getuid?.() !== 0) return "not root (mount and chattr +i need it)";
    const probe = mkdtempSync(join(tmpdir(), "kpki-probe-"));
    const mnt = join(probe, "m");
    mkdirSync(mnt);
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=16k", "tmpfs", mnt], { stdio: "pipe" });
      execFileSync("umount", [mnt], { stdio: "pipe" });
      execFileSync("chattr", ["+i", mnt], { stdio: "pipe" });
      execFileSync("chattr", ["-i", mnt], { stdio: "pipe" });
      return undefined;
    } catch (error) {
      return `mount -t tmpfs or chattr +i failed (${(error as Error).message.split("\n")[0]})`;
    } finally {
      try {
        execFileSync("umount", [mnt], { stdio: "ignore" });
      } catch {
        // not mounted
      }
      try {
        execFileSync("chattr", ["-i", mnt], { stdio: "ignore" });
      } catch {
        // not immutable
      }
      rmSync(probe, { recursive: true, force: true });
    }
  })();
  if (why === undefined) return undefined;
  if (isCi()) throw new Error(`CI=true but ${why}`);
  console.warn(`SKIP: ${why}`);
  return why;
}

/** Mounts a tmpfs of `size` (mount's syntax: `256k`) on the existing folder `dir`. */
export const mountTmpfs = (dir: string, size: string): void =>
  void execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", dir], { stdio: "pipe" });

/** Unmounts `dir` if something is mounted there; never throws (for finally/afterAll). */
export function unmount(dir: string): void {
  try {
    execFileSync("umount", [dir], { stdio: "ignore" });
  } catch {
    // not mounted
  }
}

/** chattr +i / -i; `-i` never throws (for finally/afterAll). */
export function chattr(flag: "+i" | "-i", path: string): void {
  if (flag === "+i") execFileSync("chattr", ["+i", path], { stdio: "pipe" });
  else {
    try {
      execFileSync("chattr", ["-i", path], { stdio: "ignore" });
    } catch {
      // gone or never set
    }
  }
}

/**
 * Everything under `dir`, by relative path: each folder's mode, each symlink's target, each file's
 * mode and a hash of its bytes. Two equal snapshots mean nothing was changed, created or removed.
 */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of readdirSync(dir, { recursive: true, encoding: "utf8" }).sort()) {
    const path = join(dir, rel);
    const st = lstatSync(path);
    if (st.isSymbolicLink()) out[rel] = `link ${readlinkSync(path)}`;
    else if (st.isDirectory()) out[rel] = `dir ${(st.mode & 0o7777).toString(8)}`;
    else out[rel] = `file ${(st.mode & 0o7777).toString(8)} ${createHash("sha256").update(readFileSync(path)).digest("hex")}`;
  }
  return out;
}

/** kpki's temporary names (`.NAME.kpki-<pid>-<random>.tmp`, files or folders) anywhere under `dir`. */
export const temporariesUnder = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => /(^|\/)\.[^/]*\.kpki-\d+-[0-9a-f]+\.tmp$/.test(f));
