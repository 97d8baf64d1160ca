/**
 * A real kubelet v1.20.2 (with Debian's containerd) in a network namespace, joined by TLS bootstrap
 * as kubeadm does it, to a control plane on a kpki PKI. Its serving-certificate CSRs are approved by
 * `kpki approver run` (a real process, deploy/ RBAC, no policy flags) and signed by
 * kube-controller-manager from kpki's ca.key; kube-apiserver verifies the kubelet's serving
 * certificate against kpki's ca.crt on every proxied call.
 *
 * This file starts its own control plane: kube-apiserver has to listen on the host end of the node's
 * veth pair (with that address in its certificate), verify kubelets, and accept bootstrap tokens,
 * and kube-controller-manager has to auto-approve kubelet client CSRs and sign with a short
 * duration; the shared control plane of test/setup/control-plane.ts does none of that.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCsr } from "../../src/pki/csr.js";
import { generateKeyPair } from "../../src/pki/keys.js";
import { parseIp } from "../../src/pki/ip.js";
import { crypto } from "../helpers/clock.js";
import { controlPlane, type ControlPlane } from "../helpers/control-plane.js";
import { freePort, stopProcess, teardown, waitFor } from "../helpers/procs.js";
import { findBinary, missingBinaries } from "../helpers/testenv.js";
import { bootstrapToken, createNodeNetwork, kubeadmBootstrapObjects, startWorkerNode, workerNodeUnsupported, type NodeNetwork, type WorkerNode } from "../helpers/worker-node.js";
import { kubectl } from "../helpers/kubectl.js";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");
const KPKI = join(ROOT, "dist/bin/kpki.js");
const skip = missingBinaries("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "kubelet", "containerd", "runc", "openssl") ?? workerNodeUnsupported();
const work = mkdtempSync(join(tmpdir(), "kpki-kubelet-"));
const dir = join(work, "cluster");
const NODE = `kpki-w-${Math.random().toString(36).slice(2, 8)}`;
/** kubeadm's bootstrap token format: [a-z0-9]{6}.[a-z0-9]{16}. */
const { id: TOKEN_ID, secret: TOKEN_SECRET } = bootstrapToken();
/**
 * kube-controller-manager's signing duration. The 1.20 signer backdates notBefore by 5 minutes, and
 * the kubelet rotates at 70-90 % of notAfter - notBefore (client-go util/certificate
 * certificate_manager.go, jitteryDuration): with 8m a certificate lives 3 minutes after issue and is
 * replaced 0.6-2.2 minutes after issue.
 */
const SIGNING_DURATION = "8m";

let network: NodeNetwork | undefined;
let cp: ControlPlane | undefined;
let node: WorkerNode | undefined;
let approver: { child: ChildProcess; log: string } | undefined;
let approverStarts = 0;
/** When the approver was SIGKILLed, right after the first serving certificate (see the rotation test). */
let approverKilledAt: number | undefined;
let watch: CsrWatch | undefined;

/** When this test first saw each CSR, its Approved condition and its certificate (ms since the epoch). */
interface Seen { added: number; approved?: number; issued?: number }
interface CsrWatch { readonly seen: Map<string, Seen>; stop(): void }
/**
 * `kubectl get csr --watch` as super-admin, one line per event, restarted when the API server drops
 * it. Timestamps are this process's clock when the event arrived (a relist after a restart counts
 * as the first sight only for CSRs not seen before).
 */
