/**
 * `npm run bench`, part 3: the kubelet-serving approver.
 *
 *   1. Policy throughput: decideCsr on 10,000 node CSRs (10,000 Nodes, one address pair each),
 *      against bare signature verification of the same CSRs (PEM → DER → WebCrypto verify).
 *   2. End to end, when the real binaries are there: a burst of 200 CSRs, each created by its own
 *      node with its own client certificate, against kube-apiserver with `kpki approver run`;
 *      time from just before the create call to the Approved condition seen on a watch (p50, p99).
 * It reports; it never fails on a missed target.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { decideCsr, DEFAULT_POLICY, indexNodes, type CsrObject, type NodeObject } from "../src/approver/policy.js";
import { createCsr } from "../src/pki/csr.js";
import { children, decodeOne, readOid } from "../src/pki/der.js";
import { parseIp } from "../src/pki/ip.js";
import { generateKeyPair } from "../src/pki/keys.js";
import { decodePem } from "../src/pki/pem.js";
import { verify } from "../src/pki/signature.js";
import { controlPlane } from "../test/helpers/control-plane.js";
import { freePort, stopProcess, waitFor } from "../test/helpers/procs.js";
import { findBinary } from "../test/helpers/testenv.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const KPKI = join(ROOT, "dist", "bin", "kpki.js");
const QUICK = process.env["KPKI_BENCH_QUICK"] === "1";
const N = QUICK || process.env["KPKI_BENCH_APPROVER_E2E_ONLY"] === "1" ? 1000 : 10_000;
const BURST = Number(process.env["KPKI_BENCH_BURST"] ?? (QUICK ? 20 : 200));
const crypto = globalThis.crypto;
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? Number.NaN;

console.log(`\n5. Approver policy: ${N} CSRs from ${N} nodes`);
const nodes: NodeObject[] = [];
const csrs: CsrObject[] = [];
const t0 = performance.now();
for (let i = 0; i < N; i++) {
  const name = `n${i}`;
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  nodes.push({ metadata: { name, creationTimestamp: "2026-01-01T00:00:00Z" }, status: { addresses: [{ type: "Hostname", address: name }, { type: "InternalIP", address: ip }] } });
  const key = await generateKeyPair("ECDSA-P256", crypto);
  const csr = await createCsr({ subject: { commonName: `system:node:${name}`, organizations: ["system:nodes"] }, dnsNames: [name], ips: [parseIp(ip)!] }, key, crypto);
  csrs.push({ metadata: { name: `csr-${i}`, creationTimestamp: new Date().toISOString() }, spec: { request: Buffer.from(csr.pem).toString("base64"),
    signerName: "kubernetes.io/kubelet-serving", usages: ["digital signature", "server auth"], username: `system:node:${name}`, groups: ["system:nodes", "system:authenticated"] } });
}
console.log(`  made ${N} CSRs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

async function bareVerify(): Promise<number> {
  const t = performance.now();
  let ok = 0;
  for (const c of csrs) {
    const der = decodePem(Buffer.from(c.spec!.request!, "base64").toString())[0]!.der;
    const [info, alg, sig] = children(decodeOne(der));
    const spki = children(info!)[2]!;
    if (await verify(readOid(children(alg!)[0]!), spki.encoded, sig!.content.subarray(1), info!.encoded, crypto)) ok++;
  }
  if (ok !== N) throw new Error(`only ${ok} signatures verified`);
  return performance.now() - t;
}
async function policy(): Promise<number> {
  const t = performance.now();
  const index = indexNodes(nodes);
  const now = new Date();
  let approved = 0;
  for (const c of csrs) if ((await decideCsr(c, index, DEFAULT_POLICY, now, crypto)).decision === "approve") approved++;
  if (approved !== N) throw new Error(`only ${approved} approved`);
  return performance.now() - t;
}
const bare: number[] = [];
const pol: number[] = [];
for (let r = 0; r < 3; r++) {
  bare.push(await bareVerify());
  pol.push(await policy());
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[1] ?? xs[0]!;
console.log(`  bare signature verification   ${(N / (med(bare) / 1000)).toFixed(0).padStart(7)} CSRs/s`);
console.log(`  full policy (decideCsr)       ${(N / (med(pol) / 1000)).toFixed(0).padStart(7)} CSRs/s   ${(med(bare) / med(pol)).toFixed(2)}x of bare verification (target >= 0.5x)`);

const bins = { etcd: findBinary("etcd"), kubeApiserver: findBinary("kube-apiserver"), kubeControllerManager: findBinary("kube-controller-manager") };
if (!bins.etcd || !bins.kubeApiserver || !bins.kubeControllerManager) {
  console.log("  end-to-end: skipped (no real kube-apiserver; run scripts/setup-testenv.sh)");
} else {
  const work = mkdtempSync(join(tmpdir(), "kpki-bench-approver-"));
  const dir = join(work, "cluster");
  const apiPort = await freePort();
  const run = (...args: string[]) => new Promise<string>((res, rej) => {
    const c = spawn(process.execPath, [KPKI, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    c.stdout.on("data", (d: Buffer) => (out += d.toString()));
    c.on("exit", (code) => (code === 0 ? res(out) : rej(new Error(`kpki ${args[0]} exited ${code}`))));
  });
  await run("init", "--dir", dir, "--node-name", "cp", "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort), "--encryption-algorithm", "ECDSA-P256");
  const cp = await controlPlane({ etcd: bins.etcd, kubeApiserver: bins.kubeApiserver, kubeControllerManager: bins.kubeControllerManager }, { dir, work, apiPort, etcdMembers: 1, controllerManager: false });
  let approver: ReturnType<typeof spawn> | undefined;
  try {
    await cp.start();
    const admin = new k8s.KubeConfig();
    admin.loadFromFile(join(dir, "super-admin.conf"));
    const core = admin.makeApiClient(k8s.CoreV1Api);
    const endpoint = ["--dir", dir, "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort)];
    // BURST nodes with addresses, and a client certificate (kubeconfig) for each.
    const nodeConfigs: k8s.KubeConfig[] = [];
    for (let i = 0; i < BURST; i++) {
      await core.createNode({ body: { metadata: { name: `b${i}` }, status: { addresses: [{ type: "Hostname", address: `b${i}` }, { type: "InternalIP", address: `10.9.${i >> 8}.${i & 255}` }] } } });
      const kc = new k8s.KubeConfig();
      kc.loadFromString(await run("kubeconfig", "user", "--client-name", `system:node:b${i}`, "--org", "system:nodes", "--encryption-algorithm", "ECDSA-P256", ...endpoint));
      nodeConfigs.push(kc);
    }
    const approverConf = await run("kubeconfig", "user", "--client-name", "system:kpki-bench", "--org", "system:masters", ...endpoint);
    const { writeFileSync } = await import("node:fs");
    writeFileSync(join(work, "approver.conf"), approverConf, { mode: 0o600 });
    const metrics = await freePort();
    const log = openSync(join(work, "approver.log"), "a");
    approver = spawn(process.execPath, [KPKI, "approver", "run", "--kubeconfig", join(work, "approver.conf"), "--leader-elect=false",
      "--metrics-bind-address", `127.0.0.1:${metrics}`, "--apiserver-address", "127.0.0.1", ...(process.env["KPKI_BENCH_APPROVER_ARGS"] ?? "").split(" ").filter(Boolean)],
      { stdio: ["ignore", log, log] });
    closeSync(log);
    await waitFor("approver ready", async () => (await fetch(`http://127.0.0.1:${metrics}/readyz`)).status === 200, 30_000, 100);
    // The CSRs, made before the clock starts.
    const bodies = await Promise.all(nodeConfigs.map(async (_kc, i) => {
      const key = await generateKeyPair("ECDSA-P256", crypto);
      const csr = await createCsr({ subject: { commonName: `system:node:b${i}`, organizations: ["system:nodes"] }, dnsNames: [`b${i}`], ips: [parseIp(`10.9.${i >> 8}.${i & 255}`)!] }, key, crypto);
      return { metadata: { name: `burst-${i}` }, spec: { request: Buffer.from(csr.pem).toString("base64"), signerName: "kubernetes.io/kubelet-serving", usages: ["digital signature", "server auth"] } };
    }));
    const created = new Map<string, number>();
    const stored = new Map<string, number>();
    const latencies: number[] = [];
    const afterCreate: number[] = [];
    const done = new Promise<void>((resolveDone) => {
      void new k8s.Watch(admin).watch("/apis/certificates.k8s.io/v1/certificatesigningrequests", {}, (_type, obj: { metadata: { name: string }; status?: { conditions?: { type: string }[] } }) => {
        const start = created.get(obj.metadata.name);
        if (start === undefined || !(obj.status?.conditions ?? []).some((c) => c.type === "Approved")) return;
        created.delete(obj.metadata.name);
        const t = performance.now();
        latencies.push(t - start);
        const s = stored.get(obj.metadata.name);
        if (s !== undefined) afterCreate.push(t - s);
        if (latencies.length === BURST) resolveDone();
      }, () => undefined);
    });
    await new Promise((r) => setTimeout(r, 500)); // the watch is open
    await Promise.all(bodies.map(async (body, i) => {
      created.set(body.metadata.name, performance.now());
      await nodeConfigs[i]!.makeApiClient(k8s.CertificatesV1Api).createCertificateSigningRequest({ body });
      stored.set(body.metadata.name, performance.now());
    }));
    await Promise.race([done, new Promise((r) => setTimeout(r, 60_000))]);
    console.log(`  end-to-end, ${BURST} node CSRs created at once (each its own TLS client): ${latencies.length} approved`);
    console.log(`    create call → Approved seen: p50 ${pct(latencies, 50).toFixed(0)} ms, p99 ${pct(latencies, 99).toFixed(0)} ms (target p99 < 250 ms)`);
    console.log(`    create call returned → Approved seen (the approver's share): p50 ${pct(afterCreate, 50).toFixed(0)} ms, p99 ${pct(afterCreate, 99).toFixed(0)} ms`);
  } finally {
    if (approver?.pid) await stopProcess(approver.pid, "SIGTERM", 3000);
    await cp.stop();
    if (process.env["KPKI_KEEP_WORK"]) console.log(`  work kept in ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}
process.exit(0); // the watch keeps a socket open
