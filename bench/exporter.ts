/**
 * `npm run bench`, part 5: `kpki exporter --secrets` against a real kube-apiserver holding 10,000
 * TLS Secrets and 500 large Opaque Secrets (200 KB each, which the server's type selector keeps
 * out of every answer).
 *
 *   1. Start to ready: from spawning the process to /readyz answering 200 (every page listed,
 *      every certificate read, the watch open), against bench/naive-exporter.mjs, which lists the
 *      same pages and reads each notAfter with Node's native X509Certificate, and nothing else.
 *   2. Peak RSS (VmHWM) of the exporter at the end, against the baseline's.
 *   3. Scrape time for the 10,000 certificates (30,000 series: not_after, not_before, expired):
 *      p50 and p99 of 100 sequential GET /metrics, body read whole, against a plain node:http
 *      server that sends the same bytes from memory.
 *   4. CPU per 1,000 watch events: 1,000 Secrets get a new certificate; the CPU time the exporter
 *      (and the baseline) spend until they have settled, per 1,000 events; one scrape then checks
 *      that every new certificate is exported.
 * The exporter runs with deploy/exporter/deployment.yaml's environment (NODE_OPTIONS), as shipped.
 * It reports; it never fails on a missed target.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, get as httpGet } from "node:http";
import { Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { createSecureContext } from "node:tls";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { controlPlane, extractClient } from "../test/helpers/control-plane.js";
import { freePort, stopProcess, waitFor } from "../test/helpers/procs.js";
import { findBinary } from "../test/helpers/testenv.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const KPKI = join(ROOT, "dist", "bin", "kpki.js");
const QUICK = process.env["KPKI_BENCH_QUICK"] === "1";
const TLS_SECRETS = QUICK ? 1000 : 10_000;
const LARGE_SECRETS = QUICK ? 50 : 500;
const LARGE_BYTES = 200 * 1024;
const EVENTS = QUICK ? 200 : 1000;
const SCRAPES = QUICK ? 20 : 100;
const CERTS = 50; // distinct certificates, each in TLS_SECRETS / CERTS Secrets
/** The environment deploy/exporter/deployment.yaml gives the exporter (NODE_OPTIONS): it runs as shipped. */
const DEPLOYMENT_ENV = Object.fromEntries(
  (parseAllDocuments(readFileSync(join(ROOT, "deploy", "exporter", "deployment.yaml"), "utf8"))
    .map((d) => d.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: { env?: { name: string; value: string }[] }[] } } } })
    .find((d) => d.kind === "Deployment")?.spec?.template?.spec?.containers?.[0]?.env ?? []).map((e) => [e.name, e.value]),
);

console.log("\n## kpki exporter: Secrets from a real kube-apiserver");
console.log(`  the exporter's environment, from deploy/exporter/deployment.yaml: ${Object.entries(DEPLOYMENT_ENV).map(([k, v]) => `${k}=${v}`).join(" ") || "(none)"}`);
const bins = { etcd: findBinary("etcd"), kubeApiserver: findBinary("kube-apiserver"), kubeControllerManager: findBinary("kube-controller-manager") };
if (!bins.etcd || !bins.kubeApiserver || !bins.kubeControllerManager || !findBinary("openssl")) {
  console.log("  skipped (no real kube-apiserver or openssl; run scripts/setup-testenv.sh)");
  process.exit(0);
}

