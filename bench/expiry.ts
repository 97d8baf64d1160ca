/**
 * `npm run bench`, part 2: `certs check-expiration --scan` over 10,000 and 100,000 certificates.
 *
 * The trees (one ECDSA P-256 CA; 100 leaves per folder, in 100 and 1,000 folders; every leaf a
 * distinct certificate: its own serial, subject, SAN and expiry) are generated once with
 * node:crypto and cached outside the repo. One run then times, alternating the variants:
 *   - the native parse loop: a plain Node script that walks the tree, reads every file and parses
 *     it with crypto.X509Certificate (whole process, Node start-up included);
 *   - `kpki certs check-expiration --no-kubeadm --scan TREE`, text and `-o json`, with and without
 *     `--verify` (whole process, stdout to /dev/null), with its peak memory (`/usr/bin/time -f %M`);
 *   - the same work in-process (kpki's `run` from dist/ against the native loop's body, both warm),
 *     so start-up can be told apart from the scan itself;
 *   - `openssl x509 -noout -enddate -in FILE` once per file, on a 500-file sample.
 * It prints ratios; it never fails on a missed target. KPKI_BENCH_QUICK=1 makes one run of each.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync, sign, X509Certificate, type KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { bitString, context, sequence, time, unsignedInteger, type Bytes } from "../src/pki/der.js";
import {
  authorityKeyIdentifierValue,
  basicConstraintsValue,
  encodeExtension,
  EXTENSION_OIDS,
  extKeyUsageValue,
  keyUsageValue,
  subjectAltNameValue,
  subjectKeyIdentifierValue,
} from "../src/pki/extensions.js";
import { encodeSubject, type Subject } from "../src/pki/name.js";
import { algorithmIdentifier } from "../src/pki/signature.js";
import type { CliIo } from "../src/cli/io.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const KPKI = join(ROOT, "dist", "bin", "kpki.js");
const QUICK = process.env["KPKI_BENCH_QUICK"] === "1";
const RUNS = QUICK ? 1 : 3;
const PER_FOLDER = 100;
const OPENSSL_SAMPLE = 500;
const CACHE_ROOT = join(process.env["XDG_CACHE_HOME"] || join(homedir(), ".cache"), "kpki-bench");
const treeDir = (count: number): string => join(CACHE_ROOT, `certs-${count}-v2`);

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const ms = (x: number): string => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(0)} ms`);

// ---------------------------------------------------------------------------------------------
// The trees.

const ECDSA_SHA256 = "1.2.840.10045.4.3.2";
const DAY = 86_400_000;

/** A certificate signed with node:crypto (DER ECDSA signature), laid out as kpki and Go write it. */
function issue(o: { subject: Subject; issuer: Bytes; serial: bigint; notBefore: Date; notAfter: Date; spki: Bytes; isCa: boolean; ski?: Bytes; aki?: Bytes; dns?: string; signer: KeyObject }): Bytes {
  const hex = o.serial.toString(16);
  const exts = [
    encodeExtension({ oid: EXTENSION_OIDS.keyUsage, critical: true, value: keyUsageValue(o.isCa ? ["digitalSignature", "keyEncipherment", "keyCertSign"] : ["digitalSignature", "keyEncipherment"]) }),
    ...(o.isCa ? [] : [encodeExtension({ oid: EXTENSION_OIDS.extKeyUsage, critical: false, value: extKeyUsageValue(["serverAuth"]) })]),
    encodeExtension({ oid: EXTENSION_OIDS.basicConstraints, critical: true, value: basicConstraintsValue(o.isCa) }),
    ...(o.ski ? [encodeExtension({ oid: EXTENSION_OIDS.subjectKeyIdentifier, critical: false, value: subjectKeyIdentifierValue(o.ski) })] : []),
    ...(o.aki ? [encodeExtension({ oid: EXTENSION_OIDS.authorityKeyIdentifier, critical: false, value: authorityKeyIdentifierValue(o.aki) })] : []),
    ...(o.dns ? [encodeExtension({ oid: EXTENSION_OIDS.subjectAltName, critical: false, value: subjectAltNameValue([o.dns], []) })] : []),
  ];
  const sigAlg = algorithmIdentifier(ECDSA_SHA256);
  const tbs = sequence(
    context(0, unsignedInteger(Uint8Array.of(2)), true),
    unsignedInteger(Uint8Array.from((hex.length % 2 ? `0${hex}` : hex).match(/../g) ?? [], (h) => parseInt(h, 16))),
    sigAlg,
    o.issuer,
    sequence(time(o.notBefore), time(o.notAfter)),
    encodeSubject(o.subject),
    o.spki,
    context(3, sequence(...exts), true),
  );
  const signature = new Uint8Array(sign("sha256", tbs, { key: o.signer, dsaEncoding: "der" }));
  return sequence(tbs, sigAlg, bitString(signature));
}

