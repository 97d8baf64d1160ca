import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { CERT_LABELS, metricFamilies } from "../../src/exporter/series.js";
import { fakeIo } from "../helpers/fake-io.js";

/**
 * Golden test of `kpki exporter` against x509-certificate-exporter v4.2.0: metric names, types,
 * HELP strings and label names as docs/metrics.md (and pkg/registry/*.go for HELP) record them, in
 * x509-certificate-exporter-v4.golden.json. Its PromQL examples run in
 * test/interop/exporter-prometheus.test.ts.
 */
interface V4Golden {
  readonly perCertificateLabels: readonly string[];
  readonly perCertificateLabelsNotEmittedByKpki: { readonly labels: readonly string[] };
  readonly metrics: Readonly<Record<string, { readonly type: string; readonly help: string; readonly labels: "perCertificateLabels" | readonly string[] }>>;
  readonly sourceKinds: readonly string[];
  readonly reasons: { readonly bundle: readonly string[]; readonly transport: readonly string[] };
}
const V4: V4Golden = JSON.parse(readFileSync(join(import.meta.dirname, "x509-certificate-exporter-v4.golden.json"), "utf8")) as V4Golden;
const documentedLabels = (metric: string): readonly string[] => {
  const l = V4.metrics[metric]!.labels;
  return l === "perCertificateLabels" ? V4.perCertificateLabels : l;
};

/** kpki's own per-certificate labels, on top of v4's. */
const KPKI_CERT_LABELS = ["chain_position", "csr_name", "csr_requester", "csr_signer", "csr_usages", "kubeadm_name", "node"];
/** x509_cert_error: kpki writes only the 1s, so its HELP says so instead of v4's "1 if ..., 0 otherwise". */
const HELP_DIFFERS = new Set(["x509_cert_error"]);
/**
 * Where kpki departs from v4.2.0 today, each asserted as it is: when kpki is brought in line, the
 * test fails until the entry is deleted.
 * - x509_exporter_build_info: v4's labels are Go's build facts (internal/product/version.go VariadicBuildInfo).
 */
const BUILD_INFO_DEPARTURE = { missing: ["built", "git_commit", "go_arch", "go_os", "go_runtime"], extra: ["arch", "os", "runtime"] };
/**
 * x509_source_errors_total's reason for a bad scanned file: v4's (pkg/cert/pem/pem.go Parse,
 * pkg/source/file/file.go classifyReadError) and, where it differs today, kpki's.
 */
const REASONS: readonly { file: string; v4: string; kpki?: string }[] = [
  { file: "nocert.pem", v4: "no_certificate_found" }, // no PEM block at all
  { file: "broken.pem", v4: "bad_pem" }, // a CERTIFICATE block that does not parse
  { file: "missing.pem", v4: "not_found" }, // ENOENT
];

/** The text format read back: each family's HELP, TYPE and samples. */
interface Family {
  help?: string;
  type?: string;
  samples: Record<string, string>[];
}
function families(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  const family = (name: string): Family => out.get(name) ?? out.set(name, { samples: [] }).get(name)!;
  for (const line of text.split("\n")) {
    if (!line) continue;
    const meta = /^# (HELP|TYPE) (\w+) (.*)$/.exec(line);
    if (meta) {
      family(meta[2]!)[meta[1] === "HELP" ? "help" : "type"] = meta[3]!;
      continue;
    }
    const m = /^(\w+)(?:\{(.*)\})? \S+$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_s, c: string) => (c === "n" ? "\n" : c));
    family(m[1]!).samples.push(labels);
  }
  return out;
}

