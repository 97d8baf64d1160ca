/**
 * `npm run bench`, part 2: expiry scanning over 10,000 certificates.
 *
 * The tree (one CA, 10,000 leaves in 100 folders) is generated once and cached
 * outside the repo. One run then times, on the same files:
 *   - the in-process floor: a walk + readFile + Node's crypto.X509Certificate(...).validTo per file;
 *   - kpki's scan as `check-expiration --scan` does it (walk, parse, expiry, status), in-process;
 *   - the same plus kpki's chain and key checks (every signature verified);
 *   - the whole CLI, Node start-up included;
 *   - `openssl x509 -noout -enddate -in FILE` once per file, on a 500-file sample.
 * It reports ratios; it never fails on a missed target.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { checkRows, rowsFromFile, statusOf, type FoundRow } from "../src/expiry/inventory.js";
import { directoryListingCache, readBytesIfExists } from "../src/io/fs-store.js";
import { scanPaths } from "../src/io/scan.js";
import { createCertificate, randomSerial } from "../src/pki/cert.js";
import { generateKeyPair } from "../src/pki/keys.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const KPKI = join(ROOT, "dist", "bin", "kpki.js");
const COUNT = 10_000;
const OPENSSL_SAMPLE = 500;
const RUNS = process.env["KPKI_BENCH_QUICK"] === "1" ? 1 : 3;
const CACHE = join(process.env["XDG_CACHE_HOME"] || join(homedir(), ".cache"), "kpki-bench", `certs-${COUNT}-v1`);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const ms = (x: number): string => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(0)} ms`);

async function ensureTree(): Promise<void> {
  if (existsSync(join(CACHE, "done"))) return;
  const tmp = `${CACHE}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const t0 = performance.now();
  const crypto = globalThis.crypto;
  const now = new Date();
  const caKey = await generateKeyPair("ECDSA-P256", crypto);
  const ca = await createCertificate(
    { subject: { commonName: "bench-ca" }, serial: randomSerial(crypto), notBefore: now, notAfter: new Date(now.getTime() + 3650 * 86_400_000),
      isCa: true, keyUsages: ["digitalSignature", "keyEncipherment", "keyCertSign"], extKeyUsages: [], dnsNames: ["bench-ca"], ips: [] },
    caKey.publicKey, { selfSigned: caKey }, crypto);
  writeFileSync(join(tmp, "ca.crt"), ca.pem);
  for (let d = 0; d < 100; d++) {
    const dir = join(tmp, `d${String(d).padStart(2, "0")}`);
    mkdirSync(dir);
    for (let i = 0; i < COUNT / 100; i++) {
      const key = await generateKeyPair("ECDSA-P256", crypto);
      const days = 1 + ((d * 100 + i) % 730); // expiries spread over two years
      const cert = await createCertificate(
        { subject: { commonName: `leaf-${d}-${i}`, organizations: ["bench"] }, serial: randomSerial(crypto), notBefore: now,
          notAfter: new Date(now.getTime() + days * 86_400_000), isCa: false, keyUsages: ["digitalSignature", "keyEncipherment"],
          extKeyUsages: ["serverAuth"], dnsNames: [`leaf-${i}.d${d}.example`], ips: [] },
        key.publicKey, { certificate: ca, key: caKey }, crypto);
      writeFileSync(join(dir, `leaf-${i}.crt`), cert.pem);
    }
  }
  writeFileSync(join(tmp, "done"), "");
  renameSync(tmp, CACHE);
  console.log(`  generated ${COUNT} certificates in ${ms(performance.now() - t0)} (cached in the bench cache folder)`);
}

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) walk(join(dir, e.name), out);
    else if (e.name.endsWith(".crt")) out.push(join(dir, e.name));
  }
  return out;
}

/** The floor: what any Node program must do at least. */
function nodeFloor(): number {
  const t0 = performance.now();
  let latest = 0;
  for (const f of walk(CACHE)) latest = Math.max(latest, new Date(new X509Certificate(readFileSync(f)).validTo).getTime());
  if (!latest) throw new Error("no certificates read");
  return performance.now() - t0;
}

