/**
 * A cluster whose pods run on a real kubelet, for the tests that deploy kpki's image: kpki init's
 * cluster folder, etcd, kube-apiserver and kube-controller-manager (control-plane.ts) on the host end
 * of a veth pair, kube-scheduler on 127.0.0.1, one worker node (worker-node.ts: containerd and the
 * kubelet in a network namespace, TLS-bootstrapped with a kubeadm bootstrap token) and kube-proxy
 * (iptables mode) in the node's namespace. Images are imported into containerd from OCI archives
 * with the pause image scripts/setup-testenv.sh built; nothing is pulled.
 *
 * Pods reach the API server the way in-cluster clients do: the `kubernetes` Service's ClusterIP
 * 10.96.0.1, which kube-proxy DNATs to the endpoint kube-apiserver publishes (the host end of the
 * veth pair); the namespace gets a route for the service range through that pair. kube-proxy
 * leaves conntrack limits as they are (--conntrack-max-per-core=0 and zero timeouts: those are
 * host-wide sysctls); its rules and its route_localnet sysctl live in the namespace and go with it.
 */
import { execFile, execFileSync, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { controlPlane, type ControlPlane } from "./control-plane.js";
import { kubectl, type KubectlResult } from "./kubectl.js";
import { freePort, startProcess, stopProcess, waitFor } from "./procs.js";
import { CNI_BIN_DIR, findBinary, isCi, missingBinaries, pauseImage, type ContainerTools } from "./testenv.js";
import { bootstrapToken, createNodeNetwork, kubeadmBootstrapObjects, startWorkerNode, workerNodeUnsupported, type NodeNetwork, type WorkerNode } from "./worker-node.js";

const run = promisify(execFile);
const KPKI = resolve(import.meta.dirname, "../../dist/bin/kpki.js");
/** kube-apiserver's --service-cluster-ip-range (control-plane.ts); the `kubernetes` Service's ClusterIP is its first address. */
export const SERVICE_RANGE = "10.96.0.0/12";

/**
 * Why such a cluster cannot run here (a missing real peer, not root, no pause image), or undefined;
 * `extra` names more programs the test needs. Under CI=true a missing piece is an error, never a skip.
 */
export function kubeletClusterUnsupported(...extra: string[]): string | undefined {
  const missing = missingBinaries("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubectl", "kubelet", "containerd", "ctr", "runc",
    "iptables", ...extra) ?? workerNodeUnsupported();
  if (missing) return missing;
  if (pauseImage()) return undefined;
  const reason = "no pause image in the testenv cache (run scripts/setup-testenv.sh)";
  if (isCi()) throw new Error(`CI=true but ${reason}`);
  console.warn(`SKIP: ${reason}`);
  return reason;
}

export interface KubeletClusterOptions {
  /** Everything lives here: the cluster folder (`work/cluster`), logs, the node's folder (`work/node`). */
  readonly work: string;
  readonly nodeName: string;
  /** Image archives imported into the node's containerd, besides the pause image. */
  readonly imageArchives: readonly string[];
  /** kube-controller-manager's --controllers. */
  readonly controllers: readonly string[];
}

/** A process the cluster started besides the control plane and the node. */
export interface ClusterProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly log: string;
}

export interface KubeletCluster {
  /** The kpki cluster folder (super-admin.conf, pki/). */
  readonly dir: string;
  /** Set by start(). */
  readonly network: NodeNetwork | undefined;
  readonly controlPlane: ControlPlane | undefined;
  readonly node: WorkerNode | undefined;
  readonly apiPort: number;
  readonly processes: readonly ClusterProcess[];
  /** Starts everything; resolves once the kubelet and kube-proxy run (the Node's registration is the caller's to wait for). */
  start(): Promise<void>;
  /** kubectl as the super-admin. */
  admin(...args: string[]): Promise<KubectlResult>;
  /** `kubectl apply -f -` as the super-admin, with objects (as JSON) or manifest text; throws on failure. */
  apply(manifest: object | string): Promise<void>;
  /** `kubectl ARGS -o json` as the super-admin, parsed; throws on failure. */
  getJson<T>(...args: string[]): Promise<T>;
  /** Runs a program in the node's network namespace; returns its stdout, throws on failure. */
  inNode(cmd: string, args: readonly string[]): string;
  /** The host PID of a pod's first container, from containerd's task list. */
  containerPid(containerId: string): number;
  /**
   * Stops what start() started, in reverse order, each step through `attempt` (procs.ts teardown),
   * so that one failure does not keep the rest from running; then, given `tools`, the container
   * storage the test's images went to.
   */
  stop(attempt: (what: string, step: () => Promise<void> | void) => Promise<void>, tools?: ContainerTools): Promise<void>;
}

