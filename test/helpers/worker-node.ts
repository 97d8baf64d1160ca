/**
 * A real worker node for the live tests: a network namespace with a veth pair to the host, and in it
 * containerd (Debian's, CRI v1alpha2) and kubelet v1.20.2 (built by scripts/setup-testenv.sh), both
 * started with `nsenter --net=` and everything they keep under the test's folder. Needs root, nsenter
 * and ip.
 *
 * `ip netns exec` is not used: it remounts /sys in a new mount namespace, where /sys/fs/cgroup is
 * empty and the kubelet cannot start; `nsenter --net=` changes the network namespace only.
 *
 * What the kubelet changes outside that folder, and stop() undoes (also on a failed start, and on
 * process exit as a last resort):
 *   - host sysctls set by pkg/kubelet/cm/container_manager_linux.go setupKernelTunables
 *     (vm.overcommit_memory, vm.panic_on_oom, kernel.panic, kernel.panic_on_oops,
 *     kernel.keys.root_maxkeys, kernel.keys.root_maxbytes): saved before, written back after;
 *   - the bind mount of --root-dir onto itself (the kubelet makes its root dir rshared): unmounted;
 *   - /var/lib/kubelet/device-plugins/kubelet.sock, a fixed path
 *     (staging/src/k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1/constants.go), /var/log/pods and
 *     /var/log/containers: removed if they did not exist before;
 *   - the veth pair and the namespace (and /run/netns's mount if `ip netns add` made it);
 *   - when pods ran: every container still in containerd's k8s.io namespace is killed and removed
 *     (through ctr, before containerd stops, so that no shim or container outlives the node), the
 *     mounts containerd left under the node's folder are unmounted, the cgroups runc made under
 *     /sys/fs/cgroup/CONTROLLER/k8s.io (containerd's default cgroups path /NAMESPACE/ID, since the
 *     kubelet passes no cgroup parent with cgroupsPerQOS false) are removed, and so are containerd's
 *     shim sockets under /run/containerd/s (a fixed path: runtime/v2/shim/util_unix.go), if these
 *     did not exist before. runc's state goes under the node's folder (the runc options' Root).
 *
 * One worker node runs at a time on a machine: startWorkerNode() takes an exclusive lock (flock(1)
 * on a file in the testenv cache) that stop() releases, and that the kernel releases if the test
 * process dies. Two kubelets would share /var/lib/kubelet/device-plugins/kubelet.sock and overwrite
 * each other's saved sysctls.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { startProcess, stopProcess, waitFor } from "./procs.js";
import { isCi, testenvDir } from "./testenv.js";

/** The sysctls the 1.20 kubelet writes at start (pkg/kubelet/cm/container_manager_linux.go). */
const KUBELET_SYSCTLS = ["vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops", "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"] as const;
/**
 * Host paths the kubelet and containerd create whatever their configured folders (deepest first, for
 * removal): the kubelet's device-plugin socket and pod logs, containerd's shim sockets, and the
 * lock file iptables takes (-w) for the kubelet's rules in the node's namespace (and kube-proxy's).
 */
const KUBELET_HOST_PATHS = ["/var/lib/kubelet/device-plugins/kubelet.sock", "/var/lib/kubelet/device-plugins", "/var/lib/kubelet", "/var/log/pods", "/var/log/containers",
  "/run/containerd/s", "/run/containerd", "/run/xtables.lock"] as const;
/** The cgroup v1 hierarchies and the unified one, where runc makes containerd's /k8s.io/ID cgroups. */
const CGROUP_ROOT = "/sys/fs/cgroup";
/** A sandbox image name that names no registry (containerd reads `localhost/...` as the host localhost). */
export const DEFAULT_SANDBOX_IMAGE = "localhost/kpki-pause:3.4";

const sh = (cmd: string, args: readonly string[]): string => execFileSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
const errText = (error: unknown): string => ((error as { stderr?: string }).stderr || (error as Error).message).toString().trim();
const mounted = (path: string): boolean => readFileSync("/proc/self/mounts", "utf8").split("\n").some((l) => l.split(" ")[1] === path);

/**
 * Why a worker node cannot run here (not root, no nsenter or ip), or undefined. Under CI=true a
 * missing capability is an error, never a skip.
 */
