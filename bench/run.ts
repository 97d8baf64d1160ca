/**
 * `npm run bench`: kpki's start-up against bare Node's, kpki init against an
 * openssl-only shell script making the same kubeadm PKI (both for the npm build,
 * `node dist/bin/kpki.js`, and the single executable, dist/kpki, built if
 * missing or made from other sources), and Node's WebCrypto against
 * @peculiar/webcrypto inside runInit.
 *
 * Commands compared are run in turn (a, b, c, a, b, c, ...), so that a change in
 * the machine's load touches all of them alike. A benchmark reports ratios; it
 * never fails on a missed target. The exit code is non-zero only if the
 * benchmark itself cannot run (no dist/, no openssl).
 */
import { spawnSync, execFileSync } from "node:child_process";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { Crypto as PeculiarCrypto } from "@peculiar/webcrypto";
import { parse as parseYaml } from "yaml";
import { resolveClusterConfig } from "../src/kubeadm/config.js";
import { allCertPhases, allKubeconfigPhases, runInit } from "../src/kubeadm/init.js";
import type { PkiStore } from "../src/kubeadm/store.js";
import type { KeyAlgorithm } from "../src/pki/keys.js";
import { buildIdOf, olderThan } from "../bin/kpki-loader.js";
import { BINARY, buildBinary, staleBinaryReason } from "../scripts/build-binary.js";
import { filesUnder } from "../test/helpers/files.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const KPKI = join(ROOT, "dist", "bin", "kpki.js");
const KPKI_BUNDLE = join(ROOT, "dist", "bin", "kpki.cjs");
/** tsc's output of the CLI's entry: when it is newer than the bundle, dist/bin/kpki.js runs it instead (bin/kpki-loader.ts). */
const UNBUNDLED_ENTRY = join(ROOT, "dist", "src", "cli", "entry.js");
const OPENSSL_SCRIPT = join(ROOT, "bench", "openssl-pki.sh");
const NODE_NAME = "n1";
const ADVERTISE = "10.0.0.10";

/** KPKI_BENCH_QUICK=1: one run of everything, to check the harness (the numbers mean little). */
const QUICK = process.env["KPKI_BENCH_QUICK"] === "1";
const STARTUP_RUNS = QUICK ? 1 : 21;
const RSA_CLI_RUNS = QUICK ? 1 : 5;
const EC_CLI_RUNS = QUICK ? 1 : 10;
const RSA_PROVIDER_RUNS = QUICK ? 1 : 3;
const EC_PROVIDER_RUNS = QUICK ? 1 : 10;

// ---------------------------------------------------------------- helpers

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  if (s.length === 0) return Number.NaN;
  return s.length % 2 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? Number.NaN) + (s[mid] ?? Number.NaN)) / 2;
};
const fmtMs = (ms: number): string =>
  Number.isNaN(ms) ? "n/a" : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
const fmtRatio = (r: number): string => (Number.isFinite(r) ? `${r.toFixed(2)}x` : "n/a");

function table(rows: readonly (readonly string[])[], indent = "  "): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const line = (row: readonly string[]): string =>
    indent + row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ");
  const [head, ...body] = rows;
  if (!head) return "";
  const rule = indent + widths.map((w) => "-".repeat(w)).join("  ");
  return [line(head), rule, ...body.map(line)].join("\n");
}

interface Series {
  readonly label: string;
  readonly ms: number[];
  /** CPU time (user + system) of each run, the child's and its children's, in 10 ms steps. */
  readonly cpuMs: number[];
  failures: number;
}
const series = (label: string): Series => ({ label, ms: [], cpuMs: [], failures: 0 });
const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
const statsRow = (s: Series): string[] => [
  s.label,
  fmtMs(median(s.ms)),
  fmtMs(Math.min(...s.ms)),
  fmtMs(Math.max(...s.ms)),
  fmtMs(mean(s.cpuMs)),
  `${s.ms.length}${s.failures ? ` (+${s.failures} failed)` : ""}`,
];
const STATS_HEAD = ["", "median", "min", "max", "mean CPU", "runs"];
/** The same without CPU time, for in-process timings. */
const wallRow = (s: Series): string[] => [...statsRow(s).slice(0, 4), ...statsRow(s).slice(5)];
const WALL_HEAD = ["", "median", "min", "max", "runs"];

