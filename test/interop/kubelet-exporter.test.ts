/**
 * kpki exporter's manifests on a real kubelet: the image scripts/build-image.sh builds (FROM scratch,
 * Debian's buildah) is imported into the node's containerd, and deploy/namespace.yaml and
 * deploy/exporter/rbac.yaml, daemonset.yaml and deployment.yaml are applied. The cluster (etcd,
 * kube-apiserver, kube-controller-manager, kube-scheduler, the kubelet with containerd, kube-proxy)
 * comes from test/helpers/kubelet-cluster.ts; nothing is pulled.
 *
 * What differs from the files in deploy/exporter/, and nothing else (each change is asserted):
 *   - the image reference, in both workloads;
 *   - daemonset.yaml's two hostPath paths: this test's node keeps kubelet.conf in its own folder's
 *     etc/ (not /etc/kubernetes) and its certificates in kubelet-root/pki (not /var/lib/kubelet/pki);
 *     they are mounted at /etc/kubernetes and /var/lib/kubelet/pki in the container, as on a
 *     kubeadm node;
 *   - one more volumeMount in daemonset.yaml: the same kubelet-pki volume also at the node's pki
 *     folder's own path, because the kubelet writes absolute paths (kubelet.conf's
 *     client-certificate, and the kubelet-client-current.pem symlink's target: client-go's
 *     util/certificate/certificate_store.go), which on a kubeadm node are under /var/lib/kubelet/pki
 *     and so already resolve in the container.
 *
 * Networking: the exporter pods are on the pod network (the bridge CNI config of worker-node.ts,
 * in the node's namespace). The test reads /metrics from inside that namespace (nsenter + curl), at
 * the DaemonSet pod's IP and at the Deployment's Service ClusterIP.
 *
 * The kubelet's fixed paths allow one worker node per machine: startWorkerNode() holds a lock that
 * serialises this file with test/interop/kubelet.test.ts and kubelet-image.test.ts.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubeletCluster, kubeletClusterUnsupported, waitForKubeProxy } from "../helpers/kubelet-cluster.js";
import { teardown, waitFor } from "../helpers/procs.js";
import { containerTools, isCi, kpkiBinary, type ContainerTools } from "../helpers/testenv.js";
import { samples as parseExposition, type Sample } from "../helpers/exposition.js";

const ROOT = resolve(import.meta.dirname, "../..");
const EXPORTER = join(ROOT, "deploy", "exporter");

const skip = kubeletClusterUnsupported("buildah", "podman", "ldd", "openssl", "curl");

/** Whether `kpki exporter` has its cluster sources (--secrets, --csrs), which deployment.yaml runs. */
function clusterSourceFlagsMissing(): string | undefined {
  const help = execFileSync(process.execPath, [join(ROOT, "dist/bin/kpki.js"), "exporter", "--help"], { encoding: "utf8" });
  if (/--secrets\b/.test(help) && /--csrs\b/.test(help)) return undefined;
  const reason = "`kpki exporter --help` (dist/bin/kpki.js) lists no --secrets and --csrs: deployment.yaml's cluster sources are not built";
  if (isCi()) throw new Error(`CI=true but ${reason}`);
  console.warn(`SKIP (the Deployment's test): ${reason}`);
  return reason;
}
const hasClusterSourceFlags = clusterSourceFlagsMissing() === undefined;

const work = mkdtempSync(join(tmpdir(), "kpki-kubelet-exporter-"));
const NODE = `kpki-x-${Math.random().toString(36).slice(2, 8)}`;
/** Not `latest`: with any other tag the kubelet's default pull policy is IfNotPresent, so the imported image is used as is. */
const TAG = `localhost/kpki:e2e-${Math.random().toString(36).slice(2, 8)}`;
const archive = join(work, "kpki.oci.tar");
const cluster = kubeletCluster({
  work, nodeName: NODE, imageArchives: [archive],
  // nodelifecycle takes the kubelet's node.kubernetes.io/not-ready:NoSchedule taint off once the Node is
  // Ready: a DaemonSet's pods do not tolerate it (only not-ready:NoExecute, pkg/controller/daemon/util).
  controllers: ["csrsigning", "csrapproving", "csrcleaner", "serviceaccount", "serviceaccount-token", "nodelifecycle", "daemonset", "deployment", "replicaset",
    "endpoint", "endpointslice"],
});
const { admin, getJson, inNode } = cluster;
const SECRET = "kpki-e2e-tls";
const CONTROL_PLANE_TAINTS = ["node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"];