export function workerNodeUnsupported(): string | undefined {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push("not root");
  for (const tool of ["nsenter", "ip"]) {
    try {
      sh("sh", ["-c", `command -v ${tool}`]);
    } catch {
      problems.push(`no ${tool} on PATH`);
    }
  }
  if (!problems.length) return undefined;
  const reason = `a worker node needs root, nsenter and ip: ${problems.join(", ")}`;
  if (isCi()) throw new Error(`CI=true but ${reason}`);
  console.warn(`SKIP: ${reason}`);
  return reason;
}

export interface NodeNetwork {
  /** The namespace's name (under /run/netns). */
  readonly namespace: string;
  /** The host end of the veth pair: kube-apiserver binds here. */
  readonly hostAddress: string;
  /** The node's end, inside the namespace: the kubelet's --node-ip. */
  readonly nodeAddress: string;
  /** Deletes the veth pair and the namespace (idempotent, synchronous). */
  remove(): void;
}

/** The /30 blocks (10.254.X.4k) that some address on this host already uses. */
function usedBlocks(): Set<string> {
  const used = new Set<string>();
  for (const m of sh("ip", ["-o", "-4", "addr", "show"]).matchAll(/inet (10\.254\.(\d+)\.(\d+))\//g)) used.add(`${m[2]}.${Math.floor(Number(m[3]) / 4) * 4}`);
  return used;
}

/**
 * A network namespace with a veth pair to the host and a private /30 from 10.254.0.0/16 (host .1,
 * node .2 of the block), with lo up inside. All traffic stays on this machine.
 */
export function createNodeNetwork(): NodeNetwork {
  const id = randomBytes(3).toString("hex");
  const namespace = `kpki-node-${id}`;
  const [hostIf, nodeIf] = [`kpkh-${id}`, `kpkn-${id}`];
  const used = usedBlocks();
  let block = "";
  for (let i = 0; i < 100 && (!block || used.has(block)); i++) {
    const r = randomBytes(2);
    block = `${r[0]!}.${(r[1]! % 64) * 4}`;
  }
  const [x, y] = block.split(".").map(Number) as [number, number];
  const hostAddress = `10.254.${x}.${y + 1}`;
  const nodeAddress = `10.254.${x}.${y + 2}`;
  // Whether /run/netns was there before any test's namespace: a marker in the testenv cache, so
  // that the last of two test processes with namespaces at once still removes what the first made.
  const marker = join(testenvDir(), "netns-made-by-tests");
  const markerState = (): { mounted: boolean; existed: boolean } | undefined => {
    try {
      return JSON.parse(readFileSync(marker, "utf8")) as { mounted: boolean; existed: boolean };
    } catch {
      return undefined;
    }
  };
  if (!markerState() && !mounted("/run/netns")) {
    mkdirSync(dirname(marker), { recursive: true });
    writeFileSync(marker, JSON.stringify({ mounted: false, existed: existsSync("/run/netns") }));
  }
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    for (const args of [["link", "del", hostIf], ["netns", "del", namespace]]) {
      try {
        sh("ip", args);
      } catch {
        // already gone
      }
    }
    // `ip netns add` mounts /run/netns the first time; undo that once no namespace is left, if
    // the marker says the tests made it.
    try {
      const before = markerState();
      if (before && sh("ip", ["netns", "list"]).trim() === "") {
        if (!before.mounted && mounted("/run/netns")) sh("umount", ["/run/netns"]);
        if (!before.existed && existsSync("/run/netns") && !mounted("/run/netns")) rmdirSync("/run/netns");
        rmSync(marker, { force: true });
      }
    } catch {
      // best effort: a namespace made by someone else keeps /run/netns
    }
  };
  process.once("exit", remove);
  try {
    sh("ip", ["netns", "add", namespace]);
    sh("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", nodeIf]);
    sh("ip", ["link", "set", nodeIf, "netns", namespace]);
    sh("ip", ["addr", "add", `${hostAddress}/30`, "dev", hostIf]);
    sh("ip", ["link", "set", hostIf, "up"]);
    sh("ip", ["-n", namespace, "addr", "add", `${nodeAddress}/30`, "dev", nodeIf]);
    sh("ip", ["-n", namespace, "link", "set", nodeIf, "up"]);
    sh("ip", ["-n", namespace, "link", "set", "lo", "up"]);
  } catch (error) {
    remove();
    throw new Error(`cannot create the node's network namespace and veth pair: ${errText(error)}`);
  }
  return { namespace, hostAddress, nodeAddress, remove };
}