/**
 * CPU time of the children this process waited for (cutime + cstime of /proc/self/stat, in
 * USER_HZ ticks, which Linux reports as 1/100 s), in ms; NaN elsewhere. Less disturbed than wall
 * time by other work on the machine.
 */
function childrenCpuMs(): number {
  try {
    const stat = readFileSync("/proc/self/stat", "latin1");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from the 3rd on
    return (Number(fields[13]) + Number(fields[14])) * 10; // 16th and 17th fields
  } catch {
    return Number.NaN;
  }
}

const warnings: string[] = [];
function warn(line: string): void {
  warnings.push(line);
  console.log(`  WARNING: ${line}`);
}

/** Wall time of a child process, from spawn to exit (Node or bash start-up included). */
function timeChild(s: Series, command: string, args: readonly string[]): boolean {
  const cpu0 = childrenCpuMs();
  const t0 = performance.now();
  const r = spawnSync(command, args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  const ms = performance.now() - t0;
  const cpuMs = childrenCpuMs() - cpu0;
  if (r.status !== 0) {
    s.failures++;
    const why = r.error ? r.error.message : `exit ${r.status ?? r.signal ?? "?"}`;
    warn(`${s.label} failed (${why}): ${(r.stderr ?? "").trim().split("\n").slice(-3).join(" | ")}`);
    return false;
  }
  s.ms.push(ms);
  s.cpuMs.push(cpuMs);
  return true;
}


/** Same relative file names in both trees; a warning line otherwise. */
function compareFileSets(what: string, kpkiDir: string, opensslDir: string): boolean {
  const a = filesUnder(kpkiDir);
  const b = filesUnder(opensslDir);
  const onlyA = a.filter((f) => !b.includes(f));
  const onlyB = b.filter((f) => !a.includes(f));
  if (onlyA.length || onlyB.length || a.length === 0) {
    warn(`${what}: file sets differ (kpki ${a.length} files, openssl ${b.length}); only kpki: [${onlyA.join(", ")}]; only openssl: [${onlyB.join(", ")}]`);
    return false;
  }
  return true;
}

// ------------------------------------------- deeper one-off equivalence check

const b64 = (s: unknown): string => (typeof s === "string" ? Buffer.from(s, "base64").toString("utf8") : "");

/** A normalised description of a certificate: what kubeadm decides, not serials, dates or key bytes. */
function certProfile(pem: string): string {
  const c = new X509Certificate(pem);
  const details = c.publicKey.asymmetricKeyDetails ?? {};
  const key = `${c.publicKey.asymmetricKeyType ?? "?"}${details.modulusLength ?? ""}${details.namedCurve ?? ""}`;
  const days = Math.round((Date.parse(c.validTo) - Date.now()) / 86_400_000);
  return JSON.stringify({
    subject: c.subject,
    issuer: c.issuer,
    san: c.subjectAltName ?? "",
    eku: c.keyUsage ?? [],
    ca: c.ca,
    key,
    days,
    extensions: extensionShape(c.raw),
  });
}

/**
 * The extension OIDs (with criticality) in certificate order, read from the DER.
 * Small and tolerant: it walks tbsCertificate to the [3] extensions field.
 */
function extensionShape(der: Buffer): string[] {
  const read = (buf: Buffer, at: number): { tag: number; start: number; end: number } => {
    const tag = buf[at] ?? 0;
    let len = buf[at + 1] ?? 0;
    let start = at + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = (len << 8) | (buf[start + i] ?? 0);
      start += n;
    }
    return { tag, start, end: start + len };
  };
  const children = (buf: Buffer, start: number, end: number): { tag: number; start: number; end: number }[] => {
    const out = [];
    for (let at = start; at < end; ) {
      const node = read(buf, at);
      out.push(node);
      at = node.end;
    }
    return out;
  };
  const oidText = (bytes: Buffer): string => {
    const first = bytes[0] ?? 0;
    const parts = [Math.floor(first / 40), first % 40];
    let v = 0;
    for (const b of bytes.subarray(1)) {
      v = v * 128 + (b & 0x7f);
      if (!(b & 0x80)) {
        parts.push(v);
        v = 0;
      }
    }
    return parts.join(".");
  };
  const cert = read(der, 0);
  const tbs = children(der, cert.start, cert.end)[0];
  if (!tbs) return [];
  const extWrapper = children(der, tbs.start, tbs.end).find((n) => n.tag === 0xa3);
  if (!extWrapper) return [];
  const list = children(der, extWrapper.start, extWrapper.end)[0];
  if (!list) return [];
  return children(der, list.start, list.end).map((ext) => {
    const [oidNode, second] = children(der, ext.start, ext.end);
    const critical = second?.tag === 0x01 && der[second.start] !== 0;
    return `${oidNode ? oidText(der.subarray(oidNode.start, oidNode.end)) : "?"}${critical ? "!" : ""}`;
  });
}

