/**
 * Differential fuzzing of the approver against Go: mutants of valid kubelet-serving requests
 * (mutate.ts) go through kpki's decideCsr and strict reader, and through Go's pem.Decode +
 * x509.ParseCertificateRequest + CheckSignature (testdata/go-csr-twin, one process per run).
 *
 * A disagreement is either:
 *   - kpki approves and Go does not read the request, or its signature fails, or Go's reading
 *     differs from kpki's, or Go reads a SAN the node does not own; or
 *   - both read the request (whatever kpki decides) and their readings differ.
 * A crash is anything kpki throws instead of deciding. Shared by test/approver/fuzz.test.ts (a
 * seeded slice of 20,000 mutants) and scripts/fuzz.ts (`npm run fuzz`, 1,000,000).
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { performance } from "node:perf_hooks";
import { decideCsr, DEFAULT_POLICY, indexNodes, type CsrObject, type Decision, type NodeObject, type PolicyConfig } from "../../src/approver/policy.js";
import { readRequest, RequestError, type StrictRequest } from "../../src/approver/request.js";
import { nodeSignatureVerifier } from "../../src/io/node-signature.js";
import { formatIp, normalizeIp, parseIp } from "../../src/pki/ip.js";
import { viewDifferences } from "../helpers/csr-views.js";
import type { GoCsrTwin, GoCsrView } from "../helpers/go-twin.js";
import { NODE } from "./csr-tree.js";
import { mutants, type Mutant } from "./mutate.js";
import type { Rng } from "./rng.js";
import { seedFromDer, type Seed, type SigAlg } from "./seeds.js";

export const FUZZ_NOW = new Date(Date.UTC(2026, 10, 26, 12, 0, 0));

/** n1 owns what every seed asks for; n2 owns what the evil values steal. */
export const FUZZ_NODES: readonly NodeObject[] = [
  { metadata: { name: "n1", creationTimestamp: "2026-11-01T00:00:00Z" }, status: { addresses: [
    { type: "Hostname", address: "n1" }, { type: "InternalDNS", address: "n1.int.example.com" },
    { type: "InternalIP", address: "10.0.0.11" }, { type: "InternalIP", address: "fd00::11" }] } },
  { metadata: { name: "n2", creationTimestamp: "2026-11-01T00:00:00Z" }, status: { addresses: [{ type: "Hostname", address: "n2" }, { type: "InternalIP", address: "10.0.0.12" }] } },
];
export const FUZZ_POLICY: PolicyConfig = { ...DEFAULT_POLICY, apiServerAddresses: ["192.0.2.100"], podCidrs: ["10.244.0.0/16"], maxApprovalsPerNode: Number.MAX_SAFE_INTEGER };

const OWN_DNS = new Set<string>(NODE.dnsNames);
const OWN_IPS = new Set(NODE.ips.map((ip) => formatIp(parseIp(ip)!)));

export interface Finding {
  readonly kind: "disagreement" | "crash" | "go-panic";
  readonly seed: string;
  readonly ops: readonly string[];
  /** The spec.request bytes, base64: paste into a regression test. */
  readonly request: string;
  readonly detail: string;
}

export interface FuzzReport {
  mutants: number;
  approved: number;
  /** Both readers read the request (their readings were compared). */
  bothRead: number;
  /** Go read it, kpki refused it (kpki is stricter: refused as MalformedRequest). */
  onlyGoRead: number;
  /** kpki read it, Go did not (kpki then denied it for a key, SAN or signature reason). */
  onlyKpkiRead: number;
  decisions: Record<string, number>;
  findings: Finding[];
  disagreements: number;
  crashes: number;
  slowestDecisionMs: number;
  slowestDecision: string;
  durationMs: number;
}

export const emptyReport = (): FuzzReport => ({
  mutants: 0, approved: 0, bothRead: 0, onlyGoRead: 0, onlyKpkiRead: 0, decisions: {}, findings: [], disagreements: 0, crashes: 0,
  slowestDecisionMs: 0, slowestDecision: "", durationMs: 0,
});