export interface WorkerNodeOptions {
  readonly network: NodeNetwork;
  /** The Node's name (--hostname-override). */
  readonly nodeName: string;
  /** Everything of this node lives here: containerd's root/state/socket, the kubelet's root dir, logs. */
  readonly work: string;
  readonly kubelet: string;
  readonly containerd: string;
  /** The cluster CA: the kubelet accepts client certificates it issued (kube-apiserver's). */
  readonly clientCaFile: string;
  /** The bootstrap kubeconfig (a bootstrap token); the kubelet writes `kubeconfig`. */
  readonly bootstrapKubeconfig: string;
  /**
   * The kubelet's --kubeconfig, which its TLS bootstrap writes. Default `${work}/etc/kubelet.conf`; a
   * cluster folder's kubelet.conf makes the node what kubeadm's control-plane node is after
   * kubelet-finalize (kubelet.conf naming kubelet-client-current.pem).
   */
  readonly kubeconfig?: string;
  /** The kubelet's -v. Default 2 (it logs its certificate rotation deadlines at 2). */
  readonly verbosity?: number;
  /**
   * containerd's sandbox_image (the pod sandbox's image, which must be in its k8s.io namespace for a
   * pod to start: nothing can be pulled here). Default DEFAULT_SANDBOX_IMAGE.
   */
  readonly sandboxImage?: string;
  /** containerd's CNI bin_dir. Default: an empty folder (enough while no pod without hostNetwork runs). */
  readonly cniBinDir?: string;
  /** Image archives (OCI or docker) imported into containerd's k8s.io namespace with `ctr images import` before the kubelet starts. */
  readonly imageArchives?: readonly string[];
}

export interface WorkerNode {
  readonly nodeName: string;
  readonly nodeAddress: string;
  /** The kubelet's --cert-dir (kubelet-client-current.pem, kubelet-server-current.pem). */
  readonly pkiDir: string;
  /** The kubelet's --kubeconfig, written by its TLS bootstrap. */
  readonly kubeconfig: string;
  readonly kubeletLog: string;
  readonly containerdLog: string;
  /** When the kubelet was started (ms since the epoch). */
  readonly startedAt: number;
  readonly kubeletPid: number | undefined;
  /** Stops the kubelet (SIGTERM, by PID) and starts it again with the same flags; resolves once it serves /healthz. Returns the milliseconds in between. */
  restartKubelet(): Promise<number>;
  /** containerd's socket (for `ctr -a`). */
  readonly containerdSocket: string;
  /**
   * Stops the kubelet, removes every container left in containerd's k8s.io namespace, stops
   * containerd by PID (SIGTERM, then SIGKILL) and undoes the host side effects. Idempotent.
   */
  stop(): Promise<void>;
}