let tools: ContainerTools | undefined;

interface Condition { type: string; status: string }
interface Pod {
  metadata: { name: string };
  spec: {
    nodeName?: string; hostNetwork?: boolean; automountServiceAccountToken?: boolean;
    containers: { image: string; volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[] }[];
  };
  status: { phase: string; podIP?: string; conditions?: Condition[]; containerStatuses?: { ready: boolean; containerID?: string; restartCount: number }[] };
}
interface Csr {
  metadata: { name: string };
  spec: { signerName: string; username: string };
  status?: { conditions?: Condition[]; certificate?: string };
}

/** The DaemonSet runs in its own namespace (Pod Security: privileged); the Deployment in kpki-system. */
const NAMESPACE = { node: "kpki-node", cluster: "kpki-system" } as const;
const exporterPods = async (component: "node" | "cluster"): Promise<Pod[]> =>
  (await getJson<{ items: Pod[] }>("-n", NAMESPACE[component], "get", "pods", "-l", `app.kubernetes.io/name=kpki-exporter,app.kubernetes.io/component=${component}`)).items;
async function readyPod(component: "node" | "cluster", timeoutMs: number): Promise<Pod> {
  let pod: Pod | undefined;
  await waitFor(`the ${component} exporter pod Ready`, async () => {
    pod = (await exporterPods(component)).find((p) => p.status.containerStatuses?.[0]?.ready === true);
    return pod !== undefined;
  }, timeoutMs, 500);
  return pod!;
}

