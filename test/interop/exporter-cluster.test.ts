/**
 * `kpki exporter`'s cluster sources against a real kube-apiserver and kube-controller-manager of
 * its own (it restarts the API server): Secrets of the TLS type and an opted-in one, bundles and
 * junk, ConfigMaps, and CSRs issued by the real kcm signer, as one exporter process lists and
 * watches them with deploy/exporter/rbac.yaml's ClusterRole (list and watch only) bound to its
 * user. Dates are compared with what openssl reads; changes and deletions show in the next scrape;
 * a scrape makes no API request (kube-apiserver's own request counters); an API server restart and
 * a 410 Gone are recovered from without duplicates.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Reflector } from "../../src/exporter/reflector.js";
import { clusterSourceSpecs } from "../../src/exporter/cluster-sources.js";
import { exporterApi } from "../../src/io/exporter-api.js";
import { controlPlane, extractClient, httpsGet, type ControlPlane } from "../helpers/control-plane.js";
import { kubectl } from "../helpers/kubectl.js";
import { freePort, startProcess, stopProcess, teardown, waitFor } from "../helpers/procs.js";
import { findBinary, missingBinaries } from "../helpers/testenv.js";
import { samples } from "../helpers/exposition.js";

const ROOT = resolve(import.meta.dirname, "../..");
const KPKI = join(ROOT, "dist", "bin", "kpki.js");
const skip = missingBinaries("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "openssl");


describe.skipIf(skip)("kpki exporter lists and watches Secrets, ConfigMaps and CSRs of a real API server", () => {
  const work = mkdtempSync(join(tmpdir(), "kpki-exporter-cluster-"));
  const cleanup = teardown(work);
  const dir = join(work, "cluster");
  const tls = join(work, "tls");
  mkdirSync(tls);
  let cp: ControlPlane | undefined;
  let exporter: ReturnType<typeof startProcess> | undefined;
  let metricsUrl = "";
  const admin = (...args: string[]) => kubectl(["--kubeconfig", join(dir, "super-admin.conf"), ...args]);
  const apply = async (obj: unknown) => {
    const r = await kubectl(["--kubeconfig", join(dir, "super-admin.conf"), "apply", "-f", "-"], JSON.stringify(obj));
    expect(r.code, r.stderr).toBe(0);
  };
  const scrape = async () => samples(await (await fetch(metricsUrl)).text());
  const notAfter = async (match: Record<string, string>) =>
    (await scrape()).filter((s) => s.name === "x509_cert_not_after" && Object.entries(match).every(([k, v]) => s.labels[k] === v));
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: tls, stdio: "pipe" }).toString();
  /** A self-signed certificate (or one signed by `ca`), its PEM and its notAfter in seconds as openssl reads it. */
  const certificate = (name: string, days: number, ca?: string) => {
    if (ca) {
      openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
      openssl("x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-days", String(days), "-out", `${name}.pem`);
    } else {
      openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", String(days), "-subj", `/CN=${name}`);
    }
    const end = openssl("x509", "-in", `${name}.pem`, "-noout", "-enddate").trim().replace(/^notAfter=/, "");
    return { pem: readFileSync(join(tls, `${name}.pem`), "utf8"), key: readFileSync(join(tls, `${name}.key`), "utf8"), notAfter: Date.parse(end) / 1000 };
  };
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const tlsSecret = (ns: string, name: string, crt: string, key: string, labels: Record<string, string> = {}) =>
    apply({ apiVersion: "v1", kind: "Secret", type: "kubernetes.io/tls", metadata: { namespace: ns, name, labels }, data: { "tls.crt": b64(crt), "tls.key": b64(key) } });
  const apiRequests = async (): Promise<number> => {
    const { cert, key } = extractClient(dir, "super-admin.conf");
    const r = await httpsGet(`${cp!.apiserverUrl}/metrics`, join(dir, "pki", "ca.crt"), cert, key);
    let total = 0;
    for (const s of samples(r.body.split("\n").filter((l) => l.startsWith("apiserver_request_total{")).join("\n"))) {
      if (/^(secrets|configmaps|certificatesigningrequests)$/.test(s.labels["resource"] ?? "") && s.labels["verb"] !== "WATCH") total += s.value;
    }
    return total;
  };

  beforeAll(async () => {
    const apiPort = await freePort();
    execFileSync(process.execPath, [KPKI, "init", "--dir", dir, "--node-name", "cp", "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort), "--encryption-algorithm", "ECDSA-P256"], { stdio: "pipe" });
    const cpWork = join(work, "cp");
    mkdirSync(cpWork);
    cp = await controlPlane(
      { etcd: findBinary("etcd")!, kubeApiserver: findBinary("kube-apiserver")!, kubeControllerManager: findBinary("kube-controller-manager")! },
      { dir, work: cpWork, apiPort, etcdMembers: 1, controllerManager: true },
    );
    await cp.start();
    // The exporter's user, with deploy/exporter/rbac.yaml's ClusterRole: list and watch, nothing else.
    for (const f of ["deploy/namespace.yaml", "deploy/exporter/rbac.yaml"]) expect((await admin("apply", "-f", join(ROOT, f))).code).toBe(0);
    expect((await admin("create", "clusterrolebinding", "kpki-exporter-e2e", "--clusterrole=kpki-exporter", "--user=kpki-exporter-e2e")).code).toBe(0);
    const endpoint = ["--dir", dir, "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort)];
    writeFileSync(join(dir, "exporter.conf"), execFileSync(process.execPath, [KPKI, "kubeconfig", "user", "--client-name", "kpki-exporter-e2e", ...endpoint]), { mode: 0o600 });
    for (const ns of ["team-a", "team-b"]) expect((await admin("create", "namespace", ns)).code).toBe(0);

    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    exporter = startProcess(process.execPath, [KPKI, "exporter", "--no-kubeadm", "--no-kubelet", "--api-kubeconfig", join(dir, "exporter.conf"),
      "--secrets", "--secret-type", "kubernetes.io/tls:tls.crt", "--secret-type", "Opaque:bundle.pem", "--configmap-key", "ca.crt", "--csrs",
      "--exclude-namespace", "kube-system", "--exclude-label", "kpki.example/skip", "--listen", `127.0.0.1:${port}`], join(work, "exporter.log"));
    await waitFor("kpki exporter ready", async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
      } catch {
        return false;
      }
    }, 30_000);
  }, 180_000);

  afterAll(async () => {
    await cleanup.attempt("kpki exporter", () => stopProcess(exporter?.pid));
    await cleanup.attempt("control plane", () => cp?.stop());
    cleanup.finish();
  });

  it("a TLS Secret's certificate appears with the date openssl reads, its Secret's labels, and goes when the Secret is deleted", async () => {
    const c = certificate("web", 30);
    await tlsSecret("team-a", "web", c.pem, c.key);
    await waitFor("web's series", async () => (await notAfter({ secret_name: "web" })).length === 1, 20_000);
    const [s] = await notAfter({ secret_name: "web" });
    expect(s!.value).toBe(c.notAfter);
    expect(s!.labels).toMatchObject({ secret_namespace: "team-a", secret_name: "web", secret_key: "tls.crt", subject_CN: "web", filepath: "", chain_position: "root", discriminator: "" });
    expect((await admin("-n", "team-a", "delete", "secret", "web")).code).toBe(0);
    await waitFor("web's series to go", async () => (await notAfter({ secret_name: "web" })).length === 0, 20_000);
  });

  it("a changed Secret's series change: the new certificate replaces the old one, never both", async () => {
    const first = certificate("rotating-1", 10);
    const second = certificate("rotating-2", 90);
    await tlsSecret("team-a", "rotating", first.pem, first.key);
    await waitFor("the first certificate", async () => (await notAfter({ secret_name: "rotating" }))[0]?.value === first.notAfter, 20_000);
    await tlsSecret("team-a", "rotating", second.pem, second.key);
    await waitFor("the second certificate", async () => (await notAfter({ secret_name: "rotating" }))[0]?.value === second.notAfter, 20_000);
    expect((await notAfter({ secret_name: "rotating" })).map((s) => s.labels["subject_CN"])).toEqual(["rotating-2"]);
  });

  it("every certificate of a bundle is a series; an opted-in type's key is read; junk is an x509_cert_error with a counted reason", async () => {
    const ca = certificate("bundle-ca", 365);
    const leaf = certificate("bundle-leaf", 20, "bundle-ca");
    await tlsSecret("team-b", "chain", `${leaf.pem}${ca.pem}`, leaf.key);
    await apply({ apiVersion: "v1", kind: "Secret", type: "Opaque", metadata: { namespace: "team-b", name: "opaque" }, data: { "bundle.pem": b64(ca.pem), "other.pem": b64(leaf.pem) } });
    await tlsSecret("team-b", "junk", "not a certificate\n", leaf.key);
    await waitFor("the bundle, the opaque key and the junk", async () => {
      const all = await scrape();
      return all.filter((s) => s.name === "x509_cert_not_after" && s.labels["secret_namespace"] === "team-b").length === 3 && all.some((s) => s.name === "x509_cert_error" && s.labels["secret_name"] === "junk");
    }, 20_000);
    const chain = await notAfter({ secret_name: "chain" });
    expect(chain.map((s) => [s.labels["subject_CN"], s.labels["chain_position"], s.value]).sort()).toEqual([["bundle-ca", "root", ca.notAfter], ["bundle-leaf", "leaf", leaf.notAfter]]);
    expect((await notAfter({ secret_name: "opaque" })).map((s) => s.labels["secret_key"])).toEqual(["bundle.pem"]);
    const all = await scrape();
    expect(all.find((s) => s.name === "x509_source_errors_total" && s.labels["source_name"] === "secrets/kubernetes.io/tls")).toMatchObject({ labels: { reason: "no_certificate_found", source_kind: "kube-secret" } });
    expect(all.find((s) => s.name === "x509_source_up" && s.labels["source_name"] === "secrets/Opaque")?.value).toBe(1);
  });

  it("the excluded namespace and label are left out by the API server's selectors", async () => {
    const c = certificate("hidden", 30);
    await tlsSecret("kube-system", "hidden", c.pem, c.key);
    await tlsSecret("team-a", "skipped", c.pem, c.key, { "kpki.example/skip": "yes" });
    await tlsSecret("team-a", "marker", c.pem, c.key);
    // Events are delivered in order: once the marker, created last, is in, the others were seen.
    await waitFor("the marker", async () => (await notAfter({ secret_name: "marker" })).length === 1, 20_000);
    expect(await notAfter({ subject_CN: "hidden", secret_name: "hidden" })).toEqual([]);
    expect(await notAfter({ secret_name: "skipped" })).toEqual([]);
  });

  it("a ConfigMap's key, text or binary, is read", async () => {
    const c = certificate("cm-ca", 100);
    await apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { namespace: "team-a", name: "trust" }, data: { "ca.crt": c.pem, "other": "x" } });
    await apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { namespace: "team-b", name: "trust-bin" }, binaryData: { "ca.crt": b64(c.pem) } });
    await waitFor("both ConfigMaps", async () => (await scrape()).filter((s) => s.name === "x509_cert_not_after" && s.labels["configmap_key"] === "ca.crt" && s.labels["subject_CN"] === "cm-ca").length === 2, 20_000);
    const [s] = await notAfter({ configmap_name: "trust" });
    expect(s).toMatchObject({ value: c.notAfter, labels: { configmap_namespace: "team-a", configmap_key: "ca.crt", secret_name: "" } });
  });

  it("a CSR issued by kube-controller-manager's signer appears with its name, signer, requester, usages and Node", async () => {
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "n1.key", "-out", "n1.csr", "-subj", "/O=system:nodes/CN=system:node:n1", "-addext", "subjectAltName=DNS:n1");
    const csr = { apiVersion: "certificates.k8s.io/v1", kind: "CertificateSigningRequest", metadata: { name: "serving-n1" },
      spec: { request: b64(readFileSync(join(tls, "n1.csr"), "utf8")), signerName: "kubernetes.io/kubelet-serving", usages: ["digital signature", "key encipherment", "server auth"] } };
    // Requested as the node itself, as a kubelet does.
    const node = join(dir, "n1.conf");
    writeFileSync(node, execFileSync(process.execPath, [KPKI, "kubeconfig", "user", "--client-name", "system:node:n1", "--org", "system:nodes", "--dir", dir, "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", new URL(cp!.apiserverUrl).port]), { mode: 0o600 });
    const created = await kubectl(["--kubeconfig", node, "create", "-f", "-"], JSON.stringify(csr));
    expect(created.code, created.stderr).toBe(0);
    expect((await admin("certificate", "approve", "serving-n1")).code).toBe(0);
    let issued = "";
    await waitFor("kcm to sign serving-n1", async () => (issued = JSON.parse((await admin("get", "csr", "serving-n1", "-o", "json")).stdout).status.certificate ?? "") !== "", 30_000);
    writeFileSync(join(tls, "n1.pem"), Buffer.from(issued, "base64"));
    const end = Date.parse(openssl("x509", "-in", "n1.pem", "-noout", "-enddate").trim().replace(/^notAfter=/, "")) / 1000;
    await waitFor("serving-n1's series", async () => (await notAfter({ csr_name: "serving-n1" })).length === 1, 20_000);
    const [s] = await notAfter({ csr_name: "serving-n1" });
    expect(s).toMatchObject({ value: end, labels: { csr_signer: "kubernetes.io/kubelet-serving", csr_requester: "system:node:n1", csr_usages: "digital signature,key encipherment,server auth", node: "n1", subject_CN: "system:node:n1", issuer_CN: "kubernetes" } });
    expect((await admin("delete", "csr", "serving-n1")).code).toBe(0);
    await waitFor("serving-n1's series to go", async () => (await notAfter({ csr_name: "serving-n1" })).length === 0, 20_000);
  });

  it("a scrape makes no API request", async () => {
    const before = await apiRequests();
    for (let i = 0; i < 20; i++) expect((await scrape()).length).toBeGreaterThan(0);
    expect(await apiRequests()).toBe(before);
  });

  it("after an API server restart the watches resume: what changed while it was down shows once, and the process lives on", async () => {
    const c = certificate("after-restart", 45);
    const before = (await scrape()).filter((s) => s.name === "x509_cert_not_after").length;
    await cp!.pauseApiserver(2000);
    await tlsSecret("team-a", "after-restart", c.pem, c.key);
    await waitFor("the Secret made after the restart", async () => (await notAfter({ secret_name: "after-restart" })).length === 1, 60_000);
    const after = (await scrape()).filter((s) => s.name === "x509_cert_not_after");
    expect(after.length).toBe(before + 1);
    const ids = after.map((s) => JSON.stringify(s.labels));
    expect(new Set(ids).size).toBe(ids.length);
    expect(exporter!.exitCode).toBeNull();
  }, 120_000);

  it("a LIST whose continue token etcd has compacted away (410 between pages) starts again from the first page, and keeps no object twice", async () => {
    const etcdctl = (...args: string[]) => execFileSync(findBinary("etcdctl")!, ["--endpoints", cp!.etcdClientUrls.join(","), "--cacert", join(dir, "pki", "etcd", "ca.crt"),
      "--cert", join(dir, "pki", "apiserver-etcd-client.crt"), "--key", join(dir, "pki", "apiserver-etcd-client.key"), ...args], { encoding: "utf8" });
    // Five TLS Secrets in a namespace of their own: three pages of 2.
    expect((await admin("create", "namespace", "paged")).code).toBe(0);
    const c = certificate("paged", 30);
    for (let i = 0; i < 5; i++) await tlsSecret("paged", `paged-${i}`, c.pem, c.key);
    const real = await exporterApi(join(dir, "exporter.conf"));
    let pages = 0;
    let compacted = false;
    const api = { ...real, list: async (path: string, params: Readonly<Record<string, string | number>>) => {
      if (pages++ === 0) {
        const page = await real.list(path, params);
        // Between the first page and the second: a write, then etcd compacts everything before it, the first page's revision included.
        await tlsSecret("team-b", "compaction", c.pem, c.key);
        const revision = (JSON.parse(etcdctl("endpoint", "status", "-w", "json")) as { Status: { header: { revision: number } } }[])[0]!.Status.header.revision;
        etcdctl("compact", String(revision));
        compacted = true;
        return page;
      }
      return real.list(path, params);
    } };
    const [spec] = clusterSourceSpecs({ secretTypes: ["kubernetes.io/tls:tls.crt"], configMapKeys: [], csrs: false, includeNamespaces: ["paged"], excludeNamespaces: [], includeLabels: [], excludeLabels: [], leafOnly: false });
    const r = new Reflector(spec!, api, { pageSize: 2, watchTimeoutSeconds: 60, sleep: async () => undefined, now: () => performance.now(), changed: () => undefined, log: () => undefined });
    try {
      await r.listOnce();
      expect(compacted).toBe(true);
      // Asked: page 1, page 2 (refused, 410: its continue token is compacted away), then pages 1 to 3 again.
      expect(pages).toBe(5);
      expect(r.certificates().map((l) => l.certificate.location.secret_name).sort()).toEqual(["paged-0", "paged-1", "paged-2", "paged-3", "paged-4"]);
    } finally {
      real.close();
    }
  });

  it("--once lists the cluster sources once and exits with the thresholds' status; an API server it cannot reach is 3 UNKNOWN", async () => {
    const once = (...args: string[]) => spawnSync(process.execPath, [KPKI, "exporter", "--once", "--no-kubeadm", "--no-kubelet", ...args], { encoding: "utf8" });
    const ok = once("--secrets", "--api-kubeconfig", join(dir, "exporter.conf"), "--include-namespace", "team-a", "-o", "json", "--warn-within", "1d", "--crit-within", "1d");
    expect(ok.status, ok.stderr).toBe(0);
    const report = JSON.parse(ok.stdout) as { certificates: { labels: Record<string, string>; status: string }[] };
    const expected = JSON.parse((await admin("-n", "team-a", "get", "secrets", "--field-selector", "type=kubernetes.io/tls", "-o", "json")).stdout) as { items: { metadata: { name: string } }[] };
    expect(report.certificates.map((c) => c.labels["secret_name"]).sort()).toEqual(expected.items.map((i) => i.metadata.name).sort());
    expect(new Set(report.certificates.map((c) => c.labels["secret_namespace"]))).toEqual(new Set(["team-a"]));
    // rotating-2 ends in 90 days, the others sooner: within 60 days is a WARNING.
    expect(once("--secrets", "--api-kubeconfig", join(dir, "exporter.conf"), "--include-namespace", "team-a", "--warn-within", "60d", "--crit-within", "1d").status).toBe(1);
    const port = await freePort();
    const conf = readFileSync(join(dir, "exporter.conf"), "utf8").replace(/server: https:\/\/[^\s]+/, `server: https://127.0.0.1:${port}`);
    writeFileSync(join(work, "nowhere.conf"), conf, { mode: 0o600 });
    const down = once("--secrets", "--api-kubeconfig", join(work, "nowhere.conf"));
    expect(down.status).toBe(3);
    expect(down.stderr).toMatch(/^UNKNOWN: listing from the API server failed: .*ECONNREFUSED/m);
  });

  it("a watch from a resourceVersion the API server no longer has ends with 410 Gone, and a new LIST replaces everything without duplicates", async () => {
    const real = await exporterApi(join(dir, "exporter.conf"));
    // The pages of the first LIST say they were taken at resourceVersion 1, older than anything kube-apiserver's watch cache holds.
    const api = { ...real, list: async (path: string, params: Readonly<Record<string, string | number>>) => {
      const page = await real.list(path, params);
      return r.lists === 0 ? { ...page, resourceVersion: "1" } : page;
    } };
    const [spec] = clusterSourceSpecs({ secretTypes: ["kubernetes.io/tls:tls.crt"], configMapKeys: [], csrs: false, includeNamespaces: ["team-a"], excludeNamespaces: [], includeLabels: [], excludeLabels: [], leafOnly: false });
    const r: Reflector = new Reflector(spec!, api, { pageSize: 2, watchTimeoutSeconds: 60, sleep: async () => undefined, now: () => performance.now(), changed: () => undefined, log: () => undefined });
    const running = r.run();
    try {
      await waitFor("the second LIST", () => r.lists >= 2 && r.up, 20_000);
      expect(r.gone).toBe(1);
      const names = r.certificates().map((l) => `${l.certificate.location.secret_namespace}/${l.certificate.location.secret_name}`).sort();
      const expected = JSON.parse((await admin("-n", "team-a", "get", "secrets", "--field-selector", "type=kubernetes.io/tls", "-o", "json")).stdout) as { items: { metadata: { name: string } }[] };
      // One series per certificate, every TLS Secret of team-a once (pages of 2: several pages).
      expect(names).toEqual(expected.items.map((i) => `team-a/${i.metadata.name}`).sort());
    } finally {
      r.stop();
      await running;
      real.close();
    }
  });
});