/** Prepares the cluster; nothing runs until start(). */
export function kubeletCluster(o: KubeletClusterOptions): KubeletCluster {
  const dir = join(o.work, "cluster");
  const processes: ClusterProcess[] = [];
  const token = bootstrapToken();
  let network: NodeNetwork | undefined;
  let cp: ControlPlane | undefined;
  let node: WorkerNode | undefined;
  let apiPort = 0;
  const kpki = (...args: string[]) => run(process.execPath, [KPKI, ...args], { maxBuffer: 16 << 20 });
  const admin = (...args: string[]): Promise<KubectlResult> => kubectl(["--kubeconfig", join(dir, "super-admin.conf"), ...args]);
  const apply = async (manifest: object | string): Promise<void> => {
    const r = await kubectl(["--kubeconfig", join(dir, "super-admin.conf"), "apply", "-f", "-"], typeof manifest === "string" ? manifest : JSON.stringify(manifest));
    if (r.code !== 0) throw new Error(`kubectl apply: ${r.stderr}`);
  };
  const getJson = async <T>(...args: string[]): Promise<T> => {
    const r = await admin(...args, "-o", "json");
    if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const inNode = (cmd: string, args: readonly string[]): string => {
    if (!network) throw new Error("the node's network is not up");
    return execFileSync("nsenter", [`--net=/run/netns/${network.namespace}`, cmd, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  };
  const containerPid = (containerId: string): number => {
    if (!node) throw new Error("the node is not up");
    const id = containerId.replace(/^containerd:\/\//, "");
    const tasks = execFileSync("ctr", ["-a", node.containerdSocket, "-n", "k8s.io", "tasks", "list"], { encoding: "utf8" });
    const pid = new RegExp(`^${id}\\s+(\\d+)\\s+RUNNING`, "m").exec(tasks)?.[1];
    if (pid === undefined) throw new Error(`no running task ${id} in:\n${tasks}`);
    return Number(pid);
  };

  const start = async (): Promise<void> => {
    // 1. The node's network, with a route for the service range through the veth pair.
    network = createNodeNetwork();
    execFileSync("ip", ["-n", network.namespace, "route", "add", SERVICE_RANGE, "via", network.hostAddress]);
    apiPort = await freePort();
    await kpki("init", "--dir", dir, "--node-name", "cp", "--apiserver-advertise-address", network.hostAddress, "--apiserver-bind-port", String(apiPort));
    const cpWork = join(o.work, "cp");
    mkdirSync(cpWork);
    cp = await controlPlane({ etcd: findBinary("etcd")!, kubeApiserver: findBinary("kube-apiserver")!, kubeControllerManager: findBinary("kube-controller-manager")! }, {
      dir, work: cpWork, apiPort, etcdMembers: 1, controllerManager: true,
      advertiseAddress: network.hostAddress, bindAddress: network.hostAddress, verifyKubelets: true, serviceAccountTokens: true, controllers: o.controllers,
    });
    await cp.start();
    const endpoint = ["--dir", dir, "--apiserver-advertise-address", network.hostAddress, "--apiserver-bind-port", String(apiPort)];

    // 2. kube-scheduler, with kpki init's scheduler.conf.
    const schedLog = join(o.work, "kube-scheduler.log");
    processes.push({ name: "kube-scheduler", log: schedLog, child: startProcess(findBinary("kube-scheduler")!, [`--kubeconfig=${join(dir, "scheduler.conf")}`,
      "--bind-address=127.0.0.1", `--secure-port=${await freePort()}`, "--port=0", "--leader-elect=false", "--v=1"], schedLog) });

    // 3. kubeadm's bootstrap token and RBAC (worker-node.ts), as test/interop/kubelet.test.ts sets them up.
    for (const obj of kubeadmBootstrapObjects(token)) await apply(obj);
    const boot = await kpki("kubeconfig", "user", "--client-name", "tls-bootstrap-token-user", "--token", `${token.id}.${token.secret}`, ...endpoint);
    writeFileSync(join(o.work, "bootstrap-kubelet.conf"), boot.stdout, { mode: 0o600 });
    // kube-proxy's identity: the user the bootstrap policy's system:node-proxier binding names.
    const proxyConf = await kpki("kubeconfig", "user", "--client-name", "system:kube-proxy", ...endpoint);
    writeFileSync(join(o.work, "kube-proxy.conf"), proxyConf.stdout, { mode: 0o600 });

    // 4. The node, with the images imported into containerd's k8s.io namespace before the kubelet starts.
    const pause = pauseImage()!;
    node = await startWorkerNode({ network, nodeName: o.nodeName, work: join(o.work, "node"), kubelet: findBinary("kubelet")!, containerd: findBinary("containerd")!,
      clientCaFile: join(dir, "pki", "ca.crt"), bootstrapKubeconfig: join(o.work, "bootstrap-kubelet.conf"),
      sandboxImage: pause.name, cniBinDir: CNI_BIN_DIR, imageArchives: [pause.archive, ...o.imageArchives] });

    // 5. kube-proxy in the node's namespace.
    const proxyLog = join(o.work, "kube-proxy.log");
    processes.push({ name: "kube-proxy", log: proxyLog, child: startProcess("nsenter", [`--net=/run/netns/${network.namespace}`, findBinary("kube-proxy")!,
      `--kubeconfig=${join(o.work, "kube-proxy.conf")}`, `--hostname-override=${o.nodeName}`, "--proxy-mode=iptables", `--bind-address=${network.nodeAddress}`,
      "--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0", "--conntrack-tcp-timeout-close-wait=0",
      "--metrics-bind-address=127.0.0.1:10249", "--healthz-bind-address=127.0.0.1:10256", "--v=2"], proxyLog) });
  };

  const stop: KubeletCluster["stop"] = async (attempt, tools) => {
    for (const p of [...processes].reverse()) await attempt(p.name, () => stopProcess(p.child.pid, "SIGTERM", 10_000));
    await attempt("worker node", () => node?.stop());
    await attempt("control plane", () => cp?.stop());
    await attempt("network", () => network?.remove());
    if (tools) {
      await attempt("container storage", () => {
        const left = tools.cleanup();
        if (left.length) throw new Error(left.join("; "));
      });
    }
  };

  return {
    dir,
    get network() { return network; },
    get controlPlane() { return cp; },
    get node() { return node; },
    get apiPort() { return apiPort; },
    processes, start, admin, apply, getJson, inNode, containerPid, stop,
  };
}

/** Waits until kube-proxy has programmed the `kubernetes` Service (default/kubernetes:https) in the node's namespace; throws if kube-proxy exits. */
export async function waitForKubeProxy(cluster: KubeletCluster, timeoutMs = 60_000): Promise<void> {
  await waitFor("kube-proxy's rule for default/kubernetes:https", () => {
    const proxy = cluster.processes.find((p) => p.name === "kube-proxy");
    if (!proxy) throw new Error("kube-proxy was not started");
    if (proxy.child.exitCode !== null) throw new Error(`kube-proxy exited: ${readFileSync(proxy.log, "utf8").split("\n").slice(-20).join("\n")}`);
    return cluster.inNode("iptables-save", ["-t", "nat"]).includes(`"default/kubernetes:https" -m tcp -j DNAT --to-destination ${cluster.network!.hostAddress}:${cluster.apiPort}`);
  }, timeoutMs, 500);
}