const work = mkdtempSync(join(tmpdir(), "kpki-bench-exporter-"));
const dir = join(work, "cluster");
const apiPort = await freePort();
const kpki = (...args: string[]) => execFileSync(process.execPath, [KPKI, ...args], { stdio: ["ignore", "pipe", "inherit"] }).toString();
kpki("init", "--dir", dir, "--node-name", "cp", "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort), "--encryption-algorithm", "ECDSA-P256");
const cp = await controlPlane({ etcd: bins.etcd, kubeApiserver: bins.kubeApiserver, kubeControllerManager: bins.kubeControllerManager }, { dir, work, apiPort, etcdMembers: 1, controllerManager: false });
const children: ChildProcess[] = [];

/** CPU time (user + system) of a process so far, in ms, from /proc. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}
const peakRssMb = (pid: number): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
const percentile = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
/** Waits until a process's CPU time stops growing for 1 s: it has handled what it was sent. */
async function settled(pid: number): Promise<number> {
  let last = cpuMs(pid);
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = cpuMs(pid);
    if (now === last) return now;
    last = now;
  }
}

try {
  await cp.start();
  const admin = new k8s.KubeConfig();
  admin.loadFromFile(join(dir, "super-admin.conf"));
  const opts: { ca?: Buffer | string; cert?: Buffer | string; key?: Buffer | string } = {};
  await admin.applyToHTTPSOptions(opts);
  const agent = new Agent({ keepAlive: true, maxSockets: 16, secureContext: createSecureContext({ ca: opts.ca, cert: opts.cert, key: opts.key }) });
  const api = new URL(admin.getCurrentCluster()!.server);
  const send = (method: string, path: string, body: string) =>
    new Promise<void>((res, rej) => {
      const req = request({ host: api.hostname, port: api.port, method, path, agent, headers: { "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json" } }, (r) => {
        r.resume();
        r.on("end", () => ((r.statusCode ?? 0) < 300 ? res() : rej(new Error(`${method} ${path}: HTTP ${r.statusCode}`))));
      });
      req.on("error", rej);
      req.end(body);
    });
  const pool = async <T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> => {
    let next = 0;
    await Promise.all(Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }));
  };

  // The certificates: CERTS self-signed ones, openssl's, each 1 to 2 years long.
  const pems: { crt: string; key: string }[] = [];
  for (let i = 0; i < CERTS + 1; i++) {
    const [k, c] = [join(work, `c${i}.key`), join(work, `c${i}.pem`)];
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", k, "-out", c, "-days", String(365 + i * 7), "-subj", `/O=bench/CN=bench-${i}`], { stdio: "pipe" });
    pems.push({ crt: Buffer.from(readFileSync(c)).toString("base64"), key: Buffer.from(readFileSync(k)).toString("base64") });
  }
  const t0 = performance.now();
  const namespaces = Array.from({ length: 10 }, (_v, i) => `bench-${i}`);
  for (const ns of namespaces) await send("POST", "/api/v1/namespaces", JSON.stringify({ metadata: { name: ns } }));
  const tlsName = (i: number) => ({ ns: namespaces[i % namespaces.length]!, name: `tls-${i}` });
  await pool(Array.from({ length: TLS_SECRETS }, (_v, i) => i), 16, async (i) => {
    const { ns, name } = tlsName(i);
    const p = pems[i % CERTS]!;
    await send("POST", `/api/v1/namespaces/${ns}/secrets`, JSON.stringify({ metadata: { name }, type: "kubernetes.io/tls", data: { "tls.crt": p.crt, "tls.key": p.key } }));
  });
  const blob = Buffer.alloc(LARGE_BYTES, 7).toString("base64");
  await pool(Array.from({ length: LARGE_SECRETS }, (_v, i) => i), 8, async (i) => {
    await send("POST", `/api/v1/namespaces/${namespaces[i % namespaces.length]}/secrets`, JSON.stringify({ metadata: { name: `large-${i}` }, type: "Opaque", data: { blob } }));
  });
  console.log(`  ${TLS_SECRETS} TLS Secrets (${CERTS} distinct certificates) and ${LARGE_SECRETS} Opaque Secrets of ${LARGE_BYTES / 1024} KB created in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const conf = join(work, "exporter.conf");
  writeFileSync(conf, kpki("kubeconfig", "user", "--client-name", "kpki-bench-exporter", "--org", "system:masters", "--dir", dir, "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort)), { mode: 0o600 });

  // 1. Start to ready.
  const port = await freePort();
  const metricsUrl = `http://127.0.0.1:${port}/metrics`;
  const s0 = performance.now();
  const exporter = spawn(process.execPath, [KPKI, "exporter", "--no-kubeadm", "--no-kubelet", "--secrets", "--api-kubeconfig", conf, "--listen", `127.0.0.1:${port}`],
    { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, ...DEPLOYMENT_ENV } });
  children.push(exporter);
  await waitFor("kpki exporter ready", async () => {
    try {
      return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
    } catch {
      return false;
    }
  }, 300_000, 20);
  const kpkiReady = performance.now() - s0;
  const currentRssMb = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
  const stages: string[] = [`ready ${currentRssMb(exporter.pid!).toFixed(0)} (peak ${peakRssMb(exporter.pid!).toFixed(0)})`];
  const b0 = performance.now();
  const client = extractClient(dir, "super-admin.conf");
  const baseline = spawn(process.execPath, [join(ROOT, "bench", "naive-exporter.mjs"), api.href, join(dir, "pki", "ca.crt"), client.cert, client.key], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(baseline);
  const baselineCount = await new Promise<string>((res, rej) => {
    baseline.stdout!.once("data", (d: Buffer) => res(d.toString().trim()));
    baseline.once("exit", (code) => rej(new Error(`the baseline exited ${code}`)));
  });
  const baselineReady = performance.now() - b0;

  // 3. Scrapes, as Prometheus makes them (Accept-Encoding: gzip; the body is read whole, not
  //    decompressed: that is Prometheus' work), and without gzip; each against a plain server
  //    sending the same bytes from memory.
  const get = (url: string, gzip: boolean) =>
    new Promise<{ ms: number; body: Buffer; encoding: string }>((res, rej) => {
      const t = performance.now();
      httpGet(url, { headers: gzip ? { "accept-encoding": "gzip" } : {} }, (r) => {
        const chunks: Buffer[] = [];
        r.on("data", (c: Buffer) => chunks.push(c));
        r.on("end", () => res({ ms: performance.now() - t, body: Buffer.concat(chunks), encoding: String(r.headers["content-encoding"] ?? "identity") }));
      }).on("error", rej);
    });
  const body0 = (await (await fetch(metricsUrl)).text());
  const certSeries = body0.split("\n").filter((l) => l.startsWith("x509_cert_not_after{")).length;
  const scrapes = async (url: string, gzip: boolean) => {
    const ms: number[] = [];
    for (let i = 0; i < SCRAPES; i++) ms.push((await get(url, gzip)).ms);
    return ms;
  };
  const zipped = await get(metricsUrl, true);
  stages.push(`first scrapes ${currentRssMb(exporter.pid!).toFixed(0)} (peak ${peakRssMb(exporter.pid!).toFixed(0)})`);
  const plain = await get(metricsUrl, false);
  const times = await scrapes(metricsUrl, true);
  stages.push(`${SCRAPES} scrapes ${currentRssMb(exporter.pid!).toFixed(0)} (peak ${peakRssMb(exporter.pid!).toFixed(0)})`);
  const staticPort = await freePort();
  const staticServer = createServer((req, res) => {
    const gz = /gzip/.test(String(req.headers["accept-encoding"] ?? ""));
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4", ...(gz ? { "content-encoding": "gzip" } : {}) }).end(gz ? zipped.body : plain.body);
  });
  await new Promise<void>((r) => staticServer.listen(staticPort, "127.0.0.1", r));
  const staticTimes = await scrapes(`http://127.0.0.1:${staticPort}/`, true);
  const bytes = plain.body;

  // 4. Watch events: EVENTS Secrets get the spare certificate.
  const spare = pems[CERTS]!;
  await settled(exporter.pid!);
  await settled(baseline.pid!);
  const [e0, n0] = [cpuMs(exporter.pid!), cpuMs(baseline.pid!)];
  await pool(Array.from({ length: EVENTS }, (_v, i) => i), 16, async (i) => {
    const { ns, name } = tlsName(i);
    await send("PATCH", `/api/v1/namespaces/${ns}/secrets/${name}`, JSON.stringify({ data: { "tls.crt": spare.crt, "tls.key": spare.key } }));
  });
  const [e1, n1] = [await settled(exporter.pid!), await settled(baseline.pid!)];
  const changed = (await (await fetch(metricsUrl)).text()).split("\n").filter((l) => l.startsWith("x509_cert_not_after{") && l.includes(`subject_CN="bench-${CERTS}"`)).length;
  const rss = { kpki: peakRssMb(exporter.pid!), baseline: peakRssMb(baseline.pid!) };
  stages.push(`${EVENTS} events ${currentRssMb(exporter.pid!).toFixed(0)} (peak ${rss.kpki.toFixed(0)})`);
  // Scrapes without gzip (curl's), after the peak RSS above (Prometheus always asks for gzip).
  const plainTimes = await scrapes(metricsUrl, false);
  const staticPlainTimes = await scrapes(`http://127.0.0.1:${staticPort}/`, false);
  staticServer.close();
  const rssAfterPlain = peakRssMb(exporter.pid!);

  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  const rows: [string, string, string, string, string][] = [
    ["measure", "goal", "kpki exporter", "baseline", "ratio"],
    [`start to ready (${TLS_SECRETS} TLS Secrets listed)`, "-", `${(kpkiReady / 1000).toFixed(2)} s`, `${(baselineReady / 1000).toFixed(2)} s (naive lister, ${baselineCount})`, ratio(kpkiReady, baselineReady)],
    ["peak RSS (VmHWM; gzip scrapes and watch events)", "≤ 150 MB", `${rss.kpki.toFixed(0)} MB`, `${rss.baseline.toFixed(0)} MB (naive lister)`, ratio(rss.kpki, rss.baseline)],
    [`scrape p50, ${certSeries} certificates, gzip (${(zipped.body.length / 1e6).toFixed(1)} MB; ${zipped.encoding})`, "-", `${percentile(times, 50).toFixed(1)} ms`, `${percentile(staticTimes, 50).toFixed(1)} ms (same bytes, static)`, ratio(percentile(times, 50), percentile(staticTimes, 50))],
    [`scrape p99, ${certSeries} certificates, gzip`, "≤ 100 ms", `${percentile(times, 99).toFixed(1)} ms`, `${percentile(staticTimes, 99).toFixed(1)} ms (same bytes, static)`, ratio(percentile(times, 99), percentile(staticTimes, 99))],
    [`scrape p99, ${certSeries} certificates, no gzip (${(bytes.length / 1e6).toFixed(1)} MB)`, "-", `${percentile(plainTimes, 99).toFixed(1)} ms`, `${percentile(staticPlainTimes, 99).toFixed(1)} ms (same bytes, static)`, ratio(percentile(plainTimes, 99), percentile(staticPlainTimes, 99))],
    ["peak RSS after the scrapes without gzip too", "-", `${rssAfterPlain.toFixed(0)} MB`, "-", "-"],
    [`CPU per 1,000 watch events (${EVENTS} sent, ${changed} seen)`, "-", `${(((e1 - e0) * 1000) / EVENTS).toFixed(0)} ms`, `${(((n1 - n0) * 1000) / EVENTS).toFixed(0)} ms (naive watcher)`, ratio(e1 - e0, n1 - n0)],
  ];
  const widths = rows[0]!.map((_v, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(`  ${r.map((c, i) => c.padEnd(widths[i]!)).join("  ")}`);
  console.log(`  kpki exporter's RSS in MB after: ${stages.join(", ")}`);
} finally {
  for (const c of children) await stopProcess(c.pid, "SIGTERM", 3000);
  await cp.stop();
  rmSync(work, { recursive: true, force: true });
}
