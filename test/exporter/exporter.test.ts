import { execFileSync, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { StopSignal } from "../../src/cli/io.js";
import { run } from "../../src/cli/main.js";
import { addErrors, CERT_LABELS, type SourceState } from "../../src/exporter/series.js";
import { parseListen } from "../../src/io/exporter-http.js";
import { writeExposition } from "../../src/exporter/exposition.js";
import { fakeIo } from "../helpers/fake-io.js";
import { T0 } from "../helpers/clock.js";
import { findBinary, missingBinaries } from "../helpers/testenv.js";
import { samples } from "../helpers/exposition.js";

const work = mkdtempSync(join(tmpdir(), "kpki-exporter-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function kpki(args: string[], clock: Date = T0) {
  const f = fakeIo({ clock: () => clock });
  const code = await run(args, f.io);
  return { code, stdout: f.stdout(), stderr: f.stderr() };
}


const promtoolMissing = missingBinaries("promtool");
/** promtool's lint of a /metrics text (Prometheus' own parser): its output, empty when clean. */
function promtoolCheck(text: string): { status: number | null; output: string } {
  const r = spawnSync(findBinary("promtool")!, ["check", "metrics"], { input: text, encoding: "utf8" });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const cluster = join(work, "cluster");
await kpki(["init", "--dir", cluster, "--encryption-algorithm", "ECDSA-P256"]);
const certOf = (path: string) => new X509Certificate(readFileSync(path));

describe("kpki exporter --once on kubeadm's layout", async () => {
  const r = await kpki(["exporter", "--once", "--dir", cluster, "--no-kubelet"]);
  const all = samples(r.stdout);
  const notAfter = all.filter((s) => s.name === "x509_cert_not_after");

  it("exports every kubeadm certificate and kubeconfig certificate once, named as kubeadm names it, and exits 0", () => {
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const names = notAfter.map((s) => `${s.labels["kubeadm_name"]} ${s.labels["embedded_kind"]}`.trim()).sort();
    expect(names).toEqual([
      "admin.conf cluster", "admin.conf user", "apiserver", "apiserver-etcd-client", "apiserver-kubelet-client", "ca",
      "controller-manager.conf cluster", "controller-manager.conf user", "etcd-ca", "etcd-healthcheck-client", "etcd-peer", "etcd-server",
      "front-proxy-ca", "front-proxy-client", "scheduler.conf cluster", "scheduler.conf user", "super-admin.conf cluster", "super-admin.conf user",
    ]);
    for (const name of ["x509_cert_not_before", "x509_cert_expired"]) expect(all.filter((s) => s.name === name)).toHaveLength(notAfter.length);
    expect(all.filter((s) => s.name === "x509_cert_expired").every((s) => s.value === 0)).toBe(true);
    expect(all.filter((s) => s.name === "x509_cert_error")).toEqual([]);
  });

  it("carries x509-certificate-exporter's labels, every one on every series, sorted by name, with Go's values", () => {
    for (const s of notAfter) expect(s.labelOrder).toEqual([...CERT_LABELS]);
    const apiserver = notAfter.find((s) => s.labels["kubeadm_name"] === "apiserver")!;
    const x = certOf(join(cluster, "pki", "apiserver.crt"));
    expect(apiserver.value).toBe(Math.floor(new Date(x.validTo).getTime() / 1000));
    expect(all.find((s) => s.name === "x509_cert_not_before" && s.labels["kubeadm_name"] === "apiserver")!.value).toBe(Math.floor(new Date(x.validFrom).getTime() / 1000));
    expect(apiserver.labels).toMatchObject({
      filepath: join(cluster, "pki", "apiserver.crt"),
      filename: "apiserver.crt",
      serial_number: BigInt(`0x${x.serialNumber}`).toString(10),
      subject_CN: "kube-apiserver",
      issuer_CN: "kubernetes",
      chain_position: "leaf",
      embedded_kind: "",
      secret_name: "",
      discriminator: "",
    });
    expect(notAfter.find((s) => s.labels["kubeadm_name"] === "apiserver-kubelet-client")!.labels["subject_O"]).toBe("kubeadm:cluster-admins");
    expect(notAfter.find((s) => s.labels["kubeadm_name"] === "ca")!.labels["chain_position"]).toBe("root");
  });

  it("a kubeconfig's certificates carry the kubeconfig's path, the entry's kind and its name", () => {
    const admin = notAfter.filter((s) => s.labels["kubeadm_name"] === "admin.conf");
    expect(admin.map((s) => [s.labels["embedded_kind"], s.labels["embedded_key"], s.labels["chain_position"], s.labels["filepath"], s.labels["filename"]]).sort()).toEqual([
      ["cluster", "kubernetes", "root", join(cluster, "admin.conf"), "admin.conf"],
      ["user", "kubernetes-admin", "leaf", join(cluster, "admin.conf"), "admin.conf"],
    ]);
  });

  it("reports its sources and build", () => {
    expect(all.filter((s) => s.name === "x509_source_up").map((s) => `${s.labels["source_kind"]}/${s.labels["source_name"]}=${s.value}`)).toEqual(["file/kubeadm=1", "kubeconfig/kubeadm=1"]);
    expect(all.find((s) => s.name === "x509_exporter_build_info")).toMatchObject({ value: 1, labels: { version: "0.1.0" } });
  });

  it.skipIf(promtoolMissing)("Prometheus' promtool reads the text without a complaint", () => {
    expect(promtoolCheck(r.stdout)).toEqual({ status: 0, output: "" });
  });
});

describe("names, bundles and collisions", () => {
  const dir = join(work, "bundles");
  mkdirSync(dir);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  // A root, an intermediate and a leaf; the leaf's subject repeats O and CN (Go keeps the first O and the last CN).
  openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "root.key", "-out", "root.pem", "-days", "30", "-subj", "/CN=Root");
  openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "int.key", "-out", "int.csr", "-subj", "/CN=Intermediate");
  writeFileSync(join(dir, "ca.ext"), "basicConstraints=critical,CA:TRUE\n");
  openssl("x509", "-req", "-in", "int.csr", "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial", "-days", "30", "-extfile", "ca.ext", "-out", "int.pem");
  openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
    "-subj", "/C=FR/ST=Ile-de-France/L=Paris/O=First/O=Second/OU=Unit/CN=first.example/CN=last.example");
  openssl("x509", "-req", "-in", "leaf.csr", "-CA", "int.pem", "-CAkey", "int.key", "-CAcreateserial", "-days", "10", "-out", "leaf.pem");
  const [root, int, leaf] = ["root.pem", "int.pem", "leaf.pem"].map((f) => readFileSync(join(dir, f), "utf8"));
  writeFileSync(join(dir, "chain.pem"), `${leaf}${int}${root}`);
  writeFileSync(join(dir, "twice.pem"), `${leaf}${leaf}`);
  const scan = (...extra: string[]) => kpki(["exporter", "--once", "--no-kubeadm", "--no-kubelet", ...extra]);

  it("every certificate of a bundle is a series, with its place in the chain; --leaf-only keeps the leaves", async () => {
    const r = await scan("--scan", join(dir, "chain.pem"));
    const s = samples(r.stdout).filter((x) => x.name === "x509_cert_not_after");
    expect(s.map((x) => [x.labels["subject_CN"], x.labels["chain_position"]])).toEqual([["last.example", "leaf"], ["Intermediate", "intermediate"], ["Root", "root"]]);
    expect(s[0]!.labels).toMatchObject({ subject_C: "FR", subject_ST: "Ile-de-France", subject_L: "Paris", subject_O: "First", subject_OU: "Unit", issuer_CN: "Intermediate", filename: "chain.pem" });
    const leafOnly = samples((await scan("--scan", join(dir, "chain.pem"), "--leaf-only")).stdout).filter((x) => x.name === "x509_cert_not_after");
    expect(leafOnly.map((x) => x.labels["subject_CN"])).toEqual(["last.example"]);
  });

  it("two certificates with the same labels get distinct discriminators; the others none", async () => {
    const r = await scan("--scan", join(dir, "twice.pem"), "--scan", join(dir, "root.pem"));
    const s = samples(r.stdout).filter((x) => x.name === "x509_cert_not_after");
    const discriminators = s.map((x) => x.labels["discriminator"]);
    expect(discriminators[0]).toMatch(/^[0-9a-f]{8}$/);
    expect(discriminators[1]).toMatch(/^[0-9a-f]{8}$/);
    expect(discriminators[0]).not.toBe(discriminators[1]);
    expect(discriminators[2]).toBe("");
    if (!promtoolMissing) expect(promtoolCheck(r.stdout).status).toBe(0);
  });

  it("a kubeconfig that names its certificate files: the series carry the kubeconfig's path, as for embedded ones", async () => {
    writeFileSync(join(dir, "by-file.conf"), [
      "apiVersion: v1", "kind: Config", "current-context: c",
      "clusters: [{name: k, cluster: {server: 'https://192.0.2.1:6443', certificate-authority: root.pem}}]",
      "users: [{name: u, user: {client-certificate: chain.pem, client-key: leaf.key}}]",
      "contexts: [{name: c, context: {cluster: k, user: u}}]", "",
    ].join("\n"));
    const r = await scan("--kubeconfig", join(dir, "by-file.conf"));
    expect(r.code).toBe(2); // the leaf ends within 14 days
    const s = samples(r.stdout).filter((x) => x.name === "x509_cert_not_after");
    expect(s.map((x) => [x.labels["embedded_kind"], x.labels["embedded_key"], x.labels["subject_CN"], x.labels["filepath"], x.labels["filename"]])).toEqual([
      ["user", "u", "last.example", join(dir, "by-file.conf"), "by-file.conf"],
      ["user", "u", "Intermediate", join(dir, "by-file.conf"), "by-file.conf"],
      ["user", "u", "Root", join(dir, "by-file.conf"), "by-file.conf"],
      ["cluster", "k", "Root", join(dir, "by-file.conf"), "by-file.conf"],
    ]);
  });

  it("--expose-relative-metrics adds the seconds left and the seconds since, from the clock", async () => {
    const r = await scan("--scan", join(dir, "leaf.pem"), "--expose-relative-metrics");
    const s = samples(r.stdout);
    const after = s.find((x) => x.name === "x509_cert_not_after")!.value;
    const before = s.find((x) => x.name === "x509_cert_not_before")!.value;
    const now = Math.floor(T0.getTime() / 1000);
    expect(s.find((x) => x.name === "x509_cert_expires_in_seconds")!.value).toBe(after - now);
    expect(s.find((x) => x.name === "x509_cert_valid_since_seconds")!.value).toBe(now - before);
  });
});