async function kpkiScan(withChecks: boolean): Promise<{ ms: number; rows: number }> {
  const t0 = performance.now();
  const reader = { readBytes: readBytesIfExists, mayExist: directoryListingCache() };
  const found: FoundRow[] = [];
  for (const entry of await scanPaths([CACHE])) {
    if ("error" in entry) throw new Error(entry.error);
    found.push(...(await rowsFromFile(entry.path, reader, entry.explicit)));
  }
  const now = new Date();
  let rows = 0;
  if (withChecks) rows = (await checkRows(found, now, {}, globalThis.crypto)).length;
  else for (const r of found) if (r.certificate && statusOf(r.certificate.notBefore, r.certificate.notAfter, now, {})) rows++;
  return { ms: performance.now() - t0, rows };
}

function cli(): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [KPKI, "certs", "check-expiration", "--no-kubeadm", "--scan", CACHE, "-o", "json"], { stdio: ["ignore", "ignore", "pipe"] });
  if (r.status !== 0) throw new Error(`kpki exited ${r.status}: ${String(r.stderr)}`);
  return performance.now() - t0;
}

function opensslSample(): number {
  const files = walk(CACHE).slice(0, OPENSSL_SAMPLE);
  const t0 = performance.now();
  for (const f of files) execFileSync("openssl", ["x509", "-noout", "-enddate", "-in", f]);
  return performance.now() - t0;
}

console.log(`\n4. Expiry scan over ${COUNT} certificates (one CA, ${COUNT} ECDSA leaves in 100 folders; ${RUNS} runs each, medians)`);
await ensureTree();
const floor: number[] = [];
const scan: number[] = [];
const checked: number[] = [];
const cliRuns: number[] = [];
let rowsSeen = 0;
for (let i = 0; i < RUNS; i++) {
  floor.push(nodeFloor());
  const s = await kpkiScan(false);
  scan.push(s.ms);
  const c = await kpkiScan(true);
  checked.push(c.ms);
  rowsSeen = c.rows;
  cliRuns.push(cli());
}
const opensslMs = opensslSample();
const perFile = { floor: median(floor) / COUNT, scan: median(scan) / COUNT, checked: median(checked) / COUNT, openssl: opensslMs / OPENSSL_SAMPLE };
console.log(`  rows found by kpki: ${rowsSeen} (${COUNT} leaves + the CA)`);
console.log(`  Node floor (walk + X509Certificate.validTo)          ${ms(median(floor)).padStart(8)}   ${(perFile.floor * 1000).toFixed(0)} µs/file`);
console.log(`  kpki scan (walk, parse, expiry, status)             ${ms(median(scan)).padStart(8)}   ${(perFile.scan * 1000).toFixed(0)} µs/file   ${(median(scan) / median(floor)).toFixed(2)}x the floor (target <= 2x)`);
console.log(`  kpki scan + chain and key checks                    ${ms(median(checked)).padStart(8)}   ${(perFile.checked * 1000).toFixed(0)} µs/file   ${(median(checked) / median(floor)).toFixed(2)}x the floor (report only)`);
console.log(`  kpki CLI, check-expiration --scan -o json (whole)   ${ms(median(cliRuns)).padStart(8)}`);
console.log(`  openssl x509 -noout -enddate, ${OPENSSL_SAMPLE} files            ${ms(opensslMs).padStart(8)}   ${(perFile.openssl * 1000).toFixed(0)} µs/file`);
console.log(`  per file, openssl / kpki scan: ${(perFile.openssl / perFile.scan).toFixed(0)}x faster (target >= 50x); with checks: ${(perFile.openssl / perFile.checked).toFixed(0)}x`);
