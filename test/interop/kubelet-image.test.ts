/**
 * The approver image on a real kubelet: the image scripts/build-image.sh builds (FROM scratch,
 * Debian's buildah) is imported into the node's containerd with the pause image
 * scripts/setup-testenv.sh built, and deploy/namespace.yaml, rbac.yaml and deployment.yaml are
 * applied with only the image reference changed. Nothing is pulled. The pod (hostNetwork, as the
 * Deployment asks) takes the Lease and approves the serving CSR of the kubelet it runs on, which
 * kube-controller-manager then signs from kpki's ca.key.
 *
 * What a Deployment needs that the other kubelet test does not start (test/helpers/kubelet-cluster.ts
 * starts all of it): kube-scheduler;
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
 * startWorkerNode() holds a lock that serialises this file with test/interop/kubelet.test.ts and
 * test/interop/kubelet-exporter.test.ts.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubeletCluster, kubeletClusterUnsupported, waitForKubeProxy } from "../helpers/kubelet-cluster.js";
import { kubectl } from "../helpers/kubectl.js";
import { teardown, waitFor } from "../helpers/procs.js";
import { containerTools, kpkiBinary, pauseImage, type ContainerTools } from "../helpers/testenv.js";

const ROOT = resolve(import.meta.dirname, "../..");

const skip = kubeletClusterUnsupported("buildah", "podman", "ldd");
const work = mkdtempSync(join(tmpdir(), "kpki-kubelet-image-"));
const NODE = `kpki-i-${Math.random().toString(36).slice(2, 8)}`;
/** Not `latest`: with any other tag the kubelet's default pull policy is IfNotPresent, so the imported image is used as is. */
const TAG = `localhost/kpki:e2e-${Math.random().toString(36).slice(2, 8)}`;
const archive = join(work, "kpki.oci.tar");
const cluster = kubeletCluster({ work, nodeName: NODE, imageArchives: [archive],
  controllers: ["csrsigning", "csrapproving", "csrcleaner", "serviceaccount", "serviceaccount-token", "deployment", "replicaset"] });
const dir = cluster.dir;

let tools: ContainerTools | undefined;

const { admin, getJson, inNode } = cluster;

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
    // The image, with Debian's buildah, saved as an OCI archive for containerd; then the cluster
    // (test/helpers/kubelet-cluster.ts), which imports it into the node's containerd.
    const binary = kpkiBinary();
    tools = containerTools(join(work, "containers"));
    const built = tools.buildImage({ tag: TAG, binary, tool: "buildah", archive });
    console.log(`image ${TAG}: ${built.imageBytes} bytes, built and saved in ${built.ms} ms`);
    await cluster.start();
  }, 15 * 60_000);

  afterAll(async () => {
    const { attempt, finish } = teardown(work);
    // The pods first, through the API (the kubelet stops their containers); stop() removes any left.
    if (cluster.node && cluster.controlPlane) {
      await attempt("scale the Deployment to 0", async () => {
        const r = await admin("-n", "kpki-system", "scale", "deployment", "kpki-approver", "--replicas=0");
        if (r.code === 0) await waitFor("the approver pods to go", async () => (await approverPods()).length === 0, 60_000, 500);
      });
    }
    await cluster.stop(attempt, tools);
    finish();
  }, 180_000);

  it("containerd holds the approver image and the pause image, imported from OCI archives (nothing to pull); kube-proxy has programmed the `kubernetes` Service in the node's namespace", async () => {
    const images = execFileSync("ctr", ["-a", cluster.node!.containerdSocket, "-n", "k8s.io", "images", "list", "-q"], { encoding: "utf8" }).split("\n");
    expect(images).toContain(TAG);
    expect(images).toContain(pauseImage()!.name);
    await waitForKubeProxy(cluster);
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
    const pid = cluster.containerPid(pod!.status.containerStatuses![0]!.containerID!);
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
      .filter((l) => l.includes('"default/kubernetes:https"') && l.includes(`--to-destination ${cluster.network!.hostAddress}:${cluster.apiPort}`))
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