/** The CSR object a node would create for `request`: RSA keys with key encipherment, as the kubelet asks. */
const csrObject = (request: Uint8Array, seed: Seed): CsrObject => ({
  metadata: { name: "fuzz", uid: "fuzz", creationTimestamp: "2026-11-26T11:59:00Z" },
  spec: {
    request: Buffer.from(request).toString("base64"), signerName: "kubernetes.io/kubelet-serving", username: NODE.commonName,
    groups: ["system:nodes", "system:authenticated"],
    usages: seed.sigAlg.endsWith("-rsa") ? ["digital signature", "key encipherment", "server auth"] : ["digital signature", "server auth"],
  },
});

/** Why an approval is wrong in Go's eyes, or undefined. */
function goDisagreesWithApproval(k: StrictRequest | RequestError, g: GoCsrView): string | undefined {
  if (g.stage !== "ok") return `Go: ${g.stage}: ${g.error}`;
  if (g.view.checkSignature) return `Go's CheckSignature: ${g.view.checkSignature}`;
  if (k instanceof RequestError) return `kpki approved a request its reader refuses: ${k.message}`;
  const diffs = viewDifferences(k, g.derHex, g.view);
  if (diffs.length) return diffs.join("; ");
  // What kcm would sign, by Go's reading: the subject and SANs of node n1 only.
  if (g.view.commonName !== NODE.commonName || JSON.stringify(g.view.organization) !== JSON.stringify([NODE.organization])) {
    return `Go reads subject CN=${g.view.commonName} O=${g.view.organization.join(",")}`;
  }
  const foreign = [
    ...g.view.dnsNames.filter((d) => !OWN_DNS.has(d.toLowerCase().replace(/\.$/, ""))),
    ...g.view.ipsHex.map((h) => formatIp(normalizeIp(Uint8Array.from(Buffer.from(h, "hex"))))).filter((ip) => !OWN_IPS.has(ip)),
  ];
  if (foreign.length) return `Go reads SANs node n1 does not own: ${foreign.join(", ")}`;
  if (g.view.emails.length || g.view.uris.length) return "Go reads e-mail or URI SANs";
  return undefined;
}