function containerdConfig(dir: string, sandboxImage: string, cniBinDir: string): string {
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "${dir}/containerd.sock"
[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"
[debug]
  address = "${dir}/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${sandboxImage}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # The kubelet asks for oom_score_adj -998 (sandboxes) and -997 (critical pods); lowering it needs
  # CAP_SYS_RESOURCE, which root lacks in some sandboxes (runc then fails: "can't get final child's
  # PID from pipe"). This clamps the request at containerd's own value, as for rootless containerd.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${cniBinDir}"
    conf_dir = "${dir}/cni-conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${dir}/runc"
`;
}

/**
 * A bridge network config: enough for the runtime to report its network ready, so the Node turns
 * Ready. A pod with hostNetwork calls no CNI binary. A pod on this network gets a default route
 * through the bridge (isDefaultGateway) and its traffic to anything outside 10.244.0.0/24 leaves
 * the namespace masqueraded to the node's address (ipMasq: iptables rules in the node's namespace),
 * since the host has no route to the pod network: that is how such a pod reaches the API server
 * through the `kubernetes` Service.
 */
const CNI_CONFLIST = JSON.stringify({
  cniVersion: "0.4.0", name: "kpki-test",
  plugins: [{ type: "bridge", bridge: "kpki-cni0", isGateway: true, isDefaultGateway: true, ipMasq: true, ipam: { type: "host-local", ranges: [[{ subnet: "10.244.0.0/24" }]] } }],
}, null, 2);

function kubeletConfig(o: { nodeAddress: string; clientCaFile: string; work: string }): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${o.nodeAddress}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${o.clientCaFile}}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
serverTLSBootstrap: true
rotateCertificates: true
volumePluginDir: ${o.work}/kubelet-plugins
clusterDomain: cluster.local
clusterDNS: []
`;
}

/** Host state the kubelet may change, captured before it starts. */
interface HostSnapshot {
  readonly sysctls: Map<string, string>;
  readonly existed: Set<string>;
  /** The cgroup hierarchies that already had a k8s.io cgroup. */
  readonly cgroupsExisted: Set<string>;
}

/** /sys/fs/cgroup/X/k8s.io for every hierarchy X (and /sys/fs/cgroup/k8s.io on a unified-only host). */
function k8sCgroups(): string[] {
  const found = [join(CGROUP_ROOT, "k8s.io")];
  try {
    for (const e of readdirSync(CGROUP_ROOT, { withFileTypes: true })) if (e.isDirectory()) found.push(join(CGROUP_ROOT, e.name, "k8s.io"));
  } catch {
    // no cgroup filesystem: runc cannot make cgroups either
  }
  return found;
}

/** Removes a cgroup and the cgroups below it, deepest first (rmdir: a cgroup with a process stays). */
function removeCgroup(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroup(join(dir, e.name));
  rmdirSync(dir);
}

function snapshotHost(): HostSnapshot {
  const sysctls = new Map<string, string>();
  for (const s of KUBELET_SYSCTLS) {
    try {
      sysctls.set(s, readFileSync(`/proc/sys/${s}`, "utf8").trim());
    } catch {
      // not on this kernel: the kubelet cannot set it either
    }
  }
  return { sysctls, existed: new Set(KUBELET_HOST_PATHS.filter((p) => existsSync(p))), cgroupsExisted: new Set(k8sCgroups().filter((p) => existsSync(p))) };
}

/**
 * Undoes what the kubelet and containerd changed on the host (`work` is the node's folder; every
 * mount under it goes); returns what could not be undone. Synchronous.
 */
function restoreHost(before: HostSnapshot, work: string): string[] {
  const problems: string[] = [];
  for (const [s, value] of before.sysctls) {
    try {
      if (readFileSync(`/proc/sys/${s}`, "utf8").trim() !== value) writeFileSync(`/proc/sys/${s}`, value);
    } catch (error) {
      problems.push(`sysctl ${s.replaceAll("/", ".")}=${value}: ${(error as Error).message}`);
    }
  }
  // The kubelet bind-mounts its root dir onto itself and mounts pod volumes below it; containerd
  // mounts sandbox files and snapshots under its root and state: unmount every layer under `work`.
  for (let i = 0; i < 10; i++) {
    const below = readFileSync("/proc/self/mounts", "utf8").split("\n").map((l) => l.split(" ")[1] ?? "")
      .filter((m) => m === work || m.startsWith(`${work}/`)).sort((a, b) => b.length - a.length);
    if (!below.length) break;
    for (const m of below) {
      try {
        sh("umount", [m]);
      } catch {
        try {
          sh("umount", ["-l", m]);
        } catch (error) {
          problems.push(`umount ${m}: ${errText(error)}`);
        }
      }
    }
  }
  for (const p of KUBELET_HOST_PATHS) {
    if (before.existed.has(p) || !existsSync(p)) continue;
    try {
      rmSync(p, { recursive: true, force: true });
    } catch (error) {
      problems.push(`rm ${p}: ${(error as Error).message}`);
    }
  }
  for (const cg of k8sCgroups()) {
    if (before.cgroupsExisted.has(cg) || !existsSync(cg)) continue;
    try {
      removeCgroup(cg);
    } catch (error) {
      problems.push(`rmdir ${cg}: ${(error as Error).message}`);
    }
  }
  return problems;
}

/** The exclusive lock of one worker node per machine, held by a flock(1) child until release(). */
interface NodeLock {
  release(): Promise<void>;
}

/**
 * Waits for the machine's worker-node lock: `flock FILE` runs `cat`, which holds it until its stdin
 * closes (release(), or this process ending).
 */
async function acquireNodeLock(): Promise<NodeLock> {
  const file = join(testenvDir(), "worker-node.lock");
  mkdirSync(dirname(file), { recursive: true });
  const child = spawn("flock", ["--exclusive", file, "sh", "-c", "echo locked; exec cat >/dev/null"], { stdio: ["pipe", "pipe", "inherit"] });
  let announced = false;
  const waitingNote = setTimeout(() => {
    announced = true;
    console.log(`worker node: waiting for ${file} (another worker node runs on this machine)`);
  }, 1000);
  try {
    await new Promise<void>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`flock ${file} exited (${code}) before taking the lock`)));
      child.stdout!.once("data", () => resolve());
    });
  } finally {
    clearTimeout(waitingNote);
  }
  if (announced) console.log(`worker node: took ${file}`);
  child.removeAllListeners("exit");
  return {
    release: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.stdin!.end();
      await exited;
    },
  };
}