const bigintText = (_key: string, value: unknown): unknown => (typeof value === "bigint" ? value.toString() : value);

function keyProfile(pem: string): string {
  const k = createPrivateKey(pem);
  const d = k.asymmetricKeyDetails ?? {};
  return `${k.asymmetricKeyType ?? "?"}${d.modulusLength ?? ""}${d.namedCurve ?? ""}`;
}
const pemLabel = (pem: string): string => /-----BEGIN ([A-Z ]+)-----/.exec(pem)?.[1] ?? "?";

function kubeconfigProfile(text: string): { profile: string; keyLabel: string } {
  const doc = parseYaml(text) as Record<string, unknown>;
  const clusters = doc["clusters"] as { name: string; cluster: Record<string, unknown> }[];
  const users = doc["users"] as { name: string; user: Record<string, unknown> }[];
  const contexts = doc["contexts"] as { name: string; context: Record<string, unknown> }[];
  const cluster = clusters[0];
  const user = users[0];
  const keyPem = b64(user?.user["client-key-data"]);
  return {
    profile: JSON.stringify({
      currentContext: doc["current-context"],
      contexts: contexts.map((c) => [c.name, c.context["cluster"], c.context["user"]]),
      cluster: [cluster?.name, cluster?.cluster["server"], certProfile(b64(cluster?.cluster["certificate-authority-data"]))],
      user: [user?.name, certProfile(b64(user?.user["client-certificate-data"])), keyProfile(keyPem)],
      keys: Object.keys(doc),
    }),
    keyLabel: pemLabel(keyPem),
  };
}

/** Compares what the two PKIs say (subjects, SANs, EKUs, extensions, key types, kubeconfig fields). */
function compareContents(what: string, kpkiDir: string, opensslDir: string): void {
  const labels = new Set<string>();
  let differences = 0;
  for (const rel of filesUnder(kpkiDir)) {
    const a = join(kpkiDir, rel);
    const b = join(opensslDir, rel);
    if (!existsSync(b)) continue; // reported by compareFileSets
    const ta = readFileSync(a, "utf8");
    const tb = readFileSync(b, "utf8");
    let pa: string;
    let pb: string;
    try {
      if (rel.endsWith(".crt")) {
        pa = certProfile(ta);
        pb = certProfile(tb);
      } else if (rel.endsWith(".key")) {
        pa = keyProfile(ta);
        pb = keyProfile(tb);
        labels.add(`${pemLabel(ta)} vs ${pemLabel(tb)}`);
      } else if (rel.endsWith(".pub")) {
        const ka = createPublicKey(ta);
        const kb = createPublicKey(tb);
        pa = `${ka.asymmetricKeyType}${JSON.stringify(ka.asymmetricKeyDetails, bigintText)}|${pemLabel(ta)}`;
        pb = `${kb.asymmetricKeyType}${JSON.stringify(kb.asymmetricKeyDetails, bigintText)}|${pemLabel(tb)}`;
      } else if (rel.endsWith(".conf")) {
        const ka = kubeconfigProfile(ta);
        const kb = kubeconfigProfile(tb);
        pa = ka.profile;
        pb = kb.profile;
        labels.add(`${ka.keyLabel} vs ${kb.keyLabel}`);
      } else {
        continue;
      }
    } catch (error) {
      differences++;
      warn(`${what}: ${rel} could not be read: ${(error as Error).message}`);
      continue;
    }
    if (pa !== pb) {
      differences++;
      warn(`${what}: ${rel} differs:\n      kpki:    ${pa}\n      openssl: ${pb}`);
    }
  }
  const keyNote = [...labels].join("; ");
  if (!differences) {
    console.log(`  contents (${what}): subjects, issuers, SANs, EKUs, CA flag, extension OIDs+criticality in order, key types,`);
    console.log(`    validity days and kubeconfig fields all match. Key PEM encodings (kpki vs openssl): ${keyNote}`);
  }
}

