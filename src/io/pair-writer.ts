import { randomBytes } from "node:crypto";
import { constants, promises as fs } from "node:fs";
import { basename, dirname, join } from "node:path";
import { PkiError } from "../errors.js";

/**
 * Replacing a certificate and its key as one step. Two renames can never be
 * atomic together, so the pair lives in a generation folder and both files
 * are symlinks through one `current` link, the pattern Kubernetes' own
 * AtomicWriter uses for secret volumes (pkg/volume/util/atomic_writer.go):
 *
 *   pki/apiserver.crt -> .kpki/apiserver/current/apiserver.crt
 *   pki/apiserver.key -> .kpki/apiserver/current/apiserver.key
 *   pki/.kpki/apiserver/current -> 20261126T015300Z-1a2b3c   (swapped with one rename)
 *
 * The first replacement converts the two regular files into those links
 * through a generation that holds copies of the old pair, so at every moment
 * the two paths name the old pair or the new one, never one of each. Readers
 * (kube-apiserver, etcd, kubeadm, kpki) follow symlinks.
 */

const STORE = ".kpki";

async function fsyncPath(path: string, flags = constants.O_RDONLY): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(path, flags);
    await handle.sync();
  } catch {
    // some file systems refuse fsync on directories; the renames are still atomic
  } finally {
    await handle?.close();
  }
}

async function writeSynced(path: string, data: string, mode: number): Promise<void> {
  const handle = await fs.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Points `link` at `target` atomically: a temporary symlink renamed over it. */
async function swapSymlink(link: string, target: string): Promise<void> {
  const tmp = join(dirname(link), `.${basename(link)}.kpki-${randomBytes(6).toString("hex")}.tmp`);
  await fs.symlink(target, tmp);
  await fs.rename(tmp, link);
  await fsyncPath(dirname(link));
}

const stamp = (now: Date): string => now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");

async function modeOf(path: string, fallback: number): Promise<number> {
  try {
    return (await fs.stat(path)).mode & 0o777;
  } catch {
    return fallback;
  }
}

/** Writes a new generation folder with the pair, flushed; returns its name. */
async function writeGeneration(base: string, files: { name: string; data: string; mode: number }[], now: Date): Promise<string> {
  const gen = `${stamp(now)}-${randomBytes(3).toString("hex")}`;
  const dir = join(base, gen);
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  for (const f of files) await writeSynced(join(dir, f.name), f.data, f.mode);
  await fsyncPath(dir);
  await fsyncPath(base);
  return gen;
}

/**
 * Replaces `keyPath` and `certPath` (same folder) with new contents so that an
 * interruption at any moment leaves the old pair or the new pair. The new files
 * keep the old files' modes. Generations older than the previous one are removed.
 */
export async function replacePair(keyPath: string, certPath: string, keyPem: string, certPem: string, now: Date): Promise<void> {
  const dir = dirname(certPath);
  if (dirname(keyPath) !== dir) throw new PkiError("invalid-input", `${keyPath} and ${certPath} must be in one folder`);
  const keyName = basename(keyPath);
  const certName = basename(certPath);
  const stem = certName.replace(/\.crt$/, "");
  const base = join(dir, STORE, stem);
  const current = join(base, "current");
  const linkTarget = (name: string): string => join(STORE, stem, "current", name);
  try {
    const keyMode = await modeOf(keyPath, 0o600);
    const certMode = await modeOf(certPath, 0o644);
    await fs.mkdir(base, { recursive: true, mode: 0o755 });
    const linked = async (path: string, name: string): Promise<boolean> => {
      try {
        return (await fs.readlink(path)) === linkTarget(name);
      } catch {
        return false;
      }
    };
    if (!(await linked(keyPath, keyName)) || !(await linked(certPath, certName))) {
      // Conversion: a generation with the old pair, `current` at it, then each path swapped for
      // a link that resolves to the same old content.
      const [oldKey, oldCert] = await Promise.all([fs.readFile(keyPath, "utf8"), fs.readFile(certPath, "utf8")]);
      const gen0 = await writeGeneration(base, [
        { name: keyName, data: oldKey, mode: keyMode },
        { name: certName, data: oldCert, mode: certMode },
      ], new Date(now.getTime() - 1000));
      await swapSymlink(current, gen0);
      await swapSymlink(keyPath, linkTarget(keyName));
      await swapSymlink(certPath, linkTarget(certName));
    }
    const gen = await writeGeneration(base, [
      { name: keyName, data: keyPem, mode: keyMode },
      { name: certName, data: certPem, mode: certMode },
    ], now);
    const previous = await fs.readlink(current).catch(() => undefined);
    await swapSymlink(current, gen); // the one atomic step
    for (const old of await fs.readdir(base)) {
      if (old === "current" || old === gen || old === previous) continue;
      await fs.rm(join(base, old), { recursive: true, force: true });
    }
  } catch (error) {
    if (error instanceof PkiError) throw error;
    throw new PkiError("io", `cannot replace ${certPath} and ${keyPath}: ${(error as Error).message}`, { cause: error });
  }
}

/** The folder name kpki's pair store uses; scans skip it (its files are the same certificates again). */
export const PAIR_STORE_DIR = STORE;
