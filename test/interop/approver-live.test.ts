import { execFile, spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiStatusError } from "../../src/approver/ports.js";
import { KubeTransport } from "../../src/io/kube-transport.js";
import { clientNodeAuth } from "../../src/io/kube-api.js";
import { createCsr } from "../../src/pki/csr.js";
import { generateKeyPair, type KeyAlgorithm, type KeyPair } from "../../src/pki/keys.js";
import { ipStrings, parseCertificatePem } from "../../src/pki/cert.js";
import { parseIp } from "../../src/pki/ip.js";
import { controlPlane, type ControlPlane } from "../helpers/control-plane.js";
import { buildCsr, dnsName, extension, extensionRequest, ipAddress, nodeSubject, OIDS, sanValue, testKey } from "../helpers/csr-builder.js";
import { octetString } from "../../src/pki/der.js";
import { startGoCsrTwin, type GoCsrTwin } from "../helpers/go-twin.js";
import { createLocalAddress, type LocalAddress } from "../helpers/local-address.js";
import { freePort, stopProcess, waitFor } from "../helpers/procs.js";
import { findBinary, missingBinaries } from "../helpers/testenv.js";
import { crypto } from "../helpers/clock.js";
import { run as runCli } from "../../src/cli/main.js";
import type { StopSignal } from "../../src/cli/io.js";
import { fakeIo } from "../helpers/fake-io.js";
import { kubectl } from "../helpers/kubectl.js";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");
const KPKI = join(ROOT, "dist/bin/kpki.js");
const skip = missingBinaries("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "go");
const work = mkdtempSync(join(tmpdir(), "kpki-approver-live-"));
const dir = join(work, "cluster");
let cp: ControlPlane | undefined;
let go: GoCsrTwin | undefined;
/** The address kube-apiserver advertises (a veth the test creates), or why there is none. */
const advertised: LocalAddress | { readonly skip: string } = skip ? { skip } : createLocalAddress();
const CONTROL_PLANE_ENDPOINT = "api.kpki.test";
const replicas = new Map<string, { child: ChildProcess; metrics: number; log: string }>();

const admin = (...args: string[]) => kubectl(["--kubeconfig", join(dir, "super-admin.conf"), ...args]);
const kpki = (...args: string[]) => run(process.execPath, [KPKI, ...args]);

/** Starts one `kpki approver run` replica as a real process. */
async function startReplica(identity: string): Promise<void> {
  const metrics = await freePort();
  const log = join(work, `approver-${identity}.log`);
  const fd = openSync(log, "a");
  // No policy flags: what must be refused is discovered, as with deploy/deployment.yaml.
  const child = spawn(process.execPath, [KPKI, "approver", "run", "--kubeconfig", join(dir, "approver.conf"), "--identity", identity,
    "--leader-elect-namespace", "kpki-system", "--lease-duration", "4s", "--renew-deadline", "3s", "--retry-period", "1s",
    "--metrics-bind-address", `127.0.0.1:${metrics}`], { stdio: ["ignore", fd, fd] });
  closeSync(fd);
  replicas.set(identity, { child, metrics, log });
}

async function leaseHolder(): Promise<string> {
  const r = await admin("-n", "kpki-system", "get", "lease", "kpki-approver", "-o", "jsonpath={.spec.holderIdentity}");
  return r.stdout.trim();
}

/** Creates a kubelet-serving CSR from PEM text as node `node`, and returns its name. */
async function createAs(node: string, pem: string, usages: readonly string[], name = `${node}-${Math.random().toString(36).slice(2, 8)}`): Promise<string> {
  const obj = { apiVersion: "certificates.k8s.io/v1", kind: "CertificateSigningRequest", metadata: { name },
    spec: { request: Buffer.from(pem).toString("base64"), signerName: "kubernetes.io/kubelet-serving", usages } };
  const r = await kubectl(["--kubeconfig", join(dir, `${node}.conf`), "create", "-f", "-"], JSON.stringify(obj));
  expect(r.code, r.stderr).toBe(0);
  return name;
}

/** Creates a kubelet-serving CSR as node `node` (its own client certificate), and returns its name. */
async function nodeCsr(node: string, sans: { readonly dns?: readonly string[]; readonly ips?: readonly string[] }, opts: { readonly alg?: KeyAlgorithm; readonly usages?: readonly string[]; readonly name?: string; readonly key?: KeyPair } = {}): Promise<string> {
  const key = opts.key ?? (await generateKeyPair(opts.alg ?? "ECDSA-P256", crypto));
  const csr = await createCsr({ subject: { commonName: `system:node:${node}`, organizations: ["system:nodes"] }, dnsNames: sans.dns ?? [], ips: (sans.ips ?? []).map((i) => parseIp(i)!) }, key, crypto);
  const name = opts.name ?? `${node}-${Math.random().toString(36).slice(2, 8)}`;
  const usages = opts.usages ?? (opts.alg?.startsWith("RSA") ? ["digital signature", "key encipherment", "server auth"] : ["digital signature", "server auth"]);
  const obj = { apiVersion: "certificates.k8s.io/v1", kind: "CertificateSigningRequest", metadata: { name },
    spec: { request: Buffer.from(csr.pem).toString("base64"), signerName: "kubernetes.io/kubelet-serving", usages } };
  const r = await kubectl(["--kubeconfig", join(dir, `${node}.conf`), "create", "-f", "-"], JSON.stringify(obj));
  expect(r.code, r.stderr).toBe(0);
  return name;
}

interface CsrStatus { conditions?: { type: string; reason: string; message: string }[]; certificate?: string }
async function waitDecided(name: string, timeoutMs = 20_000): Promise<CsrStatus> {
  let status: CsrStatus = {};
  await waitFor(`a decision on ${name}`, async () => {
    const r = await admin("get", "csr", name, "-o", "json");
    status = (JSON.parse(r.stdout) as { status: CsrStatus }).status ?? {};
    return (status.conditions ?? []).some((c) => c.type === "Approved" || c.type === "Denied");
  }, timeoutMs, 100);
  return status;
}

/** Waits for the signer to issue `name`'s certificate and parses it. */
async function waitIssued(name: string) {
  let cert = "";
  await waitFor(`the certificate for ${name}`, async () => {
    cert = JSON.parse((await admin("get", "csr", name, "-o", "json")).stdout).status.certificate ?? "";
    return cert !== "";
  }, 20_000, 100);
  return parseCertificatePem(Buffer.from(cert, "base64").toString());
}

describe.skipIf(skip)("kpki approver run against a real kube-apiserver and kube-controller-manager", () => {
  beforeAll(async () => {
    const apiPort = await freePort();
    await kpki("init", "--dir", dir, "--node-name", "cp", "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort), "--encryption-algorithm", "ECDSA-P256");
    const cpWork = join(work, "cp");
    mkdirSync(cpWork);
    cp = await controlPlane({ etcd: findBinary("etcd")!, kubeApiserver: findBinary("kube-apiserver")!, kubeControllerManager: findBinary("kube-controller-manager")! },
      { dir, work: cpWork, apiPort, etcdMembers: 1, controllerManager: true, ...("address" in advertised ? { advertiseAddress: advertised.address } : {}) });
    await cp.start();
    go = await startGoCsrTwin();
    // Identities: two kubelets and the approver, all client certificates issued by kpki (kubeconfig user).
    const endpoint = ["--dir", dir, "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort)];
    for (const [file, cn, org] of [["n1.conf", "system:node:n1", "system:nodes"], ["n2.conf", "system:node:n2", "system:nodes"], ["n3.conf", "system:node:n3", "system:nodes"], ["approver.conf", "kpki-approver-e2e", ""]] as const) {
      const { stdout } = await kpki("kubeconfig", "user", "--client-name", cn, ...(org ? ["--org", org] : []), ...endpoint);
      writeFileSync(join(dir, file), stdout, { mode: 0o600 });
    }
    // The deploy/ RBAC, bound to the approver's user instead of its ServiceAccount.
    expect((await admin("apply", "-f", join(ROOT, "deploy/namespace.yaml"))).code).toBe(0);
    const rbac = await admin("apply", "-f", join(ROOT, "deploy/rbac.yaml"));
    expect(rbac.code, rbac.stderr).toBe(0);
    await admin("create", "clusterrolebinding", "kpki-approver-e2e", "--clusterrole=kpki-approver", "--user=kpki-approver-e2e");
    await admin("-n", "default", "create", "rolebinding", "kpki-approver-e2e-events", "--role=kpki-approver-events", "--user=kpki-approver-e2e");
    await admin("-n", "kpki-system", "create", "rolebinding", "kpki-approver-e2e-lease", "--role=kpki-approver-lease", "--user=kpki-approver-e2e");
    await admin("-n", "default", "create", "rolebinding", "kpki-approver-e2e-discovery", "--role=kpki-approver-discovery", "--user=kpki-approver-e2e");
    await admin("-n", "kube-system", "create", "rolebinding", "kpki-approver-e2e-kubeadm-config", "--role=kpki-approver-kubeadm-config", "--user=kpki-approver-e2e");
    // kubeadm's ConfigMap, as kubeadm init writes it (this cluster was not made by kubeadm).
    const clusterConfiguration = `apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: ${CONTROL_PLANE_ENDPOINT}:6443\nnetworking:\n  serviceSubnet: 10.96.0.0/12\n  podSubnet: 10.244.0.0/16\n  dnsDomain: cluster.local\n`;
    const cm = await kubectl(["--kubeconfig", join(dir, "super-admin.conf"), "create", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "kubeadm-config", namespace: "kube-system" }, data: { ClusterConfiguration: clusterConfiguration } }));
    expect(cm.code, cm.stderr).toBe(0);
    // Nodes with addresses, as a cloud controller would set them. n3 also lists the API server's
    // advertised address and the control-plane endpoint's name: a node can write its own status.
    const n3Extra = [...("address" in advertised ? [{ type: "InternalIP", address: advertised.address }] : []), { type: "InternalDNS", address: CONTROL_PLANE_ENDPOINT }];
    for (const [n, ip, extra] of [["n1", "10.0.0.11", []], ["n2", "10.0.0.12", []], ["n3", "10.0.0.13", n3Extra]] as const) {
      const node = { apiVersion: "v1", kind: "Node", metadata: { name: n }, status: { addresses: [{ type: "Hostname", address: n }, { type: "InternalIP", address: ip }, ...extra] } };
      const created = await kubectl(["--kubeconfig", join(dir, "super-admin.conf"), "create", "-f", "-"], JSON.stringify(node));
      expect(created.code, created.stderr).toBe(0);
    }
    await startReplica("r1");
    await startReplica("r2");
    await waitFor("a leader", async () => ["r1", "r2"].includes(await leaseHolder()), 20_000, 200);
  }, 180_000);

  afterAll(async () => {
    for (const r of replicas.values()) await stopProcess(r.child.pid, "SIGTERM", 3000);
    await go?.close();
    await cp?.stop();
    if ("remove" in advertised) advertised.remove();
    if (!process.env["KPKI_KEEP_WORK"]) rmSync(work, { recursive: true, force: true });
  });

  it("KubeTransport (the approver's watch and write path): a new CSR arrives as ADDED, stop() ends the watch once, the server's timeout ends it cleanly, 404 is a status, all on two HTTP/2 connections", async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(join(dir, "approver.conf"));
    const transport = new KubeTransport(clientNodeAuth(kc));
    try {
      const path = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
      const list = (await transport.json<{ metadata: { resourceVersion: string } }>("GET", path))!;
      const seen: string[] = [];
      const ends: unknown[] = [];
      const handle = await transport.watch<{ metadata: { name: string } }>(path, { resourceVersion: list.metadata.resourceVersion }, (type, obj) => void seen.push(`${type} ${obj.metadata.name}`), (e) => void ends.push(e));
      // Three usages: the 1.20 signer issues it, so the #45 gauge below still counts only its own CSR.
      const name = await nodeCsr("n2", { dns: ["n2"], ips: ["10.0.0.12"] }, { name: "transport-watch", usages: ["digital signature", "key encipherment", "server auth"] });
      await waitFor("ADDED on the watch", () => seen.includes(`ADDED ${name}`), 10_000, 50);
      handle.stop();
      handle.stop();
      await waitFor("the watch's end", () => ends.length > 0, 5000, 20);
      expect(ends).toEqual([undefined]);

      // The server's own timeout ends a watch cleanly (no error), as at every resync.
      const closed: unknown[] = [];
      await transport.watch(path, { timeoutSeconds: 1 }, () => undefined, (e) => void closed.push(e));
      await waitFor("the server's timeout", () => closed.length > 0, 10_000, 50);
      expect(closed).toEqual([undefined]);

      // A watch the API server refuses ends once, with its status (the approver may not read Secrets).
      const refused: unknown[] = [];
      await transport.watch("/api/v1/secrets", {}, () => undefined, (e) => void refused.push(e));
      await waitFor("the refused watch's end", () => refused.length > 0, 10_000, 20);
      expect(refused).toHaveLength(1);
      expect(refused[0]).toBeInstanceOf(ApiStatusError);
      expect((refused[0] as ApiStatusError).status).toBe(403);

      const missing = await transport.json("GET", `${path}/no-such-csr`).catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(ApiStatusError);
      expect((missing as ApiStatusError).status).toBe(404);
      // All of that ran as streams of two HTTP/2 connections (watches, calls); once they are gone, the next call opens one.
      expect(transport.connections).toBe(2);
      transport.close();
      expect((await transport.json<{ kind: string }>("GET", path))?.kind).toBe("CertificateSigningRequestList");
      expect(transport.connections).toBe(3);
    } finally {
      transport.close();
    }
  }, 60_000);

  it("KubeTransport's health check: the real API server answers its PINGs, so a quiet watch stays open on the same connection", async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(join(dir, "approver.conf"));
    // PING after 200 ms of silence and give up after 300 ms: a quiet 2.5 s brings several PINGs.
    const transport = new KubeTransport(clientNodeAuth(kc), Date.now, { readIdleMs: 200, pingTimeoutMs: 300 });
    try {
      const ends: unknown[] = [];
      await transport.watch("/apis/certificates.k8s.io/v1/certificatesigningrequests", { fieldSelector: "metadata.name=no-such-csr" }, () => undefined, (e) => void ends.push(e));
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(ends).toEqual([]);
      expect(transport.connections).toBe(1);
    } finally {
      transport.close();
    }
  });

  it("approves a valid CSR from the node itself; the signer then issues a certificate with exactly those SANs", async () => {
    for (const alg of ["ECDSA-P256", "RSA-2048"] as const) {
      // Kubernetes 1.20's signer issues kubelet-serving only with exactly these three usages, even for EC keys
      // (pkg/controller/certificates/signer in v1.20); the policy also accepts the two-usage set that newer kubelets send for EC keys.
      const name = await nodeCsr("n1", { dns: ["n1"], ips: ["10.0.0.11"] }, { alg, usages: ["digital signature", "key encipherment", "server auth"] });
      const status = await waitDecided(name);
      expect(status.conditions?.find((c) => c.type === "Approved")?.reason).toBe("NodeAddressesVerified");
      const issued = await waitIssued(name);
      expect([issued.commonName, issued.dnsNames, ipStrings(issued)]).toEqual(["system:node:n1", ["n1"], ["10.0.0.11"]]);
    }
  }, 60_000);

  it.each([
    ["another node's IP", { dns: ["n1"], ips: ["10.0.0.12"] }, {}, "SANNotOwnedByNode"],
    ["kubernetes.default.svc", { dns: ["n1", "kubernetes.default.svc"], ips: ["10.0.0.11"] }, {}, "ReservedDNSName"],
    ["client auth usage", { dns: ["n1"] }, { usages: ["digital signature", "server auth", "client auth"] }, "UsagesMismatch"],
    ["the API server's address", { ips: ["127.0.0.1"] }, {}, "ReservedIP"],
  ] as const)("denies a hostile CSR (%s) with the right reason, and approver check agrees offline", async (_what, sans, opts, reason) => {
    const name = await nodeCsr("n1", sans, opts);
    const status = await waitDecided(name);
    expect(status.conditions?.find((c) => c.type === "Denied")?.reason).toBe(reason);
    // The same decision from `approver check` on the CSR as it was before the decision.
    const csr = JSON.parse((await admin("get", "csr", name, "-o", "json")).stdout) as Record<string, unknown>;
    delete csr["status"];
    writeFileSync(join(work, `${name}.json`), JSON.stringify(csr));
    writeFileSync(join(work, "nodes.yaml"), (await admin("get", "nodes", "-o", "yaml")).stdout);
    const check = await kpki("approver", "check", "--csr", join(work, `${name}.json`), "--nodes", join(work, "nodes.yaml"), "--service-cidr", "10.96.0.0/12",
      "--apiserver-address", "127.0.0.1", "-o", "json").catch((e: { stdout: string }) => e);
    expect(JSON.parse(check.stdout)).toMatchObject({ decision: "deny", reason });
  }, 60_000);

  it("the SAN-smuggling request (Extension { OID, OCTET STRING evil, OCTET STRING own }) is denied and never issued; Go's kubelet template for the same node is approved and issued with exactly its SANs", async () => {
    const threeUsages = ["digital signature", "key encipherment", "server auth"];
    const evil = sanValue(dnsName("kubernetes.default.svc.cluster.local"), dnsName("n2"), ipAddress([10, 96, 0, 1]), ipAddress([10, 0, 0, 12]));
    // Node n3, so that n1's approval budget (3 in 10 minutes) is left to the other tests.
    const own = sanValue(dnsName("n3"), ipAddress([10, 0, 0, 13]));
    const smuggled = await createAs("n3", buildCsr(testKey("ec"), { subject: nodeSubject("n3"), attributes: extensionRequest(extension(OIDS.san, octetString(evil), octetString(own))) }).pem, threeUsages);
    const denied = await waitDecided(smuggled);
    expect(denied.conditions?.map((c) => [c.type, c.reason])).toEqual([["Denied", "MalformedRequest"]]);
    expect(denied.conditions?.[0]?.message).toMatch(/unexpected OCTET STRING after the last element of an Extension/);

    const keyPem = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const [template] = await go!.create([{ keyPem, commonName: "system:node:n3", organization: ["system:nodes"], dnsNames: ["n3"], ips: ["10.0.0.13"] }]);
    const name = await createAs("n3", template!, threeUsages);
    expect((await waitDecided(name)).conditions?.find((c) => c.type === "Approved")?.reason).toBe("NodeAddressesVerified");
    const issued = await waitIssued(name);
    expect([issued.commonName, issued.organizations, issued.dnsNames, ipStrings(issued)]).toEqual(["system:node:n3", ["system:nodes"], ["n3"], ["10.0.0.13"]]);
    // The signer has issued a later request; the smuggled one is still Denied, with no certificate.
    const after = JSON.parse((await admin("get", "csr", smuggled, "-o", "json")).stdout).status as CsrStatus;
    expect([after.certificate, after.conditions?.map((c) => c.type)]).toEqual([undefined, ["Denied"]]);
  }, 60_000);

  it.skipIf("skip" in advertised)("no policy flags: a node listing the API server's advertised address (from the kubernetes Endpoints) or kubeadm-config's control-plane endpoint is denied; offline, without those facts, the same requests pass", async () => {
    const address = "address" in advertised ? advertised.address : "";
    const endpoints = JSON.parse((await admin("-n", "default", "get", "endpoints", "kubernetes", "-o", "json")).stdout) as { subsets?: { addresses?: { ip: string }[] }[] };
    expect(endpoints.subsets?.[0]?.addresses?.map((a) => a.ip)).toEqual([address]);
    const cases = [
      [{ dns: ["n3"], ips: ["10.0.0.13", address] }, "ReservedIP", `${address} (an API server address)`],
      [{ dns: ["n3", CONTROL_PLANE_ENDPOINT], ips: ["10.0.0.13"] }, "ReservedDNSName", `${CONTROL_PLANE_ENDPOINT} (an API server name)`],
    ] as const;
    writeFileSync(join(work, "nodes-n3.yaml"), (await admin("get", "nodes", "-o", "yaml")).stdout);
    for (const [sans, reason, detail] of cases) {
      const name = await nodeCsr("n3", sans);
      const status = await waitDecided(name);
      const denied = status.conditions?.find((c) => c.type === "Denied");
      expect([denied?.reason, denied?.message.includes(detail)], denied?.message).toEqual([reason, true]);
      const csr = JSON.parse((await admin("get", "csr", name, "-o", "json")).stdout) as Record<string, unknown>;
      delete csr["status"];
      writeFileSync(join(work, `${name}.json`), JSON.stringify(csr));
      const offline = await kpki("approver", "check", "--csr", join(work, `${name}.json`), "--nodes", join(work, "nodes-n3.yaml"), "-o", "json").catch((e: { stdout: string }) => e);
      expect(JSON.parse(offline.stdout)).toMatchObject({ decision: "approve" });
    }
  }, 60_000);

  it("#45 an approval the signer marks Failed is visible in the metrics", async () => {
    // Kubernetes 1.20's signer fails the two-usage set, which the policy rightly approves.
    const name = await nodeCsr("n1", { dns: ["n1"], ips: ["10.0.0.11"] }, { usages: ["digital signature", "server auth"] });
    expect((await waitDecided(name)).conditions?.[0]?.type).toBe("Approved");
    await waitFor("the signer's Failed condition", async () =>
      (JSON.parse((await admin("get", "csr", name, "-o", "json")).stdout).status.conditions ?? []).some((c: { type: string }) => c.type === "Failed"), 20_000, 100);
    const leader = await leaseHolder();
    await waitFor("the failed gauge", async () =>
      /^kpki_approver_approved_failed_csrs 1$/m.test(await (await fetch(`http://127.0.0.1:${replicas.get(leader)!.metrics}/metrics`)).text()), 10_000, 200);
  });

  it("records Events and serves metrics", async () => {
    const events = await admin("-n", "default", "get", "events", "--field-selector", "reason=CSRDenied", "-o", "name");
    expect(events.stdout.trim().split("\n").length).toBeGreaterThanOrEqual(1);
    const leader = await leaseHolder();
    const metrics = await (await fetch(`http://127.0.0.1:${replicas.get(leader)!.metrics}/metrics`)).text();
    expect(metrics).toMatch(/kpki_approver_decisions_total\{decision="deny",reason="SANNotOwnedByNode"\} 1/);
    expect(metrics).toMatch(/kpki_approver_decision_latency_seconds_count\{decision="approve"\} [1-9]/);
    expect(metrics).toContain("kpki_approver_leader 1");
    expect((await fetch(`http://127.0.0.1:${replicas.get(leader)!.metrics}/readyz`)).status).toBe(200);
    const follower = leader === "r1" ? "r2" : "r1";
    expect((await fetch(`http://127.0.0.1:${replicas.get(follower)!.metrics}/readyz`)).status).toBe(503);
  });

  it("kill the leader: the other replica takes the lease within its duration and decides new CSRs", async () => {
    // An approval by this leader, with a key that will turn up again after the takeover.
    const key = await generateKeyPair("ECDSA-P256", crypto);
    expect((await waitDecided(await nodeCsr("n3", { dns: ["n3"], ips: ["10.0.0.13"] }, { key }))).conditions?.[0]?.type).toBe("Approved");
    const leader = await leaseHolder();
    const other = leader === "r1" ? "r2" : "r1";
    const t0 = Date.now();
    await stopProcess(replicas.get(leader)!.child.pid, "SIGKILL", 0);
    await waitFor("the other replica to lead", async () => (await leaseHolder()) === other, 15_000, 200);
    const takeover = Date.now() - t0;
    // The lease runs out 4 s after the leader's last renewal, which came at most a retry period before the kill;
    // the candidate watching the Lease wakes then. 500 ms for noticing and writing on a loaded machine.
    expect(takeover).toBeLessThan(4000 + 500);
    const status = await waitDecided(await nodeCsr("n2", { dns: ["n2"], ips: ["10.0.0.12"] }));
    expect(status.conditions?.[0]?.type).toBe("Approved");
    // The new leader's history came from the cluster: the key the old leader approved for n3 is refused to n2.
    const reused = await waitDecided(await nodeCsr("n2", { dns: ["n2"], ips: ["10.0.0.12"] }, { key }));
    expect(reused.conditions?.map((c) => [c.type, c.reason, c.message])).toEqual([["Denied", "KeyReused", "this public key was already approved for node n3"]]);
    console.log(`approver failover: lease taken over ${takeover} ms after SIGKILL`);
  }, 60_000);

  it("restart the API server mid-run: the controller recovers and decides CSRs created meanwhile", async () => {
    await cp!.stop(); // etcd, kube-apiserver and kube-controller-manager, for longer than the lease
    await cp!.start();
    const name = await nodeCsr("n2", { dns: ["n2"], ips: ["10.0.0.12"] });
    const status = await waitDecided(name, 40_000);
    expect(status.conditions?.[0]?.type).toBe("Approved");
  }, 120_000);

  it("approver run in-process, through the CLI's I/O port: flags are checked before it connects, it decides against the real API, and the port's stop signal ends it with exit 0", async () => {
    const kc = join(dir, "approver.conf");
    // Flag mistakes are usage errors, answered before anything connects or listens.
    for (const [args, message] of [
      [["--renew-deadline", "20s"], "--renew-deadline must be shorter than --lease-duration"],
      [["--workers", "0"], "invalid --workers 0: expected a whole number of at least 1"],
      [["--lease-duration", "15 s"], 'invalid --lease-duration "15 s": expected a positive duration such as 720h, 30d or 1y'],
    ] as const) {
      const f = fakeIo();
      expect([await runCli(["approver", "run", "--kubeconfig", kc, ...args], f.io), f.stderr()]).toEqual([2, `error: ${message}\nRun 'kpki approver run --help' for usage.\n`]);
    }
    // A kubelet-serving CSR from a user who is not a node: every approver ignores it, so it is still pending when this one lists.
    const name = `not-a-node-${Math.random().toString(36).slice(2, 8)}`;
    const pem = (await createCsr({ subject: { commonName: "system:node:n1", organizations: ["system:nodes"] }, dnsNames: ["n1"], ips: [] }, await generateKeyPair("ECDSA-P256", crypto), crypto)).pem;
    const created = await kubectl(["--kubeconfig", join(dir, "super-admin.conf"), "create", "-f", "-"], JSON.stringify({ apiVersion: "certificates.k8s.io/v1", kind: "CertificateSigningRequest",
      metadata: { name }, spec: { request: Buffer.from(pem).toString("base64"), signerName: "kubernetes.io/kubelet-serving", usages: ["digital signature", "server auth"] } }));
    expect(created.code, created.stderr).toBe(0);
    let stop: ((signal: StopSignal) => void) | undefined;
    const f = fakeIo({ clock: () => new Date(), onStopSignal: (handler) => ((stop = handler), () => (stop = undefined)) });
    const metrics = await freePort();
    const exit = runCli(["approver", "run", "--kubeconfig", kc, "--dry-run", "--leader-elect=false", "--events", "none", "--metrics-bind-address", `127.0.0.1:${metrics}`], f.io);
    await waitFor("the in-process approver to judge the pending CSR", async () => f.stderr().includes(`"msg":"ignored","csr":"${name}"`), 20_000, 100);
    expect(f.stderr()).toMatch(new RegExp(`"msg":"ignored","csr":"${name}","decision":"ignore","reason":"NotANode"`));
    expect(stop).toBeDefined();
    stop?.("SIGTERM");
    expect(await exit).toBe(0);
    expect(stop).toBeUndefined(); // it stopped listening for signals
    expect(f.stderr()).toMatch(/"msg":"stopping: SIGTERM"/);
  }, 60_000);

  it("SIGTERM: the leading replica stops its watches and exits 0 by itself (no open connection holds it)", async () => {
    const leader = replicas.get(await leaseHolder())!.child;
    const exited = new Promise<number | null>((resolve) => leader.once("exit", (code) => resolve(code)));
    const t0 = Date.now();
    leader.kill("SIGTERM");
    const code = await Promise.race([exited, new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 5000))]);
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
  }, 30_000);
});