// ---------------------------------------------------------------- set-up

const benchStart = performance.now();
if (!existsSync(KPKI)) {
  console.error(`${KPKI} is missing: run \`npm run build\` first (npm run bench does).`);
  process.exit(1);
}
const binaryWhy = staleBinaryReason(BINARY, KPKI_BUNDLE);
if (binaryWhy) {
  console.log(`${relative(ROOT, BINARY)} ${binaryWhy}: building it (npm run build:binary)`);
  await buildBinary();
}
let opensslVersion: string;
try {
  opensslVersion = execFileSync("openssl", ["version"], { encoding: "utf8" }).trim();
} catch {
  console.error("openssl is not on PATH: the baseline cannot run.");
  process.exit(1);
}
const cpuList = cpus();
console.log("kpki benchmark");
console.log(`  CPUs (os.cpus().length): ${cpuList.length}`);
console.log(`  CPU model:               ${cpuList[0]?.model ?? "?"}`);
console.log(`  node:                    ${process.version}`);
console.log(`  openssl:                 ${opensslVersion}`);
console.log(`  load average 1/5/15 min: ${loadavg().map((x) => x.toFixed(2)).join(" / ")} (at start)`);
console.log(`  single executable:       ${relative(ROOT, BINARY)}, ${(statSync(BINARY).size / 1024 / 1024).toFixed(1)} MiB`);


const tmpRoot = mkdtempSync(join(tmpdir(), "kpki-bench-"));
let runNo = 0;
const freshDir = (tag: string): string => {
  const d = join(tmpRoot, `${String(++runNo).padStart(3, "0")}-${tag}`);
  mkdirSync(d);
  return d;
};
const cleanup = (): void => rmSync(tmpRoot, { recursive: true, force: true });
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));

const initArgs = (dir: string, alg: KeyAlgorithm): string[] => [
  "init",
  "--dir",
  dir,
  "--node-name",
  NODE_NAME,
  "--apiserver-advertise-address",
  ADVERTISE,
  ...(alg === "RSA-2048" ? [] : ["--encryption-algorithm", alg]),
];

/** The two ways kpki runs: the npm build under Node, and the single executable. */
const RUNNERS = [
  { label: "node dist/bin/kpki.js", command: process.execPath, prefix: [KPKI] },
  { label: "dist/kpki", command: BINARY, prefix: [] },
] as const;

interface CliResult {
  readonly kpki: readonly Series[];
  readonly openssl: Series;
  readonly fileSetMismatches: number;
  readonly pairsCompared: number;
}

/** kpki init (each runner) and the openssl script in turn, `runs` rounds, each in a fresh folder. */
function cliComparison(alg: KeyAlgorithm, mode: "rsa" | "ec", runs: number): CliResult {
  const kpki = RUNNERS.map((r) => series(`${r.label} init`));
  const openssl = series(`bash bench/openssl-pki.sh DIR ${mode}`);
  let mismatches = 0;
  let compared = 0;
  for (let i = 0; i < runs; i++) {
    const oDir = freshDir(`openssl-${mode}`);
    const oOk = timeChild(openssl, "bash", [OPENSSL_SCRIPT, oDir, mode, NODE_NAME, ADVERTISE]);
    RUNNERS.forEach((runner, r) => {
      const kDir = freshDir(`kpki-${mode}-${r}`);
      const s = kpki[r];
      const kOk = s !== undefined && timeChild(s, runner.command, [...runner.prefix, ...initArgs(kDir, alg)]);
      // Outside the timed region: the same file names in both trees.
      if (kOk && oOk) {
        compared++;
        if (!compareFileSets(`${alg} ${runner.label} run ${i + 1}`, kDir, oDir)) mismatches++;
        if (i === 0) compareContents(`${alg} ${runner.label} run 1`, kDir, oDir);
      }
      rmSync(kDir, { recursive: true, force: true });
    });
    rmSync(oDir, { recursive: true, force: true });
  }
  return { kpki, openssl, fileSetMismatches: mismatches, pairsCompared: compared };
}