const work = mkdtempSync(join(tmpdir(), "kpki-v4-compat-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
async function kpki(args: string[]) {
  const f = fakeIo();
  const code = await run(args, f.io);
  return { code, stdout: f.stdout(), stderr: f.stderr() };
}

const cluster = join(work, "cluster");
const files = join(work, "files");
mkdirSync(files);
const init = await kpki(["init", "--dir", cluster, "--encryption-algorithm", "ECDSA-P256"]);
if (init.code !== 0) throw new Error(`kpki init: ${init.stderr}`);
const good = join(files, "good.pem");
execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(files, "good.key"), "-out", good, "-days", "30", "-subj", "/O=Compat/CN=v4.example", "-set_serial", "0xF00DCAFE1234567890"], { stdio: "pipe" });
writeFileSync(join(files, "nocert.pem"), "no certificate here\n");
writeFileSync(join(files, "broken.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");

describe("kpki exporter --once against x509-certificate-exporter v4.2.0's metrics", async () => {
  // Every per-certificate family, an error of each kind, and the source families with series.
  const r = await kpki(["exporter", "--once", "--dir", cluster, "--no-kubelet", "--expose-relative-metrics", ...["good.pem", "nocert.pem", "broken.pem", "missing.pem"].flatMap((f) => ["--scan", join(files, f)])]);
  const out = families(r.stdout);
  // The one family that needs a cluster source for a series: metricFamilies' own label names.
  const resyncs = metricFamilies([], [], [{ kind: "kube-secret", name: "secrets", up: true, errors: new Map(), resyncs: { resource: "secrets", count: 2 } }], { version: "0", runtime: "", os: "", arch: "" }, { now: 0, relative: false })
    .find((f) => f.name === "x509_kube_watch_resyncs_total")!;

  it("runs: the unreadable files make it CRITICAL", () => {
    expect(r.code).toBe(2);
    expect(r.stdout).not.toBe("");
  });

  it("exports every metric of the golden file with v4's TYPE, and v4's HELP", () => {
    for (const [name, m] of Object.entries(V4.metrics)) {
      expect(out.get(name)?.type, name).toBe(m.type);
      if (!HELP_DIFFERS.has(name)) expect(out.get(name)?.help, name).toBe(m.help);
    }
  });

  it("puts every documented per-certificate label on every series, and no other label than kpki's own", () => {
    expect([...KPKI_CERT_LABELS, ...V4.perCertificateLabels].sort()).toEqual([...CERT_LABELS]);
    for (const [name, m] of Object.entries(V4.metrics)) {
      if (m.labels !== "perCertificateLabels") continue;
      const samples = out.get(name)?.samples ?? [];
      expect(samples.length, name).toBeGreaterThan(0);
      for (const s of samples) {
        expect(Object.keys(s).sort(), name).toEqual([...CERT_LABELS]);
        // Not emitted, which PromQL does not tell from "": {cabundle_entry=""} selects them all the same.
        for (const l of V4.perCertificateLabelsNotEmittedByKpki.labels) expect(s, name).not.toHaveProperty(l);
      }
    }
  });

  it("labels the source and build series as v4 does", () => {
    for (const name of ["x509_source_up", "x509_source_errors_total"]) {
      const samples = out.get(name)?.samples ?? [];
      expect(samples.length, name).toBeGreaterThan(0);
      for (const s of samples) {
        expect(Object.keys(s).sort(), name).toEqual([...documentedLabels(name)].sort());
        expect(V4.sourceKinds, name).toContain(s["source_kind"]);
      }
    }
    expect([...resyncs.labelNames].sort()).toEqual([...documentedLabels("x509_kube_watch_resyncs_total")].sort());
    const build = out.get("x509_exporter_build_info")?.samples ?? [];
    expect(build).toHaveLength(1);
    const v4Build = documentedLabels("x509_exporter_build_info");
    expect(Object.keys(build[0]!).sort()).toEqual([...v4Build.filter((l) => !BUILD_INFO_DEPARTURE.missing.includes(l)), ...BUILD_INFO_DEPARTURE.extra].sort());
    // `version`, the label of the documented PromQL examples, is there.
    expect(build[0]!["version"]).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("gives a file's certificate the documented label values", () => {
    const x = new X509Certificate(readFileSync(good));
    const s = out.get("x509_cert_not_after")!.samples.filter((l) => l["filepath"] === good);
    expect(s).toHaveLength(1);
    expect(s[0]).toMatchObject({
      filename: "good.pem",
      filepath: good,
      serial_number: BigInt(`0x${x.serialNumber}`).toString(10),
      subject_CN: "v4.example",
      subject_O: "Compat",
      issuer_CN: "v4.example",
      subject_C: "",
      embedded_kind: "",
      embedded_key: "",
      secret_namespace: "",
      secret_name: "",
      secret_key: "",
      configmap_namespace: "",
      configmap_name: "",
      configmap_key: "",
      discriminator: "",
    });
    expect(s[0]!["serial_number"]).toBe("4428212463712221952144"); // 0xF00DCAFE1234567890, in decimal
    // An unreadable file's x509_cert_error has the file's location labels too, and an empty serial_number.
    const errors = out.get("x509_cert_error")!.samples;
    expect(errors.map((e) => [e["filename"], e["filepath"], e["serial_number"]]).sort()).toEqual(REASONS.map((x) => [x.file, join(files, x.file), ""]).sort());
  });

  it("counts a bad file's error under v4's reason, or kpki's known other one", async () => {
    for (const x of REASONS) {
      expect(V4.reasons.bundle).toContain(x.v4);
      const one = families((await kpki(["exporter", "--once", "--no-kubeadm", "--no-kubelet", "--scan", join(files, x.file)])).stdout);
      expect(one.get("x509_source_errors_total")?.samples.map((s) => s["reason"]), x.file).toEqual([x.kpki ?? x.v4]);
    }
  });
});
