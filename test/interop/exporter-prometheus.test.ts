import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findBinary, missingBinaries } from "../helpers/testenv.js";
import { freePort, startProcess, stopProcess, teardown, waitFor } from "../helpers/procs.js";

/**
 * A real Prometheus (Debian's) scrapes a real `kpki exporter` process every second, with
 * deploy/exporter's alert rules loaded: the series, the labels dashboards filter on, the alerts as
 * Prometheus itself computes them, every query of deploy/exporter's Grafana dashboard, and every
 * PromQL example of x509-certificate-exporter v4.2.0's docs/metrics.md (test/exporter's golden file).
 */
const ROOT = resolve(import.meta.dirname, "../..");
const KPKI = join(ROOT, "dist", "bin", "kpki.js");
const skip = missingBinaries("prometheus", "openssl");

describe.skipIf(skip)("Prometheus scrapes kpki exporter", () => {
  const work = mkdtempSync(join(tmpdir(), "kpki-exporter-prom-"));
  const cleanup = teardown(work);
  const pids: (number | undefined)[] = [];
  let prom = "";

  /** One instant query's result vector. */
  const query = async (q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
    const r = (await (await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (r.status !== "success") throw new Error(`${q}: ${r.error}`);
    return r.data.result;
  };
  const scalarOf = async (q: string): Promise<number | undefined> => {
    const r = await query(q);
    return r.length ? Number(r[0]!.value[1]) : undefined;
  };

  beforeAll(async () => {
    const cluster = join(work, "cluster");
    execFileSync(process.execPath, [KPKI, "init", "--dir", cluster, "--encryption-algorithm", "ECDSA-P256"], { stdio: "pipe" });
    // One more certificate, 10 days from its end: CertificateExpiration (and CertificateRenewal) become pending.
    const extra = join(work, "extra");
    mkdirSync(extra);
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(extra, "soon.key"), "-out", join(extra, "soon.pem"), "-days", "10", "-subj", "/CN=soon.example"], { stdio: "pipe" });
    const exporterPort = await freePort();
    const exporter = startProcess(process.execPath, [KPKI, "exporter", "--dir", cluster, "--no-kubelet", "--scan", extra, "--listen", `127.0.0.1:${exporterPort}`], join(work, "exporter.log"));
    pids.push(exporter.pid);
    await waitFor("kpki exporter", async () => (await fetch(`http://127.0.0.1:${exporterPort}/readyz`)).status === 200, 30_000);

    const promPort = await freePort();
    writeFileSync(join(work, "prometheus.yml"), [
      "global: {scrape_interval: 1s, evaluation_interval: 1s}",
      `rule_files: [${JSON.stringify(join(ROOT, "deploy", "exporter", "alerts.rules.yaml"))}]`,
      "scrape_configs:",
      "- job_name: kpki",
      `  static_configs: [{targets: ["127.0.0.1:${exporterPort}"]}]`,
      "",
    ].join("\n"));
    const p = startProcess(findBinary("prometheus")!, [
      `--config.file=${join(work, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(work, "tsdb")}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      "--web.console.templates=/nonexistent", "--web.console.libraries=/nonexistent",
    ], join(work, "prometheus.log"));
    pids.push(p.pid);
    prom = `http://127.0.0.1:${promPort}`;
    await waitFor("Prometheus ready", async () => (await fetch(`${prom}/-/ready`)).status === 200, 60_000, 200);
    await waitFor("a scrape of every certificate", async () => (await scalarOf("count(x509_cert_not_after)")) === 19, 60_000, 250);
  }, 120_000);

  afterAll(async () => {
    for (const pid of pids) await cleanup.attempt(`stop ${pid}`, () => stopProcess(pid));
    cleanup.finish();
  });

  it("scrapes the target, every certificate, with the labels x509-certificate-exporter's dashboard filters on", async () => {
    expect(await scalarOf('up{job="kpki"}')).toBe(1);
    // The anchor dashboard's "Media" panel: certificate files against kubeconfig entries.
    expect(await scalarOf('count(x509_cert_not_after{filepath!="",embedded_key=""})')).toBe(11);
    expect(await scalarOf('count(x509_cert_not_after{filepath!="",embedded_key!=""})')).toBe(8);
    expect(await scalarOf('count(x509_cert_not_after{secret_name!=""})')).toBeUndefined();
    expect(await scalarOf('count(x509_cert_not_after{chain_position="root"})')).toBe(3 + 4 + 1); // kubeadm's CAs, the kubeconfigs' CA copies, the self-signed extra
    const byName = await query('x509_cert_not_after{kubeadm_name="apiserver"}');
    expect(byName).toHaveLength(1);
    expect(byName[0]!.metric).toMatchObject({ subject_CN: "kube-apiserver", issuer_CN: "kubernetes", filename: "apiserver.crt", chain_position: "leaf", job: "kpki" });
    // Empty labels are absent in Prometheus, as for x509-certificate-exporter's series.
    expect(byName[0]!.metric).not.toHaveProperty("secret_name");
  });

  it("the alert rules load, and a certificate 10 days from its end is pending as CertificateRenewal and CertificateExpiration", async () => {
    const rules = (await (await fetch(`${prom}/api/v1/rules`)).json()) as { data: { groups: { name: string; rules: { name: string; health: string }[] }[] } };
    const group = rules.data.groups.find((g) => g.name === "kpki-exporter.rules")!;
    expect(group.rules.map((r) => [r.name, r.health])).toEqual([
      ["CertificateRenewal", "ok"], ["CertificateExpiration", "ok"], ["CertificateNotYetValid", "ok"], ["CertificateError", "ok"],
    ]);
    await waitFor("the alerts", async () => (await query("ALERTS")).length >= 2, 30_000, 250);
    const alerts = (await query("ALERTS")).map((a) => `${a.metric["alertname"]} ${a.metric["alertstate"]} ${a.metric["subject_CN"]}`).sort();
    expect(alerts).toEqual(["CertificateExpiration pending soon.example", "CertificateRenewal pending soon.example"]);
  });

  it("every query of the Grafana dashboard runs, with its variables' defaults, and counts what is there", async () => {
    interface Panel { title: string; targets: { expr: string }[] }
    const dashboard = JSON.parse(readFileSync(join(ROOT, "deploy", "exporter", "grafana-dashboard.json"), "utf8")) as { panels: Panel[]; templating: { list: { name: string; current: { value?: string } }[] } };
    const defaults = new Map(dashboard.templating.list.filter((v) => v.current.value !== undefined).map((v) => [v.name, v.current.value!]));
    const resolved = (expr: string): string => expr.replace(/\$(\w+)/g, (m, name: string) => defaults.get(name) ?? m);
    const results = new Map<string, Awaited<ReturnType<typeof query>>>();
    for (const panel of dashboard.panels) for (const t of panel.targets) results.set(panel.title, await query(resolved(t.expr)));
    const single = (title: string): number => {
      const r = results.get(title);
      if (r?.length !== 1) throw new Error(`${title}: ${JSON.stringify(r)}`);
      return Number(r[0]!.value[1]);
    };
    expect(single("Certificates")).toBe(19);
    expect(single("Expired")).toBe(0);
    expect(single("Within $critical days")).toBe(1);
    expect(single("Within $warning days")).toBe(1);
    expect(single("Unreadable")).toBe(0);
    expect(single("Not yet valid")).toBe(0);
    expect(results.get("Ending within $list days, soonest first")!.map((r) => r.metric["subject_CN"])).toEqual(["soon.example"]);
    expect(results.get("kubeadm's certificates and kubeconfigs, by node")).toHaveLength(18);
    expect(results.get("Where a certificate could not be read")).toEqual([]);
    expect(results.get("Days left: the soonest certificate of each instance")).toHaveLength(1);
    expect(new Set(dashboard.panels.map((p) => p.title)).size).toBe(dashboard.panels.length);
  });

  it("every PromQL example of x509-certificate-exporter v4.2.0's docs/metrics.md runs, and those that select kpki's series find them", async () => {
    const golden = JSON.parse(readFileSync(join(ROOT, "test", "exporter", "x509-certificate-exporter-v4.golden.json"), "utf8")) as { promql: { expr: string }[] };
    // Series each returns here: 19 certificates, soon.example 10 days from its end, none expired, one exporter.
    const expected: Record<string, number> = {
      "(x509_cert_not_after - time()) / 86400": 19,
      "(x509_cert_not_after - time()) / 86400 < 14": 1,
      '(x509_cert_not_after - time()) / 86400 < 14\n  unless x509_cert_not_after{secret_namespace="kube-public"}': 1,
      "bottomk(1, x509_cert_not_after - time()) by (secret_namespace)": 1, // one secret_namespace, "" (absent) for files
      "(x509_cert_not_after < bool time())": 19,
      "count by (version) (x509_exporter_build_info)": 1,
      "x509_cert_not_after * on(instance) group_left(version) x509_exporter_build_info": 19,
      // Empty here, success only: no Secret source,
      'count by (secret_namespace) (x509_cert_not_after{secret_namespace!=""})': 0,
      // no expired certificate,
      "x509_cert_expired == 1": 0,
      "x509_cert_not_after < time()": 0,
      // every source up,
      "x509_source_up == 0": 0,
      "min_over_time(x509_source_up[1m]) == 0": 0,
      // no source error (every file reads, so x509_source_errors_total has no series),
      "increase(x509_source_errors_total[15m]) > 0": 0,
      'increase(x509_source_errors_total{reason="bad_passphrase"}[15m]) > 0': 0,
      'increase(x509_source_errors_total{reason=~"broken_symlink|permission_denied|not_found|walk_error|read_failed"}[15m]) > 0': 0,
      "topk(3, sum by (reason) (rate(x509_source_errors_total[1h])))": 0,
      'increase(x509_source_errors_total{source_kind="kubernetes", reason=~"rate_limited|http_5..|http_401|http_403"}[15m]) > 0': 0,
      // and no cluster source, so no watch to resync.
      "rate(x509_kube_watch_resyncs_total[15m]) * 60 > 1": 0,
    };
    expect(golden.promql.map((p) => p.expr).sort()).toEqual(Object.keys(expected).sort());
    const results = new Map<string, { metric: Record<string, string>; value: [number, string] }[]>();
    for (const { expr } of golden.promql) {
      const r = (await (await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(expr)}`)).json()) as { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
      expect({ expr, status: r.status, error: r.error, resultType: r.data?.resultType }).toEqual({ expr, status: "success", error: undefined, resultType: "vector" });
      expect(r.data!.result, expr).toHaveLength(expected[expr]!);
      results.set(expr, r.data!.result);
    }
    for (const expr of ["(x509_cert_not_after - time()) / 86400 < 14", "bottomk(1, x509_cert_not_after - time()) by (secret_namespace)"]) {
      expect(results.get(expr)!.map((r) => r.metric["subject_CN"]), expr).toEqual(["soon.example"]);
    }
    const versions = results.get("count by (version) (x509_exporter_build_info)")!;
    expect(versions[0]!.metric["version"]).toMatch(/^\d+\.\d+\.\d+/);
    expect(versions[0]!.value[1]).toBe("1");
    const pinned = results.get("x509_cert_not_after * on(instance) group_left(version) x509_exporter_build_info")!;
    expect(new Set(pinned.map((r) => r.metric["version"]))).toEqual(new Set([versions[0]!.metric["version"]]));
  });
});