const summary: string[][] = [["ratio (wall time: of medians; CPU: of means)", "node dist/bin/kpki.js", "dist/kpki"]];
const ratioOf = (a: Series | undefined, b: Series): number => (a ? median(a.ms) / median(b.ms) : Number.NaN);
const cpuRatioOf = (a: Series | undefined, b: Series): number => (a ? mean(a.cpuMs) / mean(b.cpuMs) : Number.NaN);

/**
 * dist/ may be rebuilt while the bench runs (another `npm run build`, or a bare tsc, in the same
 * checkout): then `node dist/bin/kpki.js` ran another build, or tsc's unbundled output, for part of
 * the section just measured. Said as a warning after each section that runs it.
 */
const bundleIdAtStart = buildIdOf(readFileSync(KPKI_BUNDLE, "latin1"));
function checkNpmBuild(section: string): void {
  if (olderThan(KPKI_BUNDLE, UNBUNDLED_ENTRY)) warn(`${section}: dist/src is newer than dist/bin/kpki.cjs, so node dist/bin/kpki.js ran tsc's unbundled output; its figures do not count`);
  else if (buildIdOf(readFileSync(KPKI_BUNDLE, "latin1")) !== bundleIdAtStart) warn(`${section}: dist/bin/kpki.cjs was rebuilt during the run; node dist/bin/kpki.js's figures mix builds`);
}

// ---------------------------------------------------------------- 1. start-up

console.log(`\n1. Start-up: kpki --version against bare Node (node -e 0), ${STARTUP_RUNS} runs each, in turn`);
const nodeBare = series("node -e 0");
const versions = RUNNERS.map((r) => series(`${r.label} --version`));
for (let i = 0; i < STARTUP_RUNS; i++) {
  timeChild(nodeBare, process.execPath, ["-e", "0"]);
  RUNNERS.forEach((runner, r) => {
    const s = versions[r];
    if (s) timeChild(s, runner.command, [...runner.prefix, "--version"]);
  });
}
console.log(table([STATS_HEAD, statsRow(nodeBare), ...versions.map(statsRow)]));
for (const s of versions) console.log(`  ${s.label} / node -e 0: ${fmtRatio(ratioOf(s, nodeBare))} (wall, medians), ${fmtRatio(cpuRatioOf(s, nodeBare))} (CPU, means)`);
checkNpmBuild("start-up");
summary.push(["kpki --version / node -e 0", ...versions.map((s) => fmtRatio(ratioOf(s, nodeBare)))]);
summary.push(["  the same, CPU time (means)", ...versions.map((s) => fmtRatio(cpuRatioOf(s, nodeBare)))]);

// ---------------------------------------------------------------- 2, 3. init

for (const [n, alg, mode, runs] of [
  [2, "RSA-2048", "rsa", RSA_CLI_RUNS],
  [3, "ECDSA-P256", "ec", EC_CLI_RUNS],
] as const) {
  console.log(`\n${n}. ${alg} full PKI (16 keys, 27 files), child processes, ${runs} runs each, in turn`);
  const r = cliComparison(alg, mode, runs);
  checkNpmBuild(`${alg} init`);
  console.log(table([STATS_HEAD, ...r.kpki.map(statsRow), statsRow(r.openssl)]));
  for (const s of r.kpki) console.log(`  ${s.label} / openssl script: ${fmtRatio(ratioOf(s, r.openssl))} (wall, medians), ${fmtRatio(cpuRatioOf(s, r.openssl))} (CPU, means)`);
  console.log(`  same file names in both output dirs: ${r.pairsCompared - r.fileSetMismatches} of ${r.pairsCompared} run pairs`);
  summary.push([`kpki init ${alg} / openssl script`, ...r.kpki.map((s) => fmtRatio(ratioOf(s, r.openssl)))]);
  summary.push(["  the same, CPU time (means)", ...r.kpki.map((s) => fmtRatio(cpuRatioOf(s, r.openssl)))]);
}