/** Kills and removes every container in containerd's k8s.io namespace (tasks first). Returns what failed. */
function removeContainers(ctr: string, socket: string): string[] {
  const problems: string[] = [];
  const c = (...args: string[]): string => sh(ctr, ["-a", socket, "-n", "k8s.io", ...args]);
  let ids: string[];
  try {
    ids = c("containers", "list", "-q").split("\n").filter(Boolean);
  } catch (error) {
    return [`ctr containers list: ${errText(error)}`];
  }
  for (const id of ids) {
    try {
      // A sandbox and its containers: SIGKILL every process of the task, then delete it (its shim exits).
      c("tasks", "kill", "--all", "--signal", "SIGKILL", id);
    } catch {
      // no task, or it has already stopped
    }
  }
  for (const id of ids) {
    try {
      c("tasks", "delete", "--force", id);
    } catch {
      // no task
    }
    try {
      c("containers", "delete", id);
    } catch (error) {
      problems.push(`ctr containers delete ${id}: ${errText(error)}`);
    }
  }
  return problems;
}

/**
 * Starts containerd, then the kubelet, in the network's namespace. Resolves once both run (the
 * kubelet's TLS bootstrap and registration are the caller's to wait for).
 */
export async function startWorkerNode(o: WorkerNodeOptions): Promise<WorkerNode> {
  const { network, work } = o;
  const ctrDir = join(work, "containerd");
  const rootDir = join(work, "kubelet-root");
  const etcDir = join(work, "etc");
  const pkiDir = join(rootDir, "pki");
  const socket = join(ctrDir, "containerd.sock");
  const cniBinDir = o.cniBinDir ?? join(ctrDir, "cni-bin");
  for (const d of [ctrDir, join(ctrDir, "cni-conf"), join(ctrDir, "cni-bin"), rootDir, etcDir, join(work, "kubelet-plugins")]) mkdirSync(d, { recursive: true });
  writeFileSync(join(ctrDir, "config.toml"), containerdConfig(ctrDir, o.sandboxImage ?? DEFAULT_SANDBOX_IMAGE, cniBinDir));
  writeFileSync(join(ctrDir, "cni-conf", "10-kpki-test.conflist"), CNI_CONFLIST);
  const configFile = join(work, "kubelet-config.yaml");
  writeFileSync(configFile, kubeletConfig({ nodeAddress: network.nodeAddress, clientCaFile: o.clientCaFile, work }));
  const kubeconfig = o.kubeconfig ?? join(etcDir, "kubelet.conf");
  const containerdLog = join(work, "containerd.log");
  const kubeletLog = join(work, "kubelet.log");
  // ctr comes with containerd (Debian's package installs both in /usr/bin).
  const ctr = existsSync(join(dirname(o.containerd), "ctr")) ? join(dirname(o.containerd), "ctr") : "ctr";
  const nsenter = (cmd: string, args: string[], log: string): ChildProcess => startProcess("nsenter", [`--net=/run/netns/${network.namespace}`, cmd, ...args], log);

  const lock = await acquireNodeLock();
  const before = snapshotHost();
  const children: ChildProcess[] = [];
  let stopped = false;
  // Last resort if the test process ends without stop(): kill what we started, undo the rest (the
  // lock goes with the process).
  const onExit = (): void => {
    const containerd = children[0];
    for (const c of [...children].reverse()) {
      try {
        if (c !== containerd && c.pid) process.kill(c.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    if (containerd?.exitCode === null && containerd.signalCode === null) removeContainers(ctr, socket);
    try {
      if (containerd?.pid) process.kill(containerd.pid, "SIGKILL");
    } catch {
      // gone
    }
    restoreHost(before, work);
  };
  process.once("exit", onExit);
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const problems: string[] = [];
    // The kubelet first (it talks to containerd), then what runs in containerd, then containerd.
    const [containerd, ...rest] = children;
    for (const c of rest.reverse()) await stopProcess(c.pid, "SIGTERM", 10_000);
    if (containerd && containerd.exitCode === null && containerd.signalCode === null) problems.push(...removeContainers(ctr, socket));
    await stopProcess(containerd?.pid, "SIGTERM", 10_000);
    process.removeListener("exit", onExit);
    problems.push(...restoreHost(before, work));
    await lock.release();
    if (problems.length) throw new Error(`the worker node's host side effects were not all undone: ${problems.join("; ")}`);
  };

  try {
    const containerd = nsenter(o.containerd, ["--config", join(ctrDir, "config.toml")], containerdLog);
    children.push(containerd);
    await waitFor("containerd's socket", () => {
      if (containerd.exitCode !== null || containerd.signalCode !== null) throw new Error(`containerd exited; see ${containerdLog}`);
      return existsSync(socket) && readFileSync(containerdLog, "utf8").includes("containerd successfully booted");
    }, 30_000, 100);
    for (const archive of o.imageArchives ?? []) {
      try {
        sh(ctr, ["-a", socket, "-n", "k8s.io", "images", "import", archive]);
      } catch (error) {
        throw new Error(`ctr images import ${archive}: ${errText(error)}`);
      }
    }
    const startedAt = Date.now();
    const startKubelet = (): ChildProcess => nsenter(o.kubelet, [
      `--config=${configFile}`, `--bootstrap-kubeconfig=${o.bootstrapKubeconfig}`, `--kubeconfig=${kubeconfig}`,
      `--root-dir=${rootDir}`, `--cert-dir=${pkiDir}`, `--hostname-override=${o.nodeName}`, `--node-ip=${network.nodeAddress}`,
      "--container-runtime=remote", `--container-runtime-endpoint=unix://${socket}`, `--v=${o.verbosity ?? 2}`,
    ], kubeletLog);
    const kubelet = startKubelet();
    children.push(kubelet);
    const restartKubelet = async (): Promise<number> => {
      const begin = performance.now();
      const i = children.length - 1;
      await stopProcess(children[i]?.pid, "SIGTERM", 10_000);
      const again = startKubelet();
      children[i] = again;
      await waitFor("the kubelet's /healthz", () => {
        if (again.exitCode !== null) throw new Error(`the kubelet exited; see ${kubeletLog}`);
        try {
          return execFileSync("nsenter", [`--net=/run/netns/${network.namespace}`, "curl", "-s", "http://127.0.0.1:10248/healthz"], { encoding: "utf8" }) === "ok";
        } catch {
          return false;
        }
      }, 60_000, 200);
      return performance.now() - begin;
    };
    return { nodeName: o.nodeName, nodeAddress: network.nodeAddress, pkiDir, kubeconfig, kubeletLog, containerdLog, startedAt,
      get kubeletPid() { return children[children.length - 1]?.pid; }, restartKubelet, containerdSocket: socket, stop };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

/** A bootstrap token as kubeadm makes one: a 6-character id and a 16-character secret of [a-z0-9]. */
export function bootstrapToken(): { readonly id: string; readonly secret: string } {
  const pick = (n: number): string => Array.from({ length: n }, () => "abcdefghijklmnopqrstuvwxyz0123456789"[Math.floor(Math.random() * 36)]).join("");
  return { id: pick(6), secret: pick(16) };
}

/**
 * What `kubeadm init phase bootstrap-token` puts in the cluster for a node's TLS bootstrap: the
 * token's Secret, the bindings that let its group file node client CSRs and have them (and their
 * rotations) approved by kube-controller-manager, and kubeadm's cluster-admins binding, which
 * kube-apiserver's kubelet client certificate (O=kubeadm:cluster-admins) needs when the kubelet's
 * webhook authorizer asks about it. Objects for `kubectl apply`.
 */
export function kubeadmBootstrapObjects(token: { readonly id: string; readonly secret: string }): readonly object[] {
  const binding = (name: string, role: string, group: string) => ({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role }, subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: group }] });
  return [
    { apiVersion: "v1", kind: "Secret", type: "bootstrap.kubernetes.io/token", metadata: { name: `bootstrap-token-${token.id}`, namespace: "kube-system" },
      stringData: { "token-id": token.id, "token-secret": token.secret, "usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true",
        "auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token" } },
    binding("kubeadm:kubelet-bootstrap", "system:node-bootstrapper", "system:bootstrappers:kubeadm:default-node-token"),
    binding("kubeadm:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient", "system:bootstrappers:kubeadm:default-node-token"),
    binding("kubeadm:node-autoapprove-certificate-rotation", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "system:nodes"),
    binding("kubeadm:cluster-admins", "cluster-admin", "kubeadm:cluster-admins"),
  ];
}