/** A deploy/exporter file with the test's changes; asserts that exactly the expected lines changed and returns the text to apply. */
function manifest(file: string, hostPaths: Readonly<Record<string, string>>, extraMount?: { after: RegExp; line: string }): string {
  const original = readFileSync(join(EXPORTER, file), "utf8").split("\n");
  const out: string[] = [];
  const changed: string[] = [];
  for (const line of original) {
    let next = line.replace(/^(\s+image: )\S+.*$/, `$1${TAG}`);
    for (const [from, to] of Object.entries(hostPaths)) next = next.replace(new RegExp(`^(\\s+hostPath: \\{path: )${from}(, .*)$`), `$1${to}$2`);
    if (next !== line) changed.push(line.trim());
    out.push(next);
    if (extraMount && extraMount.after.test(line)) out.push(`${/^\s*/.exec(line)![0]}${extraMount.line}`);
  }
  expect(changed.map((l) => l.replace(/^(image|hostPath: \{path):? .*/, "$1"))).toEqual(["image", ...Object.keys(hostPaths).map(() => "hostPath: {path")]);
  expect(out.length).toBe(original.length + (extraMount ? 1 : 0));
  return out.join("\n");
}

/** GET from inside the node's network namespace: [HTTP status, body]. */
function getInNode(url: string): [number, string] {
  const out = inNode("curl", ["-sS", "--max-time", "5", "-w", "\n%{http_code}", url]);
  const cut = out.lastIndexOf("\n");
  return [Number(out.slice(cut + 1)), out.slice(0, cut)];
}
const metricsAt = (url: string): Sample[] => {
  const [status, body] = getInNode(url);
  if (status !== 200) throw new Error(`GET ${url}: ${status}`);
  return parseExposition(body);
};
const matching = (samples: Sample[], name: string, labels: Readonly<Record<string, string>>): Sample[] =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

/** notAfter as `openssl x509 -enddate` prints it, in seconds since the epoch; and the serial, in decimal. */
function opensslFacts(file: string): { notAfter: number; serial: string; subject: string } {
  const out = execFileSync("openssl", ["x509", "-noout", "-enddate", "-serial", "-subject", "-nameopt", "RFC2253", "-in", file], { encoding: "utf8" });
  const notAfter = /^notAfter=(.*)$/m.exec(out)?.[1];
  const serial = /^serial=([0-9A-Fa-f]+)$/m.exec(out)?.[1];
  const subject = /^subject=(.*)$/m.exec(out)?.[1];
  if (!notAfter || !serial || subject === undefined) throw new Error(`openssl x509 ${file}: ${out}`);
  return { notAfter: Date.parse(notAfter) / 1000, serial: BigInt(`0x${serial}`).toString(10), subject };
}

/** The first certificate of a kubeconfig's certificate-authority-data, written to a file for openssl. */
function kubeconfigCa(kubeconfig: string): string {
  const data = /certificate-authority-data: (\S+)/.exec(readFileSync(kubeconfig, "utf8"))?.[1];
  if (!data) throw new Error(`${kubeconfig} has no certificate-authority-data`);
  const file = join(work, "kubelet.conf.ca.crt");
  execFileSync("sh", ["-c", 'printf %s "$1" | base64 -d > "$2"', "sh", data, file]);
  return file;
}

describe.skipIf(skip)("kpki exporter's manifests on a real kubelet: deploy/exporter/ applied with only the image (and the test node's host paths) changed", () => {
  beforeAll(async () => {
    const binary = kpkiBinary();
    tools = containerTools(join(work, "containers"));
    const built = tools.buildImage({ tag: TAG, binary, tool: "buildah", archive });
    console.log(`image ${TAG}: ${built.imageBytes} bytes, built and saved in ${built.ms} ms`);
    await cluster.start();
    await waitForKubeProxy(cluster);
  }, 15 * 60_000);

  afterAll(async () => {
    const { attempt, finish } = teardown(work);
    // The pods first, through the API (the kubelet stops their containers); the node's stop() removes any left.
    if (cluster.node && cluster.controlPlane) {
      await attempt("delete the exporter pods", async () => {
        for (const ns of Object.values(NAMESPACE)) {
          await admin("-n", ns, "delete", "daemonset,deployment,replicaset", "-l", "app.kubernetes.io/name=kpki-exporter", "--cascade=orphan");
          await admin("-n", ns, "delete", "pods", "-l", "app.kubernetes.io/name=kpki-exporter", "--wait=false");
        }
        await waitFor("the exporter pods to go", async () => [...await exporterPods("node"), ...await exporterPods("cluster")].length === 0, 60_000, 500);
      });
    }
    await cluster.stop(attempt, tools);
    finish();
  }, 180_000);

  it("daemonset.yaml on a node tainted as a control-plane node: the pod tolerates it, runs as uid 0 with no capabilities, no new privileges, seccomp, a read-only root and read-only host folders, no service account token, and turns Ready", async () => {
    const node = cluster.node!;
    await waitFor("the Node registered", async () => (await admin("get", "node", NODE)).code === 0, 90_000, 500);
    const tainted = await admin("taint", "node", NODE, ...CONTROL_PLANE_TAINTS.map((t) => `${t}=:NoSchedule`));
    expect(tainted.code, tainted.stderr).toBe(0);

    // The kubelet's serving certificate, approved here, so that kubelet-server-current.pem exists too.
    let serving: Csr | undefined;
    await waitFor("the kubelet's serving CSR", async () => {
      serving = (await getJson<{ items: Csr[] }>("get", "csr")).items.find((c) => c.spec.signerName === "kubernetes.io/kubelet-serving" && c.spec.username === `system:node:${NODE}`);
      return serving !== undefined;
    }, 90_000, 250);
    const approved = await admin("certificate", "approve", serving!.metadata.name);
    expect(approved.code, approved.stderr).toBe(0);
    await waitFor("kubelet-server-current.pem", () => existsSync(join(node.pkiDir, "kubelet-server-current.pem")), 60_000, 250);

    for (const file of [join(ROOT, "deploy", "namespace.yaml"), join(EXPORTER, "rbac.yaml")]) {
      const r = await admin("apply", "-f", file);
      expect(r.code, r.stderr).toBe(0);
    }
    const etcDir = resolve(node.kubeconfig, "..");
    const daemonSet = manifest("daemonset.yaml", { "/etc/kubernetes": etcDir, "/var/lib/kubelet/pki": node.pkiDir },
      { after: /^\s+- \{name: kubelet-pki, mountPath: \/var\/lib\/kubelet\/pki, readOnly: true\}$/, line: `- {name: kubelet-pki, mountPath: ${node.pkiDir}, readOnly: true}` });
    const appliedAt = Date.now();
    await cluster.apply(daemonSet);
    const pod = await readyPod("node", 180_000);
    console.log(`DaemonSet pod ${pod.metadata.name} Ready ${Date.now() - appliedAt} ms after daemonset.yaml was applied`);
    const nodeObj = await getJson<{ spec: { taints?: { key: string; effect: string }[] } }>("get", "node", NODE);
    expect(nodeObj.spec.taints?.filter((t) => CONTROL_PLANE_TAINTS.includes(t.key)).map((t) => t.effect)).toEqual(["NoSchedule", "NoSchedule"]);
    expect([pod.spec.nodeName, pod.spec.hostNetwork ?? false, pod.spec.automountServiceAccountToken, pod.spec.containers[0]!.image]).toEqual([NODE, false, false, TAG]);
    // No token volume was mounted (the ServiceAccount admission plugin adds one unless automount is off).
    expect(pod.spec.containers[0]!.volumeMounts?.map((m) => [m.mountPath, m.readOnly])).toEqual([["/etc/kubernetes", true], ["/var/lib/kubelet/pki", true], [node.pkiDir, true]]);

    // The container's process as containerd runs it.
    const pid = cluster.containerPid(pod.status.containerStatuses![0]!.containerID!);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const field = (name: string): string | undefined => new RegExp(`^${name}:\\s+(.*)$`, "m").exec(status)?.[1]?.trim();
    expect(field("Uid")?.split(/\s+/)).toEqual(["0", "0", "0", "0"]);
    expect(["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].map(field)).toEqual(Array(5).fill("0000000000000000"));
    expect([field("NoNewPrivs"), field("Seccomp")]).toEqual(["1", "2"]);
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean)).toEqual(["/usr/local/bin/kpki", "exporter", "--listen=:9793"]);
    // Mount options inside the container: the root, and the host folders, read-only.
    const mounts = new Map(readFileSync(`/proc/${pid}/mountinfo`, "utf8").split("\n").filter(Boolean).map((l) => {
      const f = l.split(" ");
      return [f[4]!, f[5]!.split(",")] as const;
    }));
    for (const path of ["/", "/etc/kubernetes", "/var/lib/kubelet/pki", node.pkiDir]) expect(mounts.get(path), path).toContain("ro");
    expect([...mounts.keys()].filter((m) => m.includes("serviceaccount"))).toEqual([]);
    console.log(`DaemonSet pod: VmRSS ${field("VmRSS")}`);
  }, 6 * 60_000);

  it("the DaemonSet pod's /metrics (its pod IP, from the node's namespace): kubelet.conf's two certificates and the kubelet's two pem files, with the notAfter and serial `openssl x509` reads; no errors; /healthz and /readyz answer 200", async () => {
    const node = cluster.node!;
    const pod = (await exporterPods("node"))[0];
    expect(pod?.status.podIP).toMatch(/^10\.244\.0\.\d+$/);
    const base = `http://${pod!.status.podIP!}:9793`;
    expect(getInNode(`${base}/healthz`)[0]).toBe(200);
    expect(getInNode(`${base}/readyz`)[0]).toBe(200);
    const samples = metricsAt(`${base}/metrics`);
    const described = (s: Sample): string => `${s.name}{filepath=${s.labels["filepath"]},embedded_kind=${s.labels["embedded_kind"]},subject_CN=${s.labels["subject_CN"]}} ${s.value}`;
    console.log(`DaemonSet pod /metrics:\n${samples.filter((s) => s.name === "x509_cert_not_after" || s.name === "x509_cert_error").map(described).join("\n")}`);

    const client = opensslFacts(join(node.pkiDir, "kubelet-client-current.pem"));
    const server = opensslFacts(join(node.pkiDir, "kubelet-server-current.pem"));
    const ca = opensslFacts(kubeconfigCa(node.kubeconfig));
    // The kubelet's symlinks point at dated files by absolute path, under the node's pki folder.
    expect(realpathSync(join(node.pkiDir, "kubelet-client-current.pem")).startsWith(`${node.pkiDir}/kubelet-client-`)).toBe(true);
    expect(client.subject).toBe(`CN=system:node:${NODE},O=system:nodes`);

    const notAfter = (labels: Record<string, string>): number[] => matching(samples, "x509_cert_not_after", labels).map((s) => s.value);
    const serials = (labels: Record<string, string>): string[] => matching(samples, "x509_cert_not_after", labels).map((s) => s.labels["serial_number"]!);
    const conf = { filepath: "/etc/kubernetes/kubelet.conf", filename: "kubelet.conf" };
    expect(notAfter({ ...conf, embedded_kind: "user", subject_CN: `system:node:${NODE}`, kubeadm_name: "kubelet.conf" })).toEqual([client.notAfter]);
    expect(serials({ ...conf, embedded_kind: "user" })).toEqual([client.serial]);
    expect(notAfter({ ...conf, embedded_kind: "cluster", chain_position: "root", kubeadm_name: "kubelet.conf" })).toEqual([ca.notAfter]);
    expect(serials({ ...conf, embedded_kind: "cluster" })).toEqual([ca.serial]);
    const clientPem = { filepath: "/var/lib/kubelet/pki/kubelet-client-current.pem", filename: "kubelet-client-current.pem", embedded_kind: "" };
    expect(notAfter(clientPem)).toEqual([client.notAfter]);
    expect(serials(clientPem)).toEqual([client.serial]);
    const serverPem = { filepath: "/var/lib/kubelet/pki/kubelet-server-current.pem", filename: "kubelet-server-current.pem", subject_CN: `system:node:${NODE}` };
    expect(notAfter(serverPem)).toEqual([server.notAfter]);
    expect(serials(serverPem)).toEqual([server.serial]);
    // Four certificates in all (the node has no kubeadm files), none expired, and no errors.
    expect(matching(samples, "x509_cert_not_after", {}).length).toBe(4);
    expect(matching(samples, "x509_cert_expired", {}).map((s) => s.value)).toEqual([0, 0, 0, 0]);
    expect(matching(samples, "x509_cert_error", {})).toEqual([]);
    expect(matching(samples, "x509_source_up", { source_name: "kubelet" }).map((s) => s.value)).toEqual([1]);
    expect(matching(samples, "x509_source_errors_total", {}).filter((s) => s.value !== 0)).toEqual([]);
    console.log(`DaemonSet pod /metrics: kubelet.conf user notAfter ${new Date(client.notAfter * 1000).toISOString()}, kubelet-server-current.pem ${new Date(server.notAfter * 1000).toISOString()}`);
  }, 60_000);

  it("rbac.yaml: the kpki-exporter service account may list and watch Secrets, ConfigMaps and CertificateSigningRequests (SubjectAccessReviews of the real RBAC authorizer), and get, write or read nothing else", async () => {
    const can = async (...args: string[]): Promise<boolean> => {
      const r = await admin("auth", "can-i", ...args, "--as=system:serviceaccount:kpki-system:kpki-exporter");
      if (r.code !== 0 && r.stdout.trim() !== "no") throw new Error(`kubectl auth can-i ${args.join(" ")}: ${r.stderr}`);
      return r.code === 0;
    };
    const allowed: string[][] = [];
    for (const verb of ["list", "watch"]) {
      for (const resource of ["secrets", "configmaps"]) allowed.push([verb, resource, "--all-namespaces"], [verb, resource, "-n", "kube-system"]);
      allowed.push([verb, "certificatesigningrequests.certificates.k8s.io"]);
    }
    for (const args of allowed) expect(await can(...args), args.join(" ")).toBe(true);
    const refused = [
      ["get", "secrets", "-n", "default"], ["get", "configmaps", "-n", "default"], ["get", "certificatesigningrequests.certificates.k8s.io"],
      ["create", "secrets", "-n", "default"], ["update", "secrets", "-n", "default"], ["delete", "configmaps", "-n", "default"],
      ["update", "certificatesigningrequests.certificates.k8s.io", "--subresource=approval"], ["list", "pods", "--all-namespaces"], ["list", "nodes"],
      ["list", "namespaces"], ["list", "serviceaccounts", "--all-namespaces"],
    ];
    for (const args of refused) expect(await can(...args), args.join(" ")).toBe(false);
  }, 60_000);

  it.skipIf(!hasClusterSourceFlags)("deployment.yaml (only the image changed): the pod runs as 65532 with the service account, is Ready, and a TLS Secret made with kubectl appears on the Service's /metrics with secret_namespace, secret_name and secret_key, and goes after kubectl delete secret; the kubelet's client CSR is there too", async () => {
    // The Deployment has no control-plane tolerations: the node is a worker again.
    const untainted = await admin("taint", "node", NODE, ...CONTROL_PLANE_TAINTS.map((t) => `${t}:NoSchedule-`));
    expect(untainted.code, untainted.stderr).toBe(0);
    // The service account's token Secret (kcm's serviceaccount-token controller) before the pods,
    // so that the ReplicaSet's first attempt is admitted.
    await waitFor("the kpki-exporter service account's token", async () =>
      ((await getJson<{ secrets?: { name: string }[] }>("-n", "kpki-system", "get", "serviceaccount", "kpki-exporter")).secrets?.length ?? 0) > 0, 60_000, 250);
    const appliedAt = Date.now();
    await cluster.apply(manifest("deployment.yaml", {}));
    const pod = await readyPod("cluster", 180_000);
    console.log(`Deployment pod ${pod.metadata.name} Ready ${Date.now() - appliedAt} ms after deployment.yaml was applied`);
    const pid = cluster.containerPid(pod.status.containerStatuses![0]!.containerID!);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    expect(/^Uid:\s+(.*)$/m.exec(status)?.[1]?.split(/\s+/)).toEqual(["65532", "65532", "65532", "65532"]);
    expect(/^CapEff:\s+(.*)$/m.exec(status)?.[1]).toBe("0000000000000000");
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean))
      .toEqual(["/usr/local/bin/kpki", "exporter", "--listen=:9793", "--no-kubeadm", "--no-kubelet", "--secrets", "--csrs"]);
    console.log(`Deployment pod: VmRSS ${/^VmRSS:\s+(.*)$/m.exec(status)?.[1]}`);

    const service = await getJson<{ spec: { clusterIP: string } }>("-n", "kpki-system", "get", "service", "kpki-exporter-cluster");
    const url = `http://${service.spec.clusterIP}:9793/metrics`;

    // The kubelet's client certificate came from a CSR that carries it in status.certificate.
    const clientCsr = (await getJson<{ items: Csr[] }>("get", "csr")).items.find((c) =>
      c.spec.signerName === "kubernetes.io/kube-apiserver-client-kubelet" && c.status?.certificate !== undefined);
    expect(clientCsr).toBeDefined();
    const csrPem = join(work, "client-csr.crt");
    execFileSync("sh", ["-c", 'printf %s "$1" | base64 -d > "$2"', "sh", clientCsr!.status!.certificate!, csrPem]);
    const csrFacts = opensslFacts(csrPem);
    await waitFor("the kubelet's client CSR on the Service's /metrics", () =>
      matching(metricsAt(url), "x509_cert_not_after", { csr_name: clientCsr!.metadata.name }).some((s) => s.value === csrFacts.notAfter), 60_000, 500);

    // A TLS Secret, made with openssl and kubectl.
    const [crt, key] = [join(work, "e2e-tls.crt"), join(work, "e2e-tls.key")];
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=kpki-exporter-e2e", "-days", "30",
      "-keyout", key, "-out", crt], { stdio: "ignore" });
    const made = opensslFacts(crt);
    const created = await admin("-n", "default", "create", "secret", "tls", SECRET, `--cert=${crt}`, `--key=${key}`);
    expect(created.code, created.stderr).toBe(0);
    let found: Sample[] = [];
    await waitFor(`Secret default/${SECRET} on the Service's /metrics`, () => {
      found = matching(metricsAt(url), "x509_cert_not_after", { secret_name: SECRET });
      return found.length > 0;
    }, 60_000, 250);
    expect(found.map((s) => [s.labels["secret_namespace"], s.labels["secret_name"], s.labels["secret_key"], s.labels["subject_CN"], s.labels["serial_number"], s.value]))
      .toEqual([["default", SECRET, "tls.crt", "kpki-exporter-e2e", made.serial, made.notAfter]]);
    expect(found[0]!.labels["filepath"]).toBe("");
    console.log(`Secret default/${SECRET} on /metrics ${Date.now() - appliedAt} ms after deployment.yaml was applied`);

    const deleted = await admin("-n", "default", "delete", "secret", SECRET);
    expect(deleted.code, deleted.stderr).toBe(0);
    await waitFor(`Secret default/${SECRET} gone from /metrics`, () => matching(metricsAt(url), "x509_cert_not_after", { secret_name: SECRET }).length === 0, 60_000, 250);
    expect(matching(metricsAt(url), "x509_cert_error", { secret_name: SECRET })).toEqual([]);
  }, 6 * 60_000);
});