describe("exit codes of --once (the monitoring-plugin convention) and errors", () => {
  const dir = join(work, "errors");
  mkdirSync(dir);
  writeFileSync(join(dir, "garbage.crt"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  const at = (days: number) => new Date(T0.getTime() + days * 86_400_000); // the cluster was made at T0

  it("0 OK, 1 within --warn-within, 2 within --crit-within or expired", async () => {
    expect((await kpki(["exporter", "--once", "--dir", cluster, "--no-kubelet"], at(0))).code).toBe(0);
    expect((await kpki(["exporter", "--once", "--dir", cluster, "--no-kubelet"], at(340))).code).toBe(1); // leaves: 365 days, within 28
    expect((await kpki(["exporter", "--once", "--dir", cluster, "--no-kubelet"], at(355))).code).toBe(2); // within 14
    const expired = await kpki(["exporter", "--once", "--dir", cluster, "--no-kubelet"], at(400));
    expect(expired.code).toBe(2);
    expect(samples(expired.stdout).filter((s) => s.name === "x509_cert_expired" && s.value === 1)).toHaveLength(11); // 7 leaves and 4 kubeconfig client certificates; the CAs last 10 years
    expect((await kpki(["exporter", "--once", "--dir", cluster, "--no-kubelet", "--warn-within", "400d", "--crit-within", "1d"])).code).toBe(1);
  });

  it("a file that does not hold a certificate: x509_cert_error, a counted reason, exit 2; a named file that is missing: exit 3", async () => {
    const bad = await kpki(["exporter", "--once", "--no-kubeadm", "--no-kubelet", "--scan", join(dir, "garbage.crt")]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`error: ${join(dir, "garbage.crt")}: `);
    const s = samples(bad.stdout);
    expect(s.filter((x) => x.name === "x509_cert_error").map((x) => [x.labels["filepath"], x.value])).toEqual([[join(dir, "garbage.crt"), 1]]);
    expect(s.filter((x) => x.name === "x509_source_errors_total").map((x) => [x.labels["reason"], x.value])).toEqual([["bad_pem", 1]]);
    const missing = await kpki(["exporter", "--once", "--no-kubeadm", "--no-kubelet", "--scan", join(dir, "nothing-here.crt")]);
    expect(missing.code).toBe(3);
  });

  it("nothing found, and a usage error, are 3 UNKNOWN; kubeadm's missing files are skipped, not errors", async () => {
    const empty = join(dir, "empty");
    mkdirSync(empty);
    const none = await kpki(["exporter", "--once", "--dir", empty, "--no-kubelet"]);
    expect(none.code).toBe(3);
    expect(none.stderr).toBe("UNKNOWN: no certificate found\n");
    expect(samples(none.stdout).filter((s) => s.name === "x509_cert_error")).toEqual([]);
    expect((await kpki(["exporter", "--once", "--crit-within", "soon"])).code).toBe(3);
  });

  it("-o json lists each certificate's labels that apply, its validity and status", async () => {
    const r = await kpki(["exporter", "--once", "--dir", cluster, "--no-kubelet", "-o", "json"], at(340));
    const obj = JSON.parse(r.stdout) as { certificates: { labels: Record<string, string>; notAfter: string; status: string }[]; errors: unknown[] };
    const apiserver = obj.certificates.find((c) => c.labels["kubeadm_name"] === "apiserver")!;
    expect(apiserver.labels).not.toHaveProperty("secret_name");
    expect(apiserver.status).toBe("WARNING");
    expect(apiserver.notAfter).toBe(new Date(certOf(join(cluster, "pki", "apiserver.crt")).validTo).toISOString());
    expect(obj.errors).toEqual([]);
  });
});

describe("counters and flags", () => {
  it("x509_source_errors_total only grows: each read adds its errors to the totals, and a fixed error keeps its count", () => {
    const read = (n: number): SourceState[] => [{ kind: "file", name: "scan", up: true, errors: new Map(n ? [["not_found", n]] : []) }];
    const once = addErrors([], read(1));
    const twice = addErrors(once, read(2));
    const fixed = addErrors(twice, read(0));
    expect([once, twice, fixed].map((s) => s[0]!.errors.get("not_found"))).toEqual([1, 3, 3]);
  });

  it("--listen is [HOST]:PORT; anything else is a usage error before anything is read", async () => {
    expect(parseListen(":9793")).toEqual({ host: undefined, port: 9793 });
    expect(parseListen("127.0.0.1:0")).toEqual({ host: "127.0.0.1", port: 0 });
    expect(parseListen("[::1]:9793")).toEqual({ host: "::1", port: 9793 });
    for (const bad of ["9793", "host", ":99999", "a:b:1"]) expect(() => parseListen(bad), bad).toThrow();
    const r = await kpki(["exporter", "--listen", "9793", "--no-kubeadm", "--no-kubelet"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('invalid --listen "9793"');
  });
});

describe("the exposition text", () => {
  it.skipIf(promtoolMissing)("label values with quotes, backslashes, line feeds and any Unicode are escaped as Prometheus reads them", () => {
    const chunks: string[] = [];
    const odd = ['a "quoted" value', "back\\slash", "two\nlines", "ünïcödé 😀", ""];
    writeExposition([{ name: "x509_test", help: "A help text\\with a backslash\nand a line feed.", type: "gauge", labelNames: ["v"], series: odd.map((v, i) => ({ labels: [v], value: i })) }], (c) => chunks.push(c));
    const text = chunks.join("");
    expect(samples(text).map((s) => s.labels["v"])).toEqual(odd);
    expect(promtoolCheck(text)).toEqual({ status: 0, output: "" });
  });
});

describe("kpki exporter serving /metrics", () => {
  it("serves /metrics, /healthz and /readyz, reads the files again when they change, and stops on SIGTERM with 0", async () => {
    const dir = join(work, "served");
    execFileSync(process.execPath, [join(import.meta.dirname, "../../dist/bin/kpki.js"), "init", "phase", "certs", "all", "--cert-dir", dir, "--encryption-algorithm", "ECDSA-P256"], { stdio: "pipe" });
    let stop: ((s: StopSignal) => void) | undefined;
    const f = fakeIo({ clock: () => new Date(), onStopSignal: (handler) => ((stop = handler), () => (stop = undefined)) });
    const running = run(["exporter", "--cert-dir", dir, "--kubeconfig-dir", dir, "--no-kubelet", "--listen", "127.0.0.1:0", "--rescan-interval", "1h"], f.io);
    const deadline = Date.now() + 20_000;
    const until = async <T>(what: string, get: () => Promise<T | undefined> | T | undefined): Promise<T> => {
      for (;;) {
        const v = await get();
        if (v !== undefined) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr: ${f.stderr()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      const address = await until("the address", () => /serving \/metrics on (\S+):/.exec(f.stderr())?.[1]);
      const get = (path: string) => fetch(`http://${address}${path}`);
      const metrics = await get("/metrics");
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      const first = samples(await metrics.text()).filter((s) => s.name === "x509_cert_not_after");
      expect(first.map((s) => s.labels["kubeadm_name"])).toContain("front-proxy-client");
      expect((await get("/healthz")).status).toBe(200);
      expect((await get("/readyz")).status).toBe(200);
      expect((await get("/nothing")).status).toBe(404);
      // Files removed, one in a subfolder, are no longer exported: the change in their folders brings
      // a new read (the periodic one is an hour away).
      unlinkSync(join(dir, "front-proxy-client.crt"));
      unlinkSync(join(dir, "etcd", "peer.crt"));
      const after = await until("front-proxy-client and etcd-peer to go", async () => {
        const now = samples(await (await get("/metrics")).text()).filter((s) => s.name === "x509_cert_not_after");
        return now.some((s) => s.labels["kubeadm_name"] === "front-proxy-client" || s.labels["kubeadm_name"] === "etcd-peer") ? undefined : now;
      });
      expect(after.map((s) => s.labels["kubeadm_name"]).sort()).toEqual(["apiserver", "apiserver-etcd-client", "apiserver-kubelet-client", "ca", "etcd-ca", "etcd-healthcheck-client", "etcd-server", "front-proxy-ca"]);
    } finally {
      stop?.("SIGTERM");
    }
    expect(await running).toBe(0);
  });
});
