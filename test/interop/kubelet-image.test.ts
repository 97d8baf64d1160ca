/**
 * The approver image on a real kubelet: the image scripts/build-image.sh builds (FROM scratch,
 * Debian's buildah) is imported into the node's containerd with the pause image
 * scripts/setup-testenv.sh built, and deploy/namespace.yaml, rbac.yaml and deployment.yaml are
 * applied with only the image reference changed. Nothing is pulled. The pod (hostNetwork, as the
 * Deployment asks) takes the Lease and approves the serving CSR of the kubelet it runs on, which
 * kube-controller-manager then signs from kpki's ca.key.
 *
 * What a Deployment needs that the other kubelet test does not start: kube-scheduler;
 * kube-controller-manager's deployment, replicaset, serviceaccount and serviceaccount-token
 * controllers, with --service-account-private-key-file (the token and ca.crt in the service
 * account's Secret) and --root-ca-file; and kube-proxy (the real one, v1.20.2, iptables mode, in the
 * node's network namespace), since the pod reaches the API server the way in-cluster clients do:
 * KUBERNETES_SERVICE_HOST, the `kubernetes` Service's ClusterIP 10.96.0.1, which kube-proxy DNATs to
 * the endpoint kube-apiserver publishes (the host end of the node's veth pair). The namespace gets a
 * route for the service range through that veth pair. kube-proxy leaves conntrack limits as they are
 * (--conntrack-max-per-core=0 and zero timeouts: those are host-wide sysctls); its rules and its
 * route_localnet sysctl live in the namespace and go with it.
 *
 * The kubelet's fixed paths (device-plugin socket, sysctls) allow one worker node per machine:
 * startWorkerNode() holds a lock that serialises this file with test/interop/kubelet.test.ts.
 */
import { execFileSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { controlPlane, type ControlPlane } from "../helpers/control-plane.js";
import { kubectl } from "../helpers/kubectl.js";
import { freePort, startProcess, stopProcess, teardown, waitFor } from "../helpers/procs.js";
import { CNI_BIN_DIR, containerTools, findBinary, isCi, kpkiBinary, missingBinaries, pauseImage, type ContainerTools } from "../helpers/testenv.js";
import { bootstrapToken, createNodeNetwork, kubeadmBootstrapObjects, startWorkerNode, workerNodeUnsupported, type NodeNetwork, type WorkerNode } from "../helpers/worker-node.js";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");
const KPKI = join(ROOT, "dist/bin/kpki.js");

function unsupported(): string | undefined {
  const missing = missingBinaries("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubectl", "kubelet", "containerd", "ctr", "runc",
    "iptables", "buildah", "podman", "ldd") ?? workerNodeUnsupported();
  if (missing) return missing;
  if (pauseImage()) return undefined;
  const reason = "no pause image in the testenv cache (run scripts/setup-testenv.sh)";
  if (isCi()) throw new Error(`CI=true but ${reason}`);
  console.warn(`SKIP: ${reason}`);
  return reason;
}
const skip = unsupported();
const work = mkdtempSync(join(tmpdir(), "kpki-kubelet-image-"));
const dir = join(work, "cluster");
const NODE = `kpki-i-${Math.random().toString(36).slice(2, 8)}`;
/** Not `latest`: with any other tag the kubelet's default pull policy is IfNotPresent, so the imported image is used as is. */
const TAG = `localhost/kpki:e2e-${Math.random().toString(36).slice(2, 8)}`;
const { id: TOKEN_ID, secret: TOKEN_SECRET } = bootstrapToken();
/** The `kubernetes` Service's ClusterIP: the first address of kube-apiserver's --service-cluster-ip-range (10.96.0.0/12). */
const SERVICE_RANGE = "10.96.0.0/12";

let network: NodeNetwork | undefined;
let cp: ControlPlane | undefined;
let node: WorkerNode | undefined;
let tools: ContainerTools | undefined;
let apiPort = 0;
const procs: { name: string; child: ChildProcess; log: string }[] = [];

const admin = (...args: string[]) => kubectl(["--kubeconfig", join(dir, "super-admin.conf"), ...args]);
const kpki = (...args: string[]) => run(process.execPath, [KPKI, ...args], { maxBuffer: 16 << 20 });
async function apply(obj: unknown): Promise<void> {
  const r = await kubectl(["--kubeconfig", join(dir, "super-admin.conf"), "apply", "-f", "-"], JSON.stringify(obj));
  expect(r.code, r.stderr).toBe(0);
}
async function getJson<T>(...args: string[]): Promise<T> {
  const r = await admin(...args, "-o", "json");
  if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
const inNode = (cmd: string, args: readonly string[]): string =>
  execFileSync("nsenter", [`--net=/run/netns/${network!.namespace}`, cmd, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

interface Condition { type: string; status: string; reason?: string; message?: string }
interface Csr {
  metadata: { name: string; creationTimestamp: string };
  spec: { signerName: string; username: string };
  status?: { conditions?: Condition[]; certificate?: string };
}
interface Pod {
  metadata: { name: string; uid: string };
  spec: { nodeName?: string; hostNetwork?: boolean; containers: { image: string; args?: string[] }[] };
  status: { phase: string; conditions?: Condition[]; containerStatuses?: { ready: boolean; containerID?: string; imageID?: string; state?: { running?: unknown } }[] };
}
const servingCsrs = async (): Promise<Csr[]> =>
  (await getJson<{ items: Csr[] }>("get", "csr")).items.filter((c) => c.spec.signerName === "kubernetes.io/kubelet-serving" && c.spec.username === `system:node:${NODE}`)
    .sort((a, b) => a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp));
const approverPods = async (): Promise<Pod[]> => (await getJson<{ items: Pod[] }>("-n", "kpki-system", "get", "pods", "-l", "app.kubernetes.io/name=kpki-approver")).items;
const runningPod = async (): Promise<Pod | undefined> => (await approverPods()).find((p) => p.status.phase === "Running" && p.status.containerStatuses?.[0]?.state?.running);

describe.skipIf(skip)("the approver image on a real kubelet: deploy/ applied unchanged but for the image, the pod approves its kubelet's serving CSR", () => {
  beforeAll(async () => {
    // 1. The image, with Debian's buildah, saved as an OCI archive for containerd.
    const binary = kpkiBinary();
    tools = containerTools(join(work, "containers"));
    const archive = join(work, "kpki.oci.tar");
    const built = tools.buildImage({ tag: TAG, binary, tool: "buildah", archive });
    console.log(`image ${TAG}: ${built.imageBytes} bytes, built and saved in ${built.ms} ms`);

    // 2. The node's network, with a route for the service range through the veth pair.
    network = createNodeNetwork();
    execFileSync("ip", ["-n", network.namespace, "route", "add", SERVICE_RANGE, "via", network.hostAddress]);
    apiPort = await freePort();
    await kpki("init", "--dir", dir, "--node-name", "cp", "--apiserver-advertise-address", network.hostAddress, "--apiserver-bind-port", String(apiPort));
    const cpWork = join(work, "cp");
    mkdirSync(cpWork);
    cp = await controlPlane({ etcd: findBinary("etcd")!, kubeApiserver: findBinary("kube-apiserver")!, kubeControllerManager: findBinary("kube-controller-manager")! }, {
      dir, work: cpWork, apiPort, etcdMembers: 1, controllerManager: true,
      advertiseAddress: network.hostAddress, bindAddress: network.hostAddress, verifyKubelets: true, serviceAccountTokens: true,
      controllers: ["csrsigning", "csrapproving", "csrcleaner", "serviceaccount", "serviceaccount-token", "deployment", "replicaset"],
    });
    await cp.start();
    const endpoint = ["--dir", dir, "--apiserver-advertise-address", network.hostAddress, "--apiserver-bind-port", String(apiPort)];

    // 3. kube-scheduler, with kpki init's scheduler.conf.
    const schedLog = join(work, "kube-scheduler.log");
    procs.push({ name: "kube-scheduler", log: schedLog, child: startProcess(findBinary("kube-scheduler")!, [`--kubeconfig=${join(dir, "scheduler.conf")}`,
      "--bind-address=127.0.0.1", `--secure-port=${await freePort()}`, "--port=0", "--leader-elect=false", "--v=1"], schedLog) });

    // 4. kubeadm's bootstrap token and RBAC (worker-node.ts), as test/interop/kubelet.test.ts sets them up.
    for (const o of kubeadmBootstrapObjects({ id: TOKEN_ID, secret: TOKEN_SECRET })) await apply(o);
    const boot = await kpki("kubeconfig", "user", "--client-name", "tls-bootstrap-token-user", "--token", `${TOKEN_ID}.${TOKEN_SECRET}`, ...endpoint);
    writeFileSync(join(work, "bootstrap-kubelet.conf"), boot.stdout, { mode: 0o600 });
    // kube-proxy's identity: the user the bootstrap policy's system:node-proxier binding names.
    const proxyConf = await kpki("kubeconfig", "user", "--client-name", "system:kube-proxy", ...endpoint);
    writeFileSync(join(work, "kube-proxy.conf"), proxyConf.stdout, { mode: 0o600 });

    // 5. The node, with both images imported into containerd's k8s.io namespace before the kubelet starts.
    const pause = pauseImage()!;
    node = await startWorkerNode({ network, nodeName: NODE, work: join(work, "node"), kubelet: findBinary("kubelet")!, containerd: findBinary("containerd")!,
      clientCaFile: join(dir, "pki", "ca.crt"), bootstrapKubeconfig: join(work, "bootstrap-kubelet.conf"),
      sandboxImage: pause.name, cniBinDir: CNI_BIN_DIR, imageArchives: [pause.archive, archive] });

    // 6. kube-proxy in the node's namespace.
    const proxyLog = join(work, "kube-proxy.log");
    procs.push({ name: "kube-proxy", log: proxyLog, child: startProcess("nsenter", [`--net=/run/netns/${network.namespace}`, findBinary("kube-proxy")!,
      `--kubeconfig=${join(work, "kube-proxy.conf")}`, `--hostname-override=${NODE}`, "--proxy-mode=iptables", `--bind-address=${network.nodeAddress}`,
      "--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0", "--conntrack-tcp-timeout-close-wait=0",
      "--metrics-bind-address=127.0.0.1:10249", "--healthz-bind-address=127.0.0.1:10256", "--v=2"], proxyLog) });
  }, 15 * 60_000);

  afterAll(async () => {
    const { attempt, finish } = teardown(work);
    // The pods first, through the API (the kubelet stops their containers); stop() removes any left.
    if (node && cp) {
      await attempt("scale the Deployment to 0", async () => {
        const r = await admin("-n", "kpki-system", "scale", "deployment", "kpki-approver", "--replicas=0");
        if (r.code === 0) await waitFor("the approver pods to go", async () => (await approverPods()).length === 0, 60_000, 500);
      });
    }
    for (const p of [...procs].reverse()) await attempt(p.name, () => stopProcess(p.child.pid, "SIGTERM", 10_000));
    await attempt("worker node", () => node?.stop());
    await attempt("control plane", () => cp?.stop());
    await attempt("network", () => network?.remove());
    await attempt("container storage", () => {
      const left = tools?.cleanup() ?? [];
      if (left.length) throw new Error(left.join("; "));
    });
    finish();
  }, 180_000);

  it("containerd holds the approver image and the pause image, imported from OCI archives (nothing to pull); kube-proxy has programmed the `kubernetes` Service in the node's namespace", async () => {
    const images = execFileSync("ctr", ["-a", node!.containerdSocket, "-n", "k8s.io", "images", "list", "-q"], { encoding: "utf8" }).split("\n");
    expect(images).toContain(TAG);
    expect(images).toContain(pauseImage()!.name);
    await waitFor("kube-proxy's rule for default/kubernetes:https", () => {
      const proxy = procs.find((p) => p.name === "kube-proxy")!;
      if (proxy.child.exitCode !== null) throw new Error(`kube-proxy exited: ${readFileSync(proxy.log, "utf8").split("\n").slice(-20).join("\n")}`);
      return inNode("iptables-save", ["-t", "nat"]).includes(`"default/kubernetes:https" -m tcp -j DNAT --to-destination ${network!.hostAddress}:${apiPort}`);
    }, 60_000, 500);
  }, 90_000);

  it("deploy/namespace.yaml, rbac.yaml and deployment.yaml (only the image changed): the pod runs the image as 65532 on the node, takes the Lease and approves the kubelet's pending serving CSR; kcm signs it and the API server verifies the kubelet with it", async () => {
    // The kubelet's serving CSR, pending: no approver runs yet.
    let pending: Csr | undefined;
    await waitFor("the kubelet's serving CSR", async () => {
      pending = (await servingCsrs())[0];
      return pending !== undefined;
    }, 90_000, 250);
    expect(pending!.status?.conditions ?? []).toEqual([]);

    for (const f of ["namespace.yaml", "rbac.yaml"]) {
      const r = await admin("apply", "-f", join(ROOT, "deploy", f));
      expect(r.code, r.stderr).toBe(0);
    }
    // The service account's token Secret (kcm's serviceaccount-token controller) before the pods,
    // so that the ReplicaSet's first attempt is admitted.
    let tokenSecret: string | undefined;
    await waitFor("the kpki-approver service account's token", async () => {
      tokenSecret = (await getJson<{ secrets?: { name: string }[] }>("-n", "kpki-system", "get", "serviceaccount", "kpki-approver")).secrets?.[0]?.name;
      return tokenSecret !== undefined;
    }, 60_000, 250);
    // The CA the pod will trust the API server with (mounted at /var/run/secrets/kubernetes.io/serviceaccount/ca.crt):
    // kcm's --root-ca-file, kpki's ca.crt. The image's own CA bundle does not hold it.
    const secret = await getJson<{ data: Record<string, string> }>("-n", "kpki-system", "get", "secret", tokenSecret!);
    expect(Buffer.from(secret.data["ca.crt"] ?? "", "base64").toString()).toBe(readFileSync(join(dir, "pki", "ca.crt"), "utf8"));
    const original = readFileSync(join(ROOT, "deploy", "deployment.yaml"), "utf8");
    const deployment = original.replace(/^(\s+image: )\S+.*$/m, `$1${TAG}`);
    const changed = original.split("\n").filter((l, i) => l !== deployment.split("\n")[i]);
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatch(/^\s+image: /);
    const applied = await kubectl(["--kubeconfig", join(dir, "super-admin.conf"), "apply", "-f", "-"], deployment);
    expect(applied.code, applied.stderr).toBe(0);
    const deployedAt = Date.now();

    let pod: Pod | undefined;
    await waitFor("an approver pod running", async () => {
      pod = await runningPod();
      return pod !== undefined;
    }, 120_000, 500);
    console.log(`pod ${pod!.metadata.name} running ${Date.now() - deployedAt} ms after the Deployment was applied`);
    expect([pod!.spec.nodeName, pod!.spec.hostNetwork, pod!.spec.containers[0]!.image]).toEqual([NODE, true, TAG]);

    // Its container's process, as containerd runs it: uid and gid 65532.
    const containerId = pod!.status.containerStatuses![0]!.containerID!.replace(/^containerd:\/\//, "");
    const tasks = execFileSync("ctr", ["-a", node!.containerdSocket, "-n", "k8s.io", "tasks", "list"], { encoding: "utf8" });
    const pid = new RegExp(`^${containerId}\\s+(\\d+)\\s+RUNNING`, "m").exec(tasks)?.[1];
    expect(pid, tasks).toBeDefined();
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    expect(/^Uid:\s+(.*)$/m.exec(status)?.[1]?.split(/\s+/)).toEqual(["65532", "65532", "65532", "65532"]);
    expect(/^Gid:\s+(.*)$/m.exec(status)?.[1]?.split(/\s+/)).toEqual(["65532", "65532", "65532", "65532"]);
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean)).toEqual(["/usr/local/bin/kpki", "approver", "run", "--leader-elect-namespace=kpki-system", "--metrics-bind-address=0.0.0.0:8080"]);

    // The serving CSR: approved by the pod, then signed by kcm.
    let decided: Csr | undefined;
    await waitFor("the serving CSR's certificate", async () => {
      decided = (await servingCsrs()).find((c) => c.metadata.name === pending!.metadata.name);
      return decided?.status?.certificate !== undefined;
    }, 120_000, 250);
    console.log(`serving CSR ${decided!.metadata.name} approved and issued ${Date.now() - deployedAt} ms after the Deployment was applied`);
    expect(decided!.status?.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([["Approved", "True", "NodeAddressesVerified"]]);

    // The pod's log, through the API server and the kubelet's new serving certificate (kube-apiserver
    // verifies it against kpki's ca.crt): the Lease it took and the approval it wrote.
    let log = "";
    await waitFor("the pod's log through the kubelet", async () => {
      const r = await admin("-n", "kpki-system", "logs", pod!.metadata.name);
      log = r.stdout;
      return r.code === 0 && log.includes('"msg":"approved"');
    }, 60_000, 500);
    const lines = log.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    const leader = lines.find((l) => l["msg"] === "became leader");
    expect(leader?.["lease"]).toBe("kpki-system/kpki-approver");
    expect(lines.filter((l) => l["msg"] === "approved" && l["csr"] === decided!.metadata.name)).toHaveLength(1);
    const lease = await getJson<{ spec: { holderIdentity?: string } }>("-n", "kpki-system", "get", "lease", "kpki-approver");
    expect(lease.spec.holderIdentity).toBe(leader?.["identity"]);
    console.log(`Lease kpki-system/kpki-approver held by ${lease.spec.holderIdentity} (pod ${pod!.metadata.name})`);

    // In-cluster configuration, through the Service: the DNAT rule kube-proxy wrote for
    // default/kubernetes:https has carried the pod's connections (the Deployment names no kubeconfig).
    const counted = inNode("iptables-save", ["-c", "-t", "nat"]).split("\n")
      .filter((l) => l.includes('"default/kubernetes:https"') && l.includes(`--to-destination ${network!.hostAddress}:${apiPort}`))
      .map((l) => Number(/^\[(\d+):\d+\]/.exec(l)?.[1] ?? 0));
    expect(counted.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);

    // The kubelet serves with the certificate the pod approved.
    const proxied = await admin("get", "--raw", `/api/v1/nodes/${NODE}/proxy/healthz`);
    expect([proxied.code, proxied.stdout]).toEqual([0, "ok"]);
    await waitFor("the pod ready (/readyz)", async () => (await runningPod())?.status.containerStatuses?.[0]?.ready === true, 60_000, 500);
    // deployment.yaml asks for 2 replicas with hostNetwork and containerPort 8080: the second cannot
    // share the one node's port 8080, so kube-scheduler leaves it Pending.
    const pods = await approverPods();
    expect(pods.map((p) => p.status.phase).sort()).toEqual(["Pending", "Running"]);
  }, 6 * 60_000);
});