/** Runs `count` mutants in batches; Go reads each batch while kpki decides it. */
export async function runDifferential(
  seeds: readonly Seed[],
  go: GoCsrTwin,
  rng: Rng,
  count: number,
  opts: { readonly batch?: number; readonly maxFindings?: number; readonly onBatch?: (r: FuzzReport) => void } = {},
): Promise<FuzzReport> {
  const report = emptyReport();
  const index = indexNodes(FUZZ_NODES);
  const started = performance.now();
  const stream = mutants(seeds, rng, count);
  const batchSize = opts.batch ?? 2000;
  const maxFindings = opts.maxFindings ?? 50;
  const seedByName = new Map(seeds.map((s) => [s.name, s]));
  const record = (f: Finding): void => {
    if (f.kind === "crash") report.crashes++;
    else report.disagreements++;
    if (report.findings.length < maxFindings) report.findings.push(f);
  };
  for (;;) {
    const batch: Mutant[] = [];
    for (let next = stream.next(); !next.done; next = batch.length < batchSize ? stream.next() : { done: true, value: undefined }) batch.push(next.value);
    if (!batch.length) break;
    const goReadings = go.parse(batch.map((m) => m.request));
    const kpki: { decision: Decision | undefined; reading: StrictRequest | RequestError | undefined }[] = [];
    for (const m of batch) {
      const seed = seedByName.get(m.seed)!;
      const finding = (kind: Finding["kind"], detail: string): Finding => ({ kind, seed: m.seed, ops: m.ops, request: Buffer.from(m.request).toString("base64"), detail });
      let decision: Decision | undefined;
      let reading: StrictRequest | RequestError | undefined;
      try {
        const t0 = performance.now();
        decision = await decideCsr(csrObject(m.request, seed), index, FUZZ_POLICY, FUZZ_NOW, nodeSignatureVerifier);
        const ms = performance.now() - t0;
        if (ms > report.slowestDecisionMs) {
          report.slowestDecisionMs = ms;
          report.slowestDecision = `${m.seed} ${m.ops.join(" + ")} → ${decision.reason}`;
        }
        try {
          reading = readRequest(Uint8Array.from(m.request));
        } catch (error) {
          if (!(error instanceof RequestError)) throw error;
          reading = error;
        }
      } catch (error) {
        record(finding("crash", (error as Error).stack ?? String(error)));
      }
      kpki.push({ decision, reading });
    }
    const readings = await goReadings;
    for (const [i, m] of batch.entries()) {
      const { decision, reading } = kpki[i]!;
      const g = readings[i]!;
      const finding = (kind: Finding["kind"], detail: string): Finding => ({ kind, seed: m.seed, ops: m.ops, request: Buffer.from(m.request).toString("base64"), detail });
      report.mutants++;
      if (g.stage === "panic") record(finding("go-panic", g.panic));
      if (!decision || !reading) continue;
      report.decisions[`${decision.decision}:${decision.reason}`] = (report.decisions[`${decision.decision}:${decision.reason}`] ?? 0) + 1;
      const goRead = g.stage === "ok";
      const kpkiRead = !(reading instanceof RequestError);
      if (goRead && kpkiRead) {
        report.bothRead++;
        const diffs = viewDifferences(reading, g.derHex, g.view);
        if (diffs.length) record(finding("disagreement", `both read it, differently (kpki: ${decision.reason}): ${diffs.join("; ")}`));
      } else if (goRead) report.onlyGoRead++;
      else if (kpkiRead) report.onlyKpkiRead++;
      if (decision.decision === "approve") {
        report.approved++;
        const why = goDisagreesWithApproval(reading, g);
        if (why) record(finding("disagreement", `kpki approves; ${why}`));
      }
    }
    report.durationMs = performance.now() - started;
    opts.onBatch?.(report);
  }
  report.durationMs = performance.now() - started;
  return report;
}

/** Seeds made by Go the way the kubelet makes its request (client-go MakeCSRFromTemplate). */
export async function goSeeds(go: GoCsrTwin): Promise<Seed[]> {
  const keys: [string, KeyObject, SigAlg][] = [
    ["go-ecdsa-p256", generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey, "ecdsa-sha256"],
    ["go-rsa-2048", generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey, "sha256-rsa"],
  ];
  const pems = await go.create(keys.map(([, key]) => ({
    keyPem: key.export({ type: "pkcs8", format: "pem" }).toString(), commonName: NODE.commonName, organization: [NODE.organization],
    dnsNames: [...NODE.dnsNames], ips: [...NODE.ips],
  })));
  return keys.map(([name, key, sigAlg], i) => {
    const b64 = pems[i]!.replace(/-----[^-]+-----|\s/g, "");
    return seedFromDer(name, new Uint8Array(Buffer.from(b64, "base64")), key, sigAlg);
  });
}

/** One line per number, for logs and the closing report. */
export function summary(r: FuzzReport): string {
  const rate = r.durationMs ? Math.round((r.mutants / r.durationMs) * 1000) : 0;
  const top = Object.entries(r.decisions).sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => `${k} ${v}`).join(", ");
  return [
    `mutants ${r.mutants} in ${(r.durationMs / 1000).toFixed(1)} s (${rate}/s); approved ${r.approved}; both read ${r.bothRead}, only Go ${r.onlyGoRead}, only kpki ${r.onlyKpkiRead}`,
    `disagreements ${r.disagreements}, crashes ${r.crashes}; slowest decision ${r.slowestDecisionMs.toFixed(1)} ms (${r.slowestDecision})`,
    `decisions: ${top}`,
  ].join("\n");
}