function watchCsrs(): CsrWatch {
  const seen = new Map<string, Seen>();
  let child: ChildProcess | undefined;
  let stopped = false;
  const start = (): void => {
    child = spawn(findBinary("kubectl")!, ["--kubeconfig", join(dir, "super-admin.conf"), "get", "csr", "--watch", "--output-watch-events", "-o",
      'jsonpath={.type} {.object.metadata.name} {.object.status.conditions[*].type} {.object.status.certificate}{"\\n"}'], { stdio: ["ignore", "pipe", "ignore"] });
    let buf = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const [, name, ...rest] = buf.slice(0, nl).split(" ");
        buf = buf.slice(nl + 1);
        if (!name) continue;
        const now = Date.now();
        const s = seen.get(name) ?? { added: now };
        if (rest.includes("Approved") && s.approved === undefined) s.approved = now;
        if (rest.some((x) => x.length > 100) && s.issued === undefined) s.issued = now;
        seen.set(name, s);
      }
    });
    child.on("exit", () => void (stopped || setTimeout(() => stopped || start(), 500)));
  };
  start();
  return { seen, stop: () => { stopped = true; child?.kill("SIGTERM"); } };
}

const admin = (...args: string[]) => kubectl(["--kubeconfig", join(dir, "super-admin.conf"), ...args]);
const kpki = (...args: string[]) => run(process.execPath, [KPKI, ...args], { maxBuffer: 16 << 20 });
async function apply(obj: unknown): Promise<void> {
  const r = await kubectl(["--kubeconfig", join(dir, "super-admin.conf"), "apply", "-f", "-"], JSON.stringify(obj));
  expect(r.code, r.stderr).toBe(0);
}

/** Starts `kpki approver run` as a real process with no policy flags, as deploy/deployment.yaml does. */
async function startApprover(): Promise<void> {
  const metrics = await freePort();
  const log = join(work, `approver-${++approverStarts}.log`);
  const fd = openSync(log, "a");
  const child = spawn(process.execPath, [KPKI, "approver", "run", "--kubeconfig", join(dir, "approver.conf"), "--identity", `r${approverStarts}`,
    "--leader-elect-namespace", "kpki-system", "--lease-duration", "4s", "--renew-deadline", "3s", "--retry-period", "1s",
    "--metrics-bind-address", `127.0.0.1:${metrics}`], { stdio: ["ignore", fd, fd] });
  closeSync(fd);
  approver = { child, log };
}
const approverLogs = (): string => Array.from({ length: approverStarts }, (_, i) => readFileSync(join(work, `approver-${i + 1}.log`), "utf8")).join("");

interface Condition { type: string; status: string; reason?: string; message?: string; lastUpdateTime?: string }
interface Csr {
  metadata: { name: string; creationTimestamp: string };
  spec: { request: string; signerName: string; usages: string[]; username: string; groups: string[]; uid?: string; extra?: unknown; expirationSeconds?: number };
  status?: { conditions?: Condition[]; certificate?: string };
}
async function csrs(): Promise<Csr[]> {
  const r = await admin("get", "csr", "-o", "json");
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { items: Csr[] }).items;
}
/** This node's kubelet-serving CSRs, oldest first. */
async function servingCsrs(): Promise<Csr[]> {
  return (await csrs()).filter((c) => c.spec.signerName === "kubernetes.io/kubelet-serving" && c.spec.username === `system:node:${NODE}`)
    .sort((a, b) => a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp) || a.metadata.name.localeCompare(b.metadata.name));
}
const approvedCondition = (c: Csr): Condition | undefined => c.status?.conditions?.find((x) => x.type === "Approved");
/** The CSR's request, parsed by openssl (text form). */
function csrText(c: Csr): string {
  const f = join(work, `${c.metadata.name}.csr`);
  writeFileSync(f, Buffer.from(c.spec.request, "base64"));
  return readOpenssl(["req", "-in", f, "-noout", "-text"]);
}
const pubkeyOfCsr = (c: Csr): string => {
  const f = join(work, `${c.metadata.name}.csr`);
  writeFileSync(f, Buffer.from(c.spec.request, "base64"));
  return readOpenssl(["req", "-in", f, "-noout", "-pubkey"]);
};
const readOpenssl = (args: string[]): string => execFileSync("openssl", args, { encoding: "utf8" });