const pem = (der: Bytes): string => `-----BEGIN CERTIFICATE-----\n${(Buffer.from(der).toString("base64").match(/.{1,64}/g) ?? []).join("\n")}\n-----END CERTIFICATE-----\n`;
const spkiOf = (key: KeyObject): Bytes => new Uint8Array(key.export({ type: "spki", format: "der" }));

/** One CA and `count` leaves, 100 per folder; leaf keys come from a pool of 64 (the certificates are all distinct). */
function ensureTree(count: number): string {
  const dir = treeDir(count);
  if (existsSync(join(dir, "done"))) return dir;
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const t0 = performance.now();
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const ca = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const caSpki = spkiOf(ca.publicKey);
  // Go's SubjectKeyId: SHA-1 of the subjectPublicKey bits (the 65-byte uncompressed P-256 point ends the SPKI).
  const caSki = new Uint8Array(createHash("sha1").update(caSpki.subarray(caSpki.length - 65)).digest());
  const caName = encodeSubject({ commonName: "bench-ca" });
  const caDer = issue({ subject: { commonName: "bench-ca" }, issuer: caName, serial: 1n, notBefore: now, notAfter: new Date(now.getTime() + 3650 * DAY), spki: caSpki, isCa: true, ski: caSki, signer: ca.privateKey });
  writeFileSync(join(tmp, "ca.crt"), pem(caDer));
  const pool = Array.from({ length: 64 }, () => spkiOf(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey));
  const folders = count / PER_FOLDER;
  const width = String(folders - 1).length;
  for (let d = 0; d < folders; d++) {
    const sub = join(tmp, `d${String(d).padStart(width, "0")}`);
    mkdirSync(sub);
    for (let i = 0; i < PER_FOLDER; i++) {
      const n = d * PER_FOLDER + i;
      const der = issue({
        subject: { commonName: `leaf-${d}-${i}`, organizations: ["bench"] }, issuer: caName, serial: 0x10000n + BigInt(n) * 7919n,
        notBefore: now, notAfter: new Date(now.getTime() + (1 + (n % 730)) * DAY), // expiries spread over two years
        spki: pool[n % pool.length]!, isCa: false, aki: caSki, dns: `leaf-${i}.d${d}.example`, signer: ca.privateKey,
      });
      writeFileSync(join(sub, `leaf-${i}.crt`), pem(der));
    }
  }
  writeFileSync(join(tmp, "done"), "");
  renameSync(tmp, dir);
  console.log(`  generated ${count} certificates in ${ms(performance.now() - t0)} (cached in ${dir})`);
  return dir;
}

// ---------------------------------------------------------------------------------------------
// What is timed.

/** The native parse loop as a standalone script: walk, read, X509Certificate, validTo. */
const NATIVE_LOOP = `import { readdirSync, readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
export function nativeLoop(root) {
  let n = 0;
  let latest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && p.endsWith(".crt")) {
        latest = Math.max(latest, Date.parse(new X509Certificate(readFileSync(p)).validTo));
        n++;
      }
    }
  };
  walk(root);
  if (!latest) throw new Error("no certificate read");
  return n;
}
if (process.argv[2]) nativeLoop(process.argv[2]);
`;

