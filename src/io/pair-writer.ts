import { constants, promises as fs } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { PkiError } from "../errors.js";
import type { StagedChange } from "../renew/renew.js";
import { fsyncPath, ioError } from "./fs-store.js";
import { checkInterrupted, registerTemporary, removeStaleTemporaries, temporaryName, tracked } from "./temporaries.js";

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
 * through a generation that holds the old pair (hard links to the old files,
 * so no space is needed and a roll-back puts the very same files back), so at
 * every moment the two paths name the old pair or the new one, never one of each.
 * Readers (kube-apiserver, etcd, kubeadm, kpki) follow symlinks.
 *
 * A replacement is staged first (stagePair): every byte of the new generation is
 * written and flushed under temporary names, and every symlink the switch and a
 * roll-back need is made ready, while the two paths still read the old pair. The
 * switch and the roll-back are then renames only, which need no free space, so a
 * full disk fails at staging, when nothing has changed yet.
 */

const STORE = ".kpki";
/** A generation folder's name: `<UTC stamp>-<6 hex>`; only such names are ever pruned. */
const GENERATION = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

async function writeSynced(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const handle = await fs.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const stamp = (now: Date): string => now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
const generationName = (now: Date): string => `${stamp(now)}-${Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(3))).toString("hex")}`;

async function modeOf(path: string, fallback: number): Promise<number> {
  try {
    return (await fs.stat(path)).mode & 0o777;
  } catch {
    return fallback;
  }
}

/**
 * Gives `from` a second name `to` without copying it (a hard link; of the symlink itself when `from`
 * is one and `copySymlink` is false), or, where a hard link is not possible (another file system, a
 * link-protected file) or `from` is a symlink to be copied, a flushed copy of its content with its mode.
 */
async function keepOld(from: string, to: string, copySymlink: boolean): Promise<void> {
  const st = await fs.lstat(from);
  if (!(st.isSymbolicLink() && copySymlink)) {
    try {
      await fs.link(from, to);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "EXDEV" && code !== "EPERM" && code !== "EMLINK") throw error;
    }
  }
  await writeSynced(to, await fs.readFile(from), (await fs.stat(from)).mode & 0o777);
}

/** One step of a switch: a single rename or unlink, and how to undo it. */
interface Step {
  readonly run: () => Promise<void>;
  readonly undo: () => Promise<void>;
}

/**
 * The temporaries of one staged change: registered for SIGINT/SIGTERM, removed by `discard` or
 * `commit`, or released when a switch step renames one to its real name.
 */
class Temporaries {
  private readonly live = new Map<string, () => void>();
  add(path: string): string {
    this.live.set(path, registerTemporary(path));
    return path;
  }
  release(path: string): void {
    this.live.get(path)?.();
    this.live.delete(path);
  }
  async removeAll(): Promise<void> {
    for (const path of [...this.live.keys()].reverse()) {
      await fs.rm(path, { recursive: true, force: true });
      this.release(path);
    }
  }
}

/**
 * The step that renames `fresh` over `target` (flushing `dir`), undone by renaming `old` back over
 * it, or by unlinking `target` when there was nothing before. Both are one rename: no space needed.
 */
function renameStep(tmps: Temporaries, fresh: string, target: string, old: string | undefined, dir: string): Step {
  return {
    run: async () => {
      await fs.rename(fresh, target);
      tmps.release(fresh);
      await fsyncPath(dir);
    },
    undo: async () => {
      if (old === undefined) await fs.unlink(target);
      else {
        await fs.rename(old, target);
        tmps.release(old);
      }
      await fsyncPath(dir);
    },
  };
}

/**
 * A change made of steps, each of which can be undone; see StagedChange. `created` are the folders
 * staging made (outermost first), removed by `discard` when empty; `afterCommit` prunes.
 */