/** openssl's notAfter of the first certificate in a PEM file, as a Date. */
function opensslNotAfter(file: string): Date {
  const out = readOpenssl(["x509", "-in", file, "-noout", "-enddate"]).trim();
  return new Date(out.replace(/^notAfter=/, ""));
}
const pemCert = (file: string): X509Certificate => new X509Certificate(readFileSync(file));

/**
 * The rotation deadline the kubelet logged for the certificate that expires at `validTo` (client-go
 * util/certificate/certificate_manager.go: "Certificate expiration is %v, rotation deadline is %v",
 * Go's time.String() format).
 */
function rotationDeadline(log: string, validTo: string): Date {
  const goTime = (t: string): Date => {
    const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d+)? ([+-]\d\d)(\d\d)/.exec(t);
    if (!m) throw new Error(`not a Go time: ${t}`);
    return new Date(`${m[1]}T${m[2]}${(m[3] ?? "").slice(0, 4)}${m[4]}:${m[5]}`);
  };
  const want = new Date(validTo).getTime();
  const found = [...log.matchAll(/Certificate expiration is (.+?), rotation deadline is (.+?)\n/g)]
    .filter((m) => Math.abs(goTime(m[1]!).getTime() - want) < 1000).map((m) => goTime(m[2]!));
  if (!found.length) throw new Error(`the kubelet logged no rotation deadline for the certificate that expires at ${validTo}`);
  return found[found.length - 1]!;
}