interface Variant {
  readonly label: string;
  readonly argv: (tree: string) => string[];
}
const KPKI_ARGS = (tree: string): string[] => [KPKI, "certs", "check-expiration", "--no-kubeadm", "--scan", tree];
const VARIANTS: readonly Variant[] = [
  { label: "native parse loop", argv: (tree) => [join(CACHE_ROOT, "native-loop.mjs"), tree] },
  { label: "kpki --scan (text)", argv: (tree) => KPKI_ARGS(tree) },
  { label: "kpki --scan -o json", argv: (tree) => [...KPKI_ARGS(tree), "-o", "json"] },
  { label: "kpki --scan --verify (text)", argv: (tree) => [...KPKI_ARGS(tree), "--verify"] },
  { label: "kpki --scan --verify -o json", argv: (tree) => [...KPKI_ARGS(tree), "--verify", "-o", "json"] },
];

/** One whole-process run: wall time, and peak RSS from GNU time. */
function wholeProcess(argv: readonly string[]): { ms: number; rssMb: number } {
  const t0 = performance.now();
  const r = spawnSync("/usr/bin/time", ["-f", "BENCH-MAXRSS-KB %M", process.execPath, ...argv], { stdio: ["ignore", "ignore", "pipe"], maxBuffer: 64 << 20 });
  const elapsed = performance.now() - t0;
  const stderr = String(r.stderr);
  // kpki exits 0 here (every certificate valid); the native loop too.
  if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}: ${stderr.slice(0, 2000)}`);
  const kb = Number(/BENCH-MAXRSS-KB (\d+)/.exec(stderr)?.[1] ?? Number.NaN);
  return { ms: elapsed, rssMb: kb / 1024 };
}

let inProcess: { run: (a: readonly string[], io: CliIo) => Promise<number>; io: CliIo } | undefined;

/** kpki's run() in this process, output discarded (one CliIo for all runs: nodeIo() adds a listener to stdout). */
async function inProcessKpki(args: readonly string[]): Promise<number> {
  if (!inProcess) {
    // The built modules (what the CLI runs), typed as their sources.
    const main: typeof import("../src/cli/main.js") = await import(pathToFileURL(join(ROOT, "dist/src/cli/main.js")).href);
    const nodeIo: typeof import("../src/io/node-io.js") = await import(pathToFileURL(join(ROOT, "dist/src/io/node-io.js")).href);
    inProcess = { run: main.run, io: { ...nodeIo.nodeIo(), stdout: () => undefined } };
  }
  const { run, io } = inProcess;
  const t0 = performance.now();
  const code = await run(args, io);
  if (code !== 0) throw new Error(`kpki ${args.join(" ")} exited ${code}`);
  return performance.now() - t0;
}

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) walk(join(dir, e.name), out);
    else if (e.name.endsWith(".crt")) out.push(join(dir, e.name));
  }
  return out;
}

function opensslSample(tree: string): number {
  const files = walk(tree).slice(0, OPENSSL_SAMPLE);
  const t0 = performance.now();
  for (const f of files) execFileSync("openssl", ["x509", "-noout", "-enddate", "-in", f]);
  return performance.now() - t0;
}

// ---------------------------------------------------------------------------------------------

const SIZES = [10_000, 100_000] as const;
console.log(`\n4. check-expiration --scan over ${SIZES.join(" and ")} certificates (one CA; leaves 100 per folder; ${RUNS} run(s) each, alternating, medians)`);
if (!existsSync(KPKI)) throw new Error("dist/ is missing: run npm run build first");
mkdirSync(CACHE_ROOT, { recursive: true });
writeFileSync(join(CACHE_ROOT, "native-loop.mjs"), NATIVE_LOOP);
const trees: Record<(typeof SIZES)[number], string> = { 10_000: ensureTree(10_000), 100_000: ensureTree(100_000) };
// Verify the generated certificates once with Node's parser (cheap, and catches a broken generator).
for (const tree of Object.values(trees)) {
  const leaf = new X509Certificate(readFileSync(join(tree, readdirSync(tree).find((d) => d.startsWith("d")) ?? "", "leaf-0.crt")));
  if (!leaf.verify(new X509Certificate(readFileSync(join(tree, "ca.crt"))).publicKey)) throw new Error(`${tree}: the generated leaf does not verify`);
}

// Whole process, alternating variants and sizes so that load from other processes spreads evenly.
const whole = new Map<string, { ms: number[]; rss: number[] }>();
for (let r = 0; r < RUNS; r++) {
  for (const n of SIZES) {
    const order = VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length]!);
    for (const v of order) {
      const m = wholeProcess(v.argv(trees[n]));
      const key = `${n} ${v.label}`;
      const entry = whole.get(key) ?? { ms: [], rss: [] };
      entry.ms.push(m.ms);
      entry.rss.push(m.rssMb);
      whole.set(key, entry);
    }
  }
}

// In-process: the native loop's body and kpki's run(), each warmed up once, 10k tree only.
const loop: { nativeLoop: (root: string) => number } = await import(pathToFileURL(join(CACHE_ROOT, "native-loop.mjs")).href);
const { nativeLoop } = loop;
const inProc = new Map<string, number[]>();
const inVariants: [string, () => Promise<number>][] = [
  ["native parse loop", async () => { const t0 = performance.now(); nativeLoop(trees[10_000]); return performance.now() - t0; }],
  ["kpki --scan (text)", () => inProcessKpki(["certs", "check-expiration", "--no-kubeadm", "--scan", trees[10_000]])],
  ["kpki --scan -o json", () => inProcessKpki(["certs", "check-expiration", "--no-kubeadm", "--scan", trees[10_000], "-o", "json"])],
  ["kpki --scan --verify (text)", () => inProcessKpki(["certs", "check-expiration", "--no-kubeadm", "--scan", trees[10_000], "--verify"])],
];
for (const [, f] of inVariants) await f(); // warm-up: module loading and JIT
for (let r = 0; r < RUNS; r++) {
  for (const [label, f] of inVariants) inProc.set(label, [...(inProc.get(label) ?? []), await f()]);
}
const opensslMs = opensslSample(trees[10_000]);

const med = (n: number, label: string): number => median(whole.get(`${n} ${label}`)?.ms ?? []);
const peak = (n: number, label: string): number => Math.max(...(whole.get(`${n} ${label}`)?.rss ?? []));
for (const n of SIZES) {
  const floor = med(n, "native parse loop");
  console.log(`  ${n} certificates, whole process (node start-up included), stdout to /dev/null:`);
  for (const v of VARIANTS) {
    const t = med(n, v.label);
    const ratio = v.label === "native parse loop" ? "" : `   ${(t / floor).toFixed(2)}x the native loop`;
    console.log(`    ${v.label.padEnd(30)} ${ms(t).padStart(8)}   ${((t * 1000) / n).toFixed(0).padStart(4)} µs/cert   max RSS ${peak(n, v.label).toFixed(0).padStart(4)} MB${ratio}`);
  }
}
console.log("  100k / 10k cost, whole process:");
for (const v of VARIANTS) console.log(`    ${v.label.padEnd(30)} ${(med(100_000, v.label) / med(10_000, v.label)).toFixed(2)}x`);
const inFloor = median(inProc.get("native parse loop") ?? []);
console.log("  10000 certificates, in-process (warm; kpki's run() from dist/ with output discarded):");
for (const [label] of inVariants) {
  const t = median(inProc.get(label) ?? []);
  console.log(`    ${label.padEnd(30)} ${ms(t).padStart(8)}   ${((t * 1000) / 10_000).toFixed(0).padStart(4)} µs/cert${label === "native parse loop" ? "" : `   ${(t / inFloor).toFixed(2)}x the native loop`}`);
}
const perCertKpki = med(10_000, "kpki --scan (text)") / 10_000;
console.log(`  openssl x509 -noout -enddate, ${OPENSSL_SAMPLE} files: ${ms(opensslMs)}, ${((opensslMs / OPENSSL_SAMPLE) * 1000).toFixed(0)} µs/file, ${(opensslMs / OPENSSL_SAMPLE / perCertKpki).toFixed(0)}x kpki's whole-process cost per certificate`);
