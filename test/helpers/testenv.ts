import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { staleBinaryReason } from "../../scripts/binary-state.js";

/** The cache scripts/setup-testenv.sh fills (same path rule as the script's header). */
export const testenvDir = (): string =>
  process.env["KPKI_TESTENV"] || join(process.env["XDG_CACHE_HOME"] || join(homedir(), ".cache"), "kpki-testenv");

/** The path of a real program, from the testenv cache or PATH; undefined when absent. */
export function findBinary(name: string): string | undefined {
  const cached = join(testenvDir(), "bin", name);
  if (existsSync(cached)) return cached;
  try {
    const found = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
    return found || undefined;
  } catch {
    return undefined;
  }
}

/** Under CI=true a missing real peer is a failure, never a skip (DEVELOPERS.md). */
export const isCi = (): boolean => process.env["CI"] === "true";

/**
 * The reason to skip a test that needs `names`, or undefined when all are there.
 * Throws under CI, where every real peer must be present.
 */
export function missingBinaries(...names: string[]): string | undefined {
  const missing = names.filter((n) => !findBinary(n));
  if (!missing.length) return undefined;
  const reason = `missing real peer(s): ${missing.join(", ")} (run scripts/setup-testenv.sh)`;
  if (isCi()) throw new Error(`CI=true but ${reason}`);
  console.warn(`SKIP: ${reason}`);
  return reason;
}

/** The repository's root folder. */
const REPO = resolve(import.meta.dirname, "../..");

/** Debian's CNI plugins (package containernetworking-plugins, installed by scripts/setup-testenv.sh). */
export const CNI_BIN_DIR = "/usr/lib/cni";

/** The pause image scripts/setup-testenv.sh built and saved (an OCI archive, and the name it carries), or undefined. */
export function pauseImage(): { readonly archive: string; readonly name: string } | undefined {
  const archive = join(testenvDir(), "images", "pause.oci.tar");
  const nameFile = join(testenvDir(), "images", "pause.name");
  if (!existsSync(archive) || !existsSync(nameFile)) return undefined;
  return { archive, name: readFileSync(nameFile, "utf8").trim() };
}

/**
 * The single executable: $KPKI_BINARY if set, else dist/kpki. When dist/kpki is missing,
 * `npm run build:binary` makes it, under a lock in the testenv cache so that test files started
 * together build it once.
 */
export function kpkiBinary(): string {
  const given = process.env["KPKI_BINARY"];
  if (given) {
    if (!existsSync(given)) throw new Error(`KPKI_BINARY=${given}: no such file`);
    return given;
  }
  const binary = join(REPO, "dist", "kpki");
  if (staleBinaryReason() === undefined) return binary;
  mkdirSync(testenvDir(), { recursive: true });
  // Under a lock; --if-stale checks again inside it, since another test file may have just built it.
  execFileSync("flock", [join(testenvDir(), "build-binary.lock"), "npm", "run", "build:binary", "--", "--if-stale"], { cwd: REPO, stdio: ["ignore", "inherit", "inherit"] });
  const why = staleBinaryReason();
  if (why) throw new Error(`npm run build:binary ran, but dist/kpki ${why}`);
  return binary;
}

/**
 * Host paths a root buildah or podman touches whatever its configuration: the blob-info cache
 * (containers/image pkg/blobinfocache/default.go: /var/lib/containers/cache for euid 0), and runc's
 * default state folder, which podman's container cleanup uses.
 */
const CONTAINER_HOST_PATHS = ["/var/lib/containers", "/run/runc"] as const;

export interface ContainerTools {
  /**
   * The environment for buildah, podman and scripts/build-image.sh: CONTAINERS_STORAGE_CONF
   * (containers-storage.conf(5): vfs, graphroot and runroot under the folder), CONTAINERS_CONF
   * (containers.conf(5): network config, tmp dir and events under the folder, cgroupfs), TMPDIR.
   */
  readonly env: NodeJS.ProcessEnv;
  /** Runs podman in that environment, runc's state under the folder too; never throws (a failure is a non-zero code). */
  podman(args: readonly string[]): { code: number; stdout: string; stderr: string };
  /**
   * Builds the image with scripts/build-image.sh and `tool`; returns the sizes it printed and how
   * long it took. With `archive`, also saves an OCI archive there.
   */
  buildImage(o: { tag: string; binary: string; tool: "buildah" | "podman"; archive?: string }): { imageBytes: number; binaryBytes: number; ms: number; output: string };
  /** Removes every image from the private storage, the folder, and the host paths above that were not there before. Returns what failed. */
  cleanup(): string[];
}

/**
 * buildah and podman with everything they keep under `dir` (storage driver vfs: no mounts), the
 * way the image tests and the image bench run them.
 */
export function containerTools(dir: string): ContainerTools {
  const existed = new Set(CONTAINER_HOST_PATHS.filter((p) => existsSync(p)));
  const [root, runroot, tmp, cni, runc] = ["root", "run", "tmp", "cni", "runc"].map((d) => join(dir, d)) as [string, string, string, string, string];
  for (const d of [root, runroot, tmp, cni, runc]) mkdirSync(d, { recursive: true });
  const storageConf = join(dir, "storage.conf");
  writeFileSync(storageConf, `[storage]\ndriver = "vfs"\ngraphroot = "${root}"\nrunroot = "${runroot}"\n`);
  const containersConf = join(dir, "containers.conf");
  writeFileSync(containersConf, `[network]\nnetwork_config_dir = "${cni}"\n[engine]\ntmp_dir = "${tmp}"\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n`);
  const env: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_STORAGE_CONF: storageConf, CONTAINERS_CONF: containersConf, TMPDIR: tmp };
  const podman = (args: readonly string[]): { code: number; stdout: string; stderr: string } => {
    const r = spawnSync("podman", ["--runtime-flag", `root=${runc}`, ...args], { env, encoding: "utf8", maxBuffer: 256 << 20 });
    return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
  };
  return {
    env, podman,
    buildImage: ({ tag, binary, tool, archive }) => {
      const t0 = Date.now();
      const r = spawnSync(join(REPO, "scripts", "build-image.sh"), ["--tool", tool, "--binary", binary, ...(archive ? ["--oci-archive", archive] : []), tag],
        { env, encoding: "utf8", maxBuffer: 64 << 20 });
      const ms = Date.now() - t0;
      const output = `${r.stdout}${r.stderr}`;
      if (r.status !== 0) throw new Error(`scripts/build-image.sh exited ${r.status}:\n${output}`);
      const image = /^image \S+: (\d+) bytes$/m.exec(r.stdout);
      const bin = /^binary \S+: (\d+) bytes$/m.exec(r.stdout);
      if (!image?.[1] || !bin?.[1]) throw new Error(`scripts/build-image.sh printed no sizes:\n${output}`);
      return { imageBytes: Number(image[1]), binaryBytes: Number(bin[1]), ms, output };
    },
    cleanup: () => {
      const problems: string[] = [];
      const rmi = podman(["rmi", "--all", "--force"]);
      if (rmi.code !== 0) problems.push(`podman rmi --all: ${rmi.stderr.trim()}`);
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch (error) {
        problems.push(`rm ${dir}: ${(error as Error).message}`);
      }
      for (const p of CONTAINER_HOST_PATHS) {
        if (existed.has(p) || !existsSync(p)) continue;
        try {
          rmSync(p, { recursive: true, force: true });
        } catch (error) {
          problems.push(`rm ${p}: ${(error as Error).message}`);
        }
      }
      return problems;
    },
  };
}