function change(what: string, steps: readonly Step[], temporaries: Temporaries, created: readonly string[], afterCommit: () => Promise<void>): StagedChange {
  let done = 0;
  return {
    switch: () =>
      tracked(async () => {
        try {
          for (; done < steps.length; done++) await steps[done]!.run();
        } catch (error) {
          throw ioError(`cannot switch ${what} to the new one`, error);
        }
      }),
    rollBack: () =>
      tracked(async () => {
        try {
          // In reverse, stopping at the first failure: every step boundary is a consistent state.
          for (; done > 0; done--) await steps[done - 1]!.undo();
        } catch (error) {
          throw ioError(`cannot switch ${what} back`, error);
        }
      }),
    discard: () =>
      tracked(async () => {
        if (done > 0) throw new PkiError("io", `${what} is switched; roll it back before discarding`);
        try {
          await temporaries.removeAll();
          for (const dir of [...created].reverse()) await fs.rmdir(dir).catch(() => undefined);
        } catch (error) {
          throw ioError(`cannot remove what was staged for ${what}`, error);
        }
      }),
    commit: () =>
      tracked(async () => {
        await temporaries.removeAll();
        await afterCommit();
      }),
  };
}

/** mkdir that records the folder when it did not exist before. */
async function mkdirRecorded(dir: string, created: string[]): Promise<void> {
  try {
    await fs.mkdir(dir, { mode: 0o755 });
    created.push(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
}

/**
 * Stages the replacement of `keyPath` and `certPath` (same folder) with new contents, changing
 * nothing any reader sees. The returned change's `switch` makes the new pair current (renames only;
 * readers see the old pair or the new at every moment), `rollBack` puts the old pair back, also as
 * the same regular files when the switch converted them to links, `discard` removes what was staged,
 * and `commit` removes generations older than the previous one. The new files keep the old files' modes.
 */
export function stagePair(keyPath: string, certPath: string, keyPem: string, certPem: string, now: Date): Promise<StagedChange> {
  const dir = dirname(certPath);
  if (dirname(keyPath) !== dir) return Promise.reject(new PkiError("invalid-input", `${keyPath} and ${certPath} must be in one folder`));
  const keyName = basename(keyPath);
  const certName = basename(certPath);
  const stem = certName.replace(/\.crt$/, "");
  const store = join(dir, STORE);
  const base = join(store, stem);
  const current = join(base, "current");
  const linkTarget = (name: string): string => join(STORE, stem, "current", name);
  const tmps = new Temporaries();
  const created: string[] = [];
  return tracked(async () => {
    try {
      removeStaleTemporaries(dir);
      const keyMode = await modeOf(keyPath, 0o600);
      const certMode = await modeOf(certPath, 0o644);
      await mkdirRecorded(store, created);
      await mkdirRecorded(base, created);
      removeStaleTemporaries(base);
      const linked = async (path: string, name: string): Promise<boolean> => {
        try {
          return (await fs.readlink(path)) === linkTarget(name);
        } catch {
          return false;
        }
      };
      const converted = (await linked(keyPath, keyName)) && (await linked(certPath, certName));
      const oldCurrent = await fs.readlink(current).catch(() => undefined);
      if (converted && oldCurrent === undefined) throw new PkiError("io", `${current} is missing`);
      const symlinkTmp = async (where: string, name: string, target: string): Promise<string> => {
        const tmp = tmps.add(temporaryName(where, name));
        await fs.symlink(target, tmp);
        return tmp;
      };
      /** Points `current` at what `tmpLink` names; undone through `restore` (a link made now) or by unlinking. */
      const currentStep = async (tmpLink: string, before: string | undefined): Promise<Step> => {
        const restore = before === undefined ? undefined : await symlinkTmp(base, "current", before);
        return renameStep(tmps, tmpLink, current, restore, base);
      };
      /**
       * Renames a staged folder to its generation name; undone by renaming it back, so that it is
       * a temporary again and `discard` removes it (with whatever hard links to the old files it
       * still holds; once the conversion is undone those are back at their own names).
       */
      const generationStep = (tmpDir: string, gen: string): Step => ({
        run: async () => {
          await fs.rename(tmpDir, join(base, gen));
          tmps.release(tmpDir);
        },
        undo: async () => {
          tmps.add(tmpDir);
          await fs.rename(join(base, gen), tmpDir);
        },
      });
      /** The key's path, then the certificate's, swapped for their links through `current`; `undo` puts back what was there. */
      const linkSteps = async (undo: (path: string, name: string) => Promise<void>): Promise<Step[]> => {
        const out: Step[] = [];
        for (const [path, name] of [[keyPath, keyName], [certPath, certName]] as const) {
          const link = await symlinkTmp(dir, name, linkTarget(name));
          out.push({
            run: async () => {
              await fs.rename(link, path);
              tmps.release(link);
              await fsyncPath(dir);
            },
            undo: async () => {
              await undo(path, name);
              await fsyncPath(dir);
            },
          });
        }
        return out;
      };
      const steps: Step[] = [];
      let previous = oldCurrent;
      // A new pair (no certificate yet; a key alone is what an interrupted creation leaves): the two
      // links are made after the generation, the key's first, so the certificate appears last.
      const fresh = !converted && !(await exists(certPath));
      if (fresh) {
        const gen = generationName(now);
        const genTmp = tmps.add(temporaryName(base, gen));
        await fs.mkdir(genTmp, { mode: 0o755 });
        await writeSynced(join(genTmp, keyName), keyPem, 0o600);
        await writeSynced(join(genTmp, certName), certPem, 0o644);
        await fsyncPath(genTmp);
        steps.push(generationStep(genTmp, gen));
        steps.push(await currentStep(await symlinkTmp(base, "current", gen), oldCurrent));
        steps.push(...(await linkSteps((path) => fs.unlink(path))));
        await fsyncPath(base);
        await fsyncPath(dir);
        return change(certPath, steps, tmps, created, async () => undefined);
      }
      if (!converted) {
        // Conversion: a generation holding the old files, `current` at it, then each path swapped
        // for a link that resolves to the same old content.
        const gen0 = generationName(new Date(now.getTime() - 1000));
        const gen0Tmp = tmps.add(temporaryName(base, gen0));
        await fs.mkdir(gen0Tmp, { mode: 0o755 });
        await keepOld(keyPath, join(gen0Tmp, keyName), true); // a link of the operator's own would not resolve from there
        await keepOld(certPath, join(gen0Tmp, certName), true);
        await fsyncPath(gen0Tmp);
        steps.push(generationStep(gen0Tmp, gen0));
        steps.push(await currentStep(await symlinkTmp(base, "current", gen0), oldCurrent));
        // The old file itself (or its copy) goes back to its own name.
        steps.push(...(await linkSteps((path, name) => fs.rename(join(base, gen0, name), path))));
        previous = gen0;
      }
      checkInterrupted();
      const gen = generationName(now);
      const genTmp = tmps.add(temporaryName(base, gen));
      await fs.mkdir(genTmp, { mode: 0o755 });
      await writeSynced(join(genTmp, keyName), keyPem, keyMode);
      await writeSynced(join(genTmp, certName), certPem, certMode);
      await fsyncPath(genTmp);
      steps.push(generationStep(genTmp, gen));
      steps.push(await currentStep(await symlinkTmp(base, "current", gen), previous)); // the one step readers notice
      await fsyncPath(base);
      await fsyncPath(dir);
      const prune = async (): Promise<void> => {
        for (const old of await fs.readdir(base)) {
          if (!GENERATION.test(old) || old === gen || old === previous) continue;
          await fs.rm(join(base, old), { recursive: true, force: true });
        }
      };
      return change(certPath, steps, tmps, created, prune);
    } catch (error) {
      await tmps.removeAll().catch(() => undefined);
      for (const d of created.reverse()) await fs.rmdir(d).catch(() => undefined);
      throw ioError(`cannot write the new ${certPath} and ${keyName}`, error);
    }
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await fs.stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

/**
 * Removes what interrupted runs (their processes gone) left beside each path and in its pair store:
 * a run that finds a file already replaced does not stage it again, so nothing else would.
 */
export function tidy(paths: readonly string[]): Promise<void> {
  return tracked(async () => {
    for (const path of paths) {
      const dir = dirname(path);
      removeStaleTemporaries(dir);
      removeStaleTemporaries(join(dir, STORE, basename(path).replace(/\.(crt|key)$/, "")));
    }
  });
}

/**
 * Removes a pair that stagePair wrote or that is two regular files: the certificate first (a key
 * alone is not a pair), then the key, then the pair's generations. Missing files are no error.
 */
export function removePair(keyPath: string, certPath: string): Promise<void> {
  const dir = dirname(certPath);
  const stem = basename(certPath).replace(/\.crt$/, "");
  return tracked(async () => {
    try {
      for (const path of [certPath, keyPath]) {
        await fs.rm(path, { force: true });
        await fsyncPath(dir);
      }
      await fs.rm(join(dir, STORE, stem), { recursive: true, force: true });
      await fs.rmdir(join(dir, STORE)).catch(() => undefined);
    } catch (error) {
      throw ioError(`cannot remove ${certPath} and ${basename(keyPath)}`, error);
    }
  });
}

/**
 * Stages the replacement of one file (a kubeconfig) with `data`, keeping its mode: the new content
 * is written and flushed under a temporary name and the old file gets a second, temporary name (a
 * hard link), so that the switch and the roll-back are one rename each.
 */
export function stageFile(path: string, data: string): Promise<StagedChange> {
  const dir = dirname(path);
  const name = basename(path);
  const tmps = new Temporaries();
  return tracked(async () => {
    try {
      removeStaleTemporaries(dir);
      const mode = await modeOf(path, 0o600);
      const fresh = tmps.add(temporaryName(dir, name));
      await writeSynced(fresh, data, mode);
      let old: string | undefined = tmps.add(temporaryName(dir, name));
      try {
        await keepOld(path, old, false);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
        tmps.release(old);
        old = undefined;
      }
      await fsyncPath(dir);
      const step = renameStep(tmps, fresh, path, old, dir);
      return change(path, [step], tmps, [], async () => undefined);
    } catch (error) {
      await tmps.removeAll().catch(() => undefined);
      throw ioError(`cannot write the new ${path}`, error);
    }
  });
}

/**
 * Stages a new certificate-and-key file for a name the kubelet keeps as a symlink
 * (`kubelet-client-current.pem -> kubelet-client-2026-11-30-23-30-00.pem`,
 * pkg/kubelet/certificate's certificate store): the new file gets the kubelet's own kind of name and
 * the switch swaps the link with one rename. A regular file is replaced as stageFile does.
 */
export function stageKubeletPem(currentPath: string, data: string, now: Date): Promise<StagedChange> {
  return tracked(async () => {
    let target: string;
    try {
      target = await fs.readlink(currentPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EINVAL") return stageFile(currentPath, data);
      throw ioError(`cannot read ${currentPath}`, error);
    }
    const dir = dirname(currentPath);
    const name = basename(currentPath);
    const tmps = new Temporaries();
    try {
      removeStaleTemporaries(dir);
      const prefix = name.replace(/-current\.pem$/, "");
      const p2 = (n: number): string => String(n).padStart(2, "0");
      const stampText = `${now.getUTCFullYear()}-${p2(now.getUTCMonth() + 1)}-${p2(now.getUTCDate())}-${p2(now.getUTCHours())}-${p2(now.getUTCMinutes())}-${p2(now.getUTCSeconds())}`;
      // The kubelet's names have whole seconds; a run again within the same second takes a suffix.
      const targetDir = dirname(resolve(dir, target)); // the kubelet links with an absolute path
      let fileName = `${prefix}-${stampText}.pem`;
      for (let n = 1; await exists(join(targetDir, fileName)); n++) fileName = `${prefix}-${stampText}-${n}.pem`;
      const file = join(targetDir, fileName);
      const fresh = tmps.add(temporaryName(dir, fileName));
      await writeSynced(fresh, data, 0o600);
      const link = tmps.add(temporaryName(dir, name));
      await fs.symlink(target.includes("/") ? join(dirname(target), fileName) : fileName, link);
      const restore = tmps.add(temporaryName(dir, name));
      await fs.symlink(target, restore);
      await fsyncPath(dir);
      const steps: Step[] = [
        {
          run: async () => {
            await fs.link(fresh, file);
            await fsyncPath(dirname(file));
          },
          undo: async () => {
            await fs.unlink(file);
          },
        },
        renameStep(tmps, link, currentPath, restore, dir),
      ];
      return change(currentPath, steps, tmps, [], async () => undefined);
    } catch (error) {
      await tmps.removeAll().catch(() => undefined);
      throw ioError(`cannot write the new ${currentPath}`, error);
    }
  });
}

/** The folder name kpki's pair store uses; scans skip it (its files are the same certificates again). */
export const PAIR_STORE_DIR = STORE;