// ---------------------------------------------------------------- 4. crypto providers

const providerSummary: string[][] = [["in-process", "ratio", ""]];
console.log(
  `\n4. Crypto provider inside runInit (in-memory store, no Node start-up, no file I/O): ` +
    `RSA-2048 x${RSA_PROVIDER_RUNS}, ECDSA-P256 x${EC_PROVIDER_RUNS}, interleaved`,
);

const memoryStore: PkiStore = { read: async () => undefined, write: async () => {}, checkWritable: async () => {} };
const selection = { certs: allCertPhases(), kubeconfigs: allKubeconfigPhases() };
const providers: { readonly name: string; readonly crypto: Crypto }[] = [
  { name: "node globalThis.crypto", crypto: globalThis.crypto },
  { name: "@peculiar/webcrypto", crypto: new PeculiarCrypto() },
];

async function timeInit(s: Series, alg: KeyAlgorithm, crypto: Crypto): Promise<void> {
  const cfg = resolveClusterConfig(
    undefined,
    { certDir: "/bench/pki", kubeconfigDir: "/bench", nodeName: NODE_NAME, advertiseAddress: ADVERTISE, encryptionAlgorithm: alg },
    { hostname: NODE_NAME, defaultAddress: ADVERTISE },
  );
  const t0 = performance.now();
  try {
    await runInit(cfg, selection, { crypto, store: memoryStore, now: new Date(), log: () => {}, warn: () => {} });
    s.ms.push(performance.now() - t0);
  } catch (error) {
    s.failures++;
    warn(`${s.label} failed: ${(error as Error).message}`);
  }
}

// One untimed ECDSA run per provider first, so module loading and JIT warm-up are not timed.
for (const p of providers) await timeInit(series(`${p.name} warm-up`), "ECDSA-P256", p.crypto);

const providerRows: string[][] = [WALL_HEAD];
const providerRatios: { alg: KeyAlgorithm; ratio: number }[] = [];
for (const [alg, runs] of [
  ["RSA-2048", RSA_PROVIDER_RUNS],
  ["ECDSA-P256", EC_PROVIDER_RUNS],
] as const) {
  const [nodeSeries, peculiarSeries] = providers.map((p) => series(`${alg}, ${p.name}`));
  if (!nodeSeries || !peculiarSeries) continue;
  for (let i = 0; i < runs; i++) {
    await timeInit(nodeSeries, alg, providers[0]?.crypto ?? globalThis.crypto);
    await timeInit(peculiarSeries, alg, providers[1]?.crypto ?? globalThis.crypto);
  }
  providerRows.push(wallRow(nodeSeries), wallRow(peculiarSeries));
  providerRatios.push({ alg, ratio: median(peculiarSeries.ms) / median(nodeSeries.ms) });
}
console.log(table(providerRows));
for (const { alg, ratio } of providerRatios) {
  const faster = !Number.isFinite(ratio)
    ? "n/a"
    : ratio > 1
      ? `Node's WebCrypto is faster (${ratio.toFixed(2)}x)`
      : ratio < 1
        ? `@peculiar/webcrypto is faster (${(1 / ratio).toFixed(2)}x)`
        : "same speed";
  console.log(`  ${alg}: ratio of medians peculiar/node ${fmtRatio(ratio)}: ${faster}`);
  providerSummary.push([`${alg} runInit, peculiar/node (medians)`, fmtRatio(ratio), ratio > 1 ? "node faster" : "peculiar faster"]);
}
console.log("  (the CLI uses Node's WebCrypto: src/io/node-io.ts)");

// ---------------------------------------------------------------- summary

console.log("\nSummary");
console.log(table(summary));
console.log("");
console.log(table(providerSummary));
console.log(`\n${warnings.length ? `${warnings.length} warning(s) above.` : "No warnings: every kpki/openssl pair wrote the same file names."}`);
console.log(`Total bench time: ${fmtMs(performance.now() - benchStart)}; load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(" / ")}`);