describe.skipIf(skip)("a real kubelet v1.20.2: TLS bootstrap on a kpki PKI, serving certificates approved by kpki approver run", () => {
  beforeAll(async () => {
    network = createNodeNetwork();
    const apiPort = await freePort();
    // The cluster PKI as kubeadm makes it (RSA-2048), for an API server on the host end of the veth pair.
    await kpki("init", "--dir", dir, "--node-name", "cp", "--apiserver-advertise-address", network.hostAddress, "--apiserver-bind-port", String(apiPort));
    const cpWork = join(work, "cp");
    mkdirSync(cpWork);
    cp = await controlPlane({ etcd: findBinary("etcd")!, kubeApiserver: findBinary("kube-apiserver")!, kubeControllerManager: findBinary("kube-controller-manager")! }, {
      dir, work: cpWork, apiPort, etcdMembers: 1, controllerManager: true,
      advertiseAddress: network.hostAddress, bindAddress: network.hostAddress, verifyKubelets: true,
      controllers: ["csrsigning", "csrapproving", "csrcleaner"], signingDuration: SIGNING_DURATION,
    });
    await cp.start();
    const endpoint = ["--dir", dir, "--apiserver-advertise-address", network.hostAddress, "--apiserver-bind-port", String(apiPort)];

    // kubeadm's bootstrap RBAC (kubeadm init phase bootstrap-token) and its cluster-admins group,
    // which kube-apiserver's kubelet client certificate belongs to (the kubelet's webhook authorizer asks).
    for (const o of kubeadmBootstrapObjects({ id: TOKEN_ID, secret: TOKEN_SECRET })) await apply(o);
    // bootstrap-kubelet.conf: kpki's ca.crt and the token, as `kubeadm join` writes it.
    const boot = await kpki("kubeconfig", "user", "--client-name", "tls-bootstrap-token-user", "--token", `${TOKEN_ID}.${TOKEN_SECRET}`, ...endpoint);
    writeFileSync(join(work, "bootstrap-kubelet.conf"), boot.stdout, { mode: 0o600 });

    // The approver: deploy/ RBAC bound to a kubeconfig user that kpki issued.
    const { stdout } = await kpki("kubeconfig", "user", "--client-name", "kpki-approver-kubelet", ...endpoint);
    writeFileSync(join(dir, "approver.conf"), stdout, { mode: 0o600 });
    expect((await admin("apply", "-f", join(ROOT, "deploy/namespace.yaml"))).code).toBe(0);
    const rbac = await admin("apply", "-f", join(ROOT, "deploy/rbac.yaml"));
    expect(rbac.code, rbac.stderr).toBe(0);
    const user = "--user=kpki-approver-kubelet";
    for (const args of [["create", "clusterrolebinding", "kpki-approver-kubelet", "--clusterrole=kpki-approver", user],
      ["-n", "default", "create", "rolebinding", "kpki-approver-kubelet-events", "--role=kpki-approver-events", user],
      ["-n", "kpki-system", "create", "rolebinding", "kpki-approver-kubelet-lease", "--role=kpki-approver-lease", user],
      ["-n", "default", "create", "rolebinding", "kpki-approver-kubelet-discovery", "--role=kpki-approver-discovery", user],
      ["-n", "kube-system", "create", "rolebinding", "kpki-approver-kubelet-kubeadm-config", "--role=kpki-approver-kubeadm-config", user]]) {
      const r = await admin(...args);
      expect(r.code, r.stderr).toBe(0);
    }
    await startApprover();
    watch = watchCsrs();
  }, 180_000);

  afterAll(async () => {
    const { attempt, finish } = teardown(work);
    watch?.stop();
    await attempt("approver", () => stopProcess(approver?.child.pid, "SIGTERM", 3000));
    await attempt("worker node", () => node?.stop());
    await attempt("control plane", () => cp?.stop());
    await attempt("network", () => network?.remove());
    finish();
  }, 120_000);

  it("TLS bootstrap: kcm approves and signs the client CSR from kpki's ca.key; kpki approves the serving CSR a real kubelet sends; the API server verifies the kubelet's certificate on proxy/healthz", async () => {
    node = await startWorkerNode({ network: network!, nodeName: NODE, work: join(work, "node"), kubelet: findBinary("kubelet")!, containerd: findBinary("containerd")!,
      clientCaFile: join(dir, "pki", "ca.crt"), bootstrapKubeconfig: join(work, "bootstrap-kubelet.conf") });
    const t0 = node.startedAt;
    const failIfExited = (): void => {
      const pid = node?.kubeletPid;
      try {
        if (pid) process.kill(pid, 0);
      } catch {
        throw new Error(`the kubelet exited; last log lines:\n${readFileSync(node!.kubeletLog, "utf8").split("\n").slice(-30).join("\n")}`);
      }
    };

    // 1. The client certificate: bootstrap CSR, approved by kcm's csrapproving, signed from ca.key.
    let client: Csr | undefined;
    await waitFor("the kubelet's client certificate", async () => {
      failIfExited();
      client = (await csrs()).find((c) => c.spec.signerName === "kubernetes.io/kube-apiserver-client-kubelet" && c.status?.certificate);
      return client !== undefined;
    }, 60_000, 250);
    expect(client!.spec.username).toBe(`system:bootstrap:${TOKEN_ID}`);
    expect(approvedCondition(client!)?.reason).toBe("AutoApproved");
    await waitFor("kubelet.conf", () => {
      try {
        return readFileSync(node!.kubeconfig, "utf8").includes("kubelet-client-current.pem");
      } catch {
        return false;
      }
    }, 30_000, 100);
    const clientPem = realpathSync(join(node.pkiDir, "kubelet-client-current.pem"));
    expect(readFileSync(node.kubeconfig, "utf8")).toContain(`client-certificate: ${join(node.pkiDir, "kubelet-client-current.pem")}`);
    const ca = pemCert(join(dir, "pki", "ca.crt"));
    expect(pemCert(clientPem).verify(ca.publicKey)).toBe(true);
    expect(pemCert(clientPem).subject).toBe(`O=system:nodes\nCN=system:node:${NODE}`);

    // 2. The Node, with the addresses the serving CSR will name.
    await waitFor("the Node", async () => {
      failIfExited();
      return (await admin("get", "node", NODE)).code === 0;
    }, 60_000, 250);

    // 3. The serving CSR, as the kubelet sends it, approved by kpki and signed by kcm.
    let serving: Csr | undefined;
    await waitFor("the kubelet's serving CSR", async () => {
      failIfExited();
      serving = (await servingCsrs())[0];
      return serving !== undefined;
    }, 60_000, 100);
    let issued: Csr | undefined;
    await waitFor("the serving certificate", async () => {
      issued = (await servingCsrs()).find((c) => c.metadata.name === serving!.metadata.name && c.status?.certificate);
      return issued !== undefined;
    }, 60_000, 100);
    const issuedAt = Date.now();
    // SIGKILL the approver now, while the kubelet's first rotation is still at least half a minute
    // away, so that the rotation test below sees that CSR arrive with no approver running.
    approverKilledAt = Date.now();
    await stopProcess(approver!.child.pid, "SIGKILL", 0);
    // What a real 1.20 kubelet sends: three usages with an ECDSA P-256 key, SANs from the Node's addresses.
    expect(issued!.spec.usages).toEqual(["digital signature", "key encipherment", "server auth"]);
    expect([issued!.spec.username, issued!.spec.groups, issued!.spec.uid, issued!.spec.extra, issued!.spec.expirationSeconds])
      .toEqual([`system:node:${NODE}`, ["system:nodes", "system:authenticated"], undefined, undefined, undefined]);
    const req = csrText(issued!);
    expect(req).toMatch(/Subject: O\s?=\s?system:nodes, CN\s?=\s?system:node:/);
    expect(req).toMatch(/ASN1 OID: prime256v1/);
    expect(req).toContain(`DNS:${NODE}, IP Address:${network!.nodeAddress}`);
    const approved = approvedCondition(issued!);
    expect([approved?.status, approved?.reason]).toEqual(["True", "NodeAddressesVerified"]);
    expect(issued!.status?.conditions?.map((c) => c.type)).toEqual(["Approved"]);
    const cert = new X509Certificate(Buffer.from(issued!.status!.certificate!, "base64"));
    expect(cert.subjectAltName).toBe(`DNS:${NODE}, IP Address:${network!.nodeAddress}`);
    expect(cert.verify(ca.publicKey)).toBe(true);
    const certFile = join(work, `${issued!.metadata.name}.crt`);
    writeFileSync(certFile, cert.toString());
    expect(readOpenssl(["x509", "-in", certFile, "-noout", "-ext", "keyUsage,extendedKeyUsage,basicConstraints"]).replace(/\s+/g, " ").trim())
      .toBe("X509v3 Key Usage: critical Digital Signature, Key Encipherment X509v3 Extended Key Usage: TLS Web Server Authentication X509v3 Basic Constraints: critical CA:FALSE");

    // Times as the test's watch saw them arrive.
    const c = watch!.seen.get(client!.metadata.name);
    const w = watch!.seen.get(issued!.metadata.name);
    console.log(`kubelet: start -> client CSR ${c ? c.added - t0 : "?"} ms, -> client certificate issued ${c?.issued ? c.issued - t0 : "?"} ms; `
      + `start -> serving CSR created ${w ? w.added - t0 : "?"} ms, serving CSR created -> Approved ${w?.approved ? w.approved - w.added : "?"} ms, `
      + `start -> serving certificate issued ${w?.issued ? w.issued - t0 : "?"} ms (polled: ${issuedAt - t0} ms)`);

    // 4. The kubelet serves with it, and kube-apiserver (--kubelet-certificate-authority=ca.crt) accepts it.
    await waitFor("kubelet-server-current.pem", () => {
      try {
        return realpathSync(join(node!.pkiDir, "kubelet-server-current.pem")) !== "";
      } catch {
        return false;
      }
    }, 30_000, 100);
    expect(pemCert(join(node.pkiDir, "kubelet-server-current.pem")).fingerprint256).toBe(cert.fingerprint256);
    let proxied = { code: 1, stdout: "", stderr: "" };
    await waitFor("proxy/healthz", async () => {
      proxied = await admin("get", "--raw", `/api/v1/nodes/${NODE}/proxy/healthz`);
      return proxied.code === 0;
    }, 30_000, 250);
    expect(proxied.stdout).toBe("ok");
    console.log(`kubelet: start -> proxy/healthz ok ${Date.now() - t0} ms`);
    // The bridge network config is enough for the runtime: the Node turns Ready.
    await waitFor("the Node to be Ready", async () =>
      (await admin("get", "node", NODE, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}")).stdout === "True", 60_000, 500);
    const addresses = JSON.parse((await admin("get", "node", NODE, "-o", "jsonpath={.status.addresses}")).stdout) as { type: string; address: string }[];
    expect(addresses).toEqual([{ type: "InternalIP", address: network!.nodeAddress }, { type: "Hostname", address: NODE }]);
  }, 180_000);

  it("kpki certs check-expiration --kubelet reads the real kubelet's pki folder: kubelet.conf's user, the client and serving certificates through their *-current.pem links, with openssl's dates and serials, chain ok (signatures verified) and key match", async () => {
    const pki = node!.pkiDir;
    const links = ["kubelet-client-current.pem", "kubelet-server-current.pem"].map((f) => join(pki, f));
    // With serverTLSBootstrap the kubelet writes no kubelet.crt (cmd/kubelet/app/server.go,
    // InitializeTLS) but kubelet-server-*.pem and the kubelet-server-current.pem link, which --kubelet reads.
    type Row = { name: string; path: string; subject?: string; issuer?: string; serialNumber?: string; expirationDate?: string | null; status: string; chain: string; key: string };
    // The kubelet may rotate between two reads: retry until the files did not change around the run.
    for (let attempt = 1; ; attempt++) {
      const before = links.map((f) => realpathSync(f));
      // --verify: every signature checked (without it, chains are only linked by names and key identifiers).
      const r = await kpki("certs", "check-expiration", "--no-kubeadm", "--verify", "--kubelet", "--kubelet-dir", pki, "--kubeconfig-dir", dirname(node!.kubeconfig), "-o", "json");
      const after = links.map((f) => realpathSync(f));
      if (before.join() !== after.join() && attempt < 3) continue;
      const rows = (JSON.parse(r.stdout) as { additionalCertificates: Row[] }).additionalCertificates;
      const fromConf = rows.find((x) => x.name.startsWith(`${node!.kubeconfig} user `));
      const client = rows.find((x) => x.path === links[0] && x !== fromConf);
      const server = rows.find((x) => x.path === links[1]);
      const expected = (file: string) => ({
        path: file, subject: `O=system:nodes, CN=system:node:${NODE}`, issuer: "CN=kubernetes",
        // openssl reads the file the link points at
        serialNumber: readOpenssl(["x509", "-in", realpathSync(file), "-noout", "-serial"]).trim().replace(/^serial=/, "").toLowerCase(),
        expirationDate: opensslNotAfter(realpathSync(file)).toISOString().replace(/\.000Z$/, "Z"),
        status: "OK", chain: "ok", key: "match",
      });
      expect(fromConf).toMatchObject(expected(links[0]!));
      expect(client).toMatchObject(expected(links[0]!));
      expect(server).toMatchObject(expected(links[1]!));
      // No kubelet.crt row: the kubelet has none, and needs none. (--verify also lists kubeadm's own
      // files, which this node does not have: those MISSING rows are not the kubelet's.)
      expect(rows.filter((x) => x.status === "MISSING" && (x.path.startsWith(pki) || x.path === node!.kubeconfig))).toEqual([]);
      expect(r.stderr).toBe("");
      // kubelet.conf's cluster CA is kpki's ca.crt, which the chain checks found the issuer in.
      expect(rows.find((x) => x.name.startsWith(`${node!.kubeconfig} cluster `))).toMatchObject({ subject: "CN=kubernetes", chain: "self-signed",
        serialNumber: readOpenssl(["x509", "-in", join(dir, "pki", "ca.crt"), "-noout", "-serial"]).trim().replace(/^serial=/, "").toLowerCase() });
      break;
    }
  }, 60_000);

  it("rotation: the kubelet asks for a new serving certificate with a new key each time and kpki approves each once, across a SIGKILLed approver and a kube-apiserver stopped for 10 s; a CSR with the node's own identity for another node's address or the API server's is still denied", async () => {
    const pki = node!.pkiDir;
    const serverPem = join(pki, "kubelet-server-current.pem");
    const [first] = await servingCsrs();
    expect(first?.status?.certificate).toBeDefined();

    // 1. The approver was SIGKILLed right after the first serving certificate was issued; the kubelet's
    //    first rotation CSR arrives after that, waits, and a new approver process approves it.
    const killedAt = approverKilledAt;
    expect(killedAt).toBeDefined();
    let second: Csr | undefined;
    await waitFor("the kubelet's first serving rotation CSR", async () => {
      second = (await servingCsrs())[1];
      return second !== undefined;
    }, 4 * 60_000, 1000);
    console.log(`rotation 1: serving CSR ${second!.metadata.name} created ${Date.parse(second!.metadata.creationTimestamp) - Date.parse(first!.metadata.creationTimestamp)} ms after the first (approver killed ${Date.now() - (killedAt ?? 0)} ms ago)`);
    // It came after the kill (the test's watch saw it), so no approver could have decided it yet.
    expect(watch!.seen.get(second!.metadata.name)?.added).toBeGreaterThan(killedAt ?? Infinity);
    await new Promise((r) => setTimeout(r, 3000));
    expect((await servingCsrs()).find((c) => c.metadata.name === second!.metadata.name)?.status?.conditions).toBeUndefined();
    const restartedAt = Date.now();
    await startApprover();
    await waitFor("the rotation CSR's certificate", async () => (await servingCsrs()).find((c) => c.metadata.name === second!.metadata.name)?.status?.certificate !== undefined, 60_000, 250);
    const w1 = watch!.seen.get(second!.metadata.name);
    console.log(`rotation 1: approved ${w1?.approved ? w1.approved - restartedAt : "?"} ms after the approver process was started again (issued ${w1?.issued ? w1.issued - restartedAt : "?"} ms)`);
    const secondCert = new X509Certificate(Buffer.from((await servingCsrs()).find((c) => c.metadata.name === second!.metadata.name)!.status!.certificate!, "base64"));
    await waitFor("the kubelet to serve the rotated certificate", () => pemCert(serverPem).fingerprint256 === secondCert.fingerprint256, 30_000, 200);

    // 2. Stop kube-apiserver for 10 s around the next serving rotation deadline, which the kubelet
    //    logs at -v=2 together with the current certificate's notAfter.
    // The kubelet logs it when its rotation loop comes round again, a second after the rotation.
    let deadline = new Date(0);
    await waitFor("the kubelet's next serving rotation deadline", () => {
      deadline = rotationDeadline(readFileSync(node!.kubeletLog, "utf8"), secondCert.validTo);
      return true;
    }, 20_000, 250);
    console.log(`rotation 2: the kubelet's deadline is ${deadline.toISOString()} (in ${deadline.getTime() - Date.now()} ms)`);
    const pauseAt = deadline.getTime() - 3000;
    if (pauseAt > Date.now()) await new Promise((r) => setTimeout(r, pauseAt - Date.now()));
    const pausedAt = Date.now();
    await cp!.pauseApiserver(10_000);
    console.log(`rotation 2: kube-apiserver stopped at ${new Date(pausedAt).toISOString()}, ready again after ${Date.now() - pausedAt} ms`);
    let third: Csr | undefined;
    await waitFor("the second rotation's certificate", async () => {
      third = (await servingCsrs())[2];
      return third?.status?.certificate !== undefined;
    }, 3 * 60_000, 500);
    const w2 = watch!.seen.get(third!.metadata.name);
    console.log(`rotation 2: serving CSR ${third!.metadata.name} created at ${third!.metadata.creationTimestamp} (seen ${w2 ? w2.added - pausedAt : "?"} ms after the API server was stopped), `
      + `created -> Approved ${w2?.approved ? w2.approved - w2.added : "?"} ms, issued ${w2?.issued ? w2.issued - pausedAt : "?"} ms after the stop`);
    const thirdCert = new X509Certificate(Buffer.from(third!.status!.certificate!, "base64"));
    await waitFor("the kubelet to serve the second rotated certificate", () => pemCert(serverPem).fingerprint256 === thirdCert.fingerprint256, 30_000, 200);
    const proxied = await admin("get", "--raw", `/api/v1/nodes/${NODE}/proxy/healthz`);
    expect([proxied.code, proxied.stdout]).toEqual([0, "ok"]);

    // Every serving CSR of this node: approved once, by kpki, each with a key of its own.
    const all = (await servingCsrs()).slice(0, 3);
    expect(all.map((c) => c.status?.conditions?.map((x) => [x.type, x.reason]))).toEqual(Array(3).fill([["Approved", "NodeAddressesVerified"]]));
    expect(new Set(all.map(pubkeyOfCsr)).size).toBe(3);
    const logs = approverLogs();
    for (const c of all) expect(logs.split("\n").filter((l) => l.includes('"msg":"approved"') && l.includes(`"csr":"${c.metadata.name}"`))).toHaveLength(1);
    expect(approver!.child.exitCode).toBeNull();

    // 3. The node's own identity (its current client certificate) asking for another node's address, or the API server's.
    await apply({ apiVersion: "v1", kind: "Node", metadata: { name: `${NODE}-other` }, status: { addresses: [{ type: "Hostname", address: `${NODE}-other` }, { type: "InternalIP", address: "192.0.2.77" }] } });
    const asNode = join(work, "as-node.conf");
    const clientPem = join(pki, "kubelet-client-current.pem");
    writeFileSync(asNode, JSON.stringify({ apiVersion: "v1", kind: "Config", clusters: [{ name: "c", cluster: { server: cp!.apiserverUrl, "certificate-authority": join(dir, "pki", "ca.crt") } }],
      users: [{ name: "n", user: { "client-certificate": clientPem, "client-key": clientPem } }], contexts: [{ name: "c", context: { cluster: "c", user: "n" } }], "current-context": "c" }));
    for (const [ip, reason] of [["192.0.2.77", "SANNotOwnedByNode"], [network!.hostAddress, "ReservedIP"]] as const) {
      const key = await generateKeyPair("ECDSA-P256", crypto);
      const csr = await createCsr({ subject: { commonName: `system:node:${NODE}`, organizations: ["system:nodes"] }, dnsNames: [NODE], ips: [parseIp(network!.nodeAddress)!, parseIp(ip)!] }, key, crypto);
      const name = `${NODE}-hand-${reason.toLowerCase()}`;
      const created = await kubectl(["--kubeconfig", asNode, "create", "-f", "-"], JSON.stringify({ apiVersion: "certificates.k8s.io/v1", kind: "CertificateSigningRequest", metadata: { name },
        spec: { request: Buffer.from(csr.pem).toString("base64"), signerName: "kubernetes.io/kubelet-serving", usages: ["digital signature", "key encipherment", "server auth"] } }));
      expect(created.code, created.stderr).toBe(0);
      let decided: Csr | undefined;
      await waitFor(`a decision on ${name}`, async () => {
        decided = (await csrs()).find((c) => c.metadata.name === name && c.status?.conditions?.length);
        return decided !== undefined;
      }, 20_000, 200);
      expect(decided!.spec.username).toBe(`system:node:${NODE}`);
      expect(decided!.status?.conditions?.map((c) => [c.type, c.reason])).toEqual([["Denied", reason]]);
    }
  }, 12 * 60_000);
});
