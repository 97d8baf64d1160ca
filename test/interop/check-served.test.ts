/**
 * `kpki certs check-served` against the shared real kube-apiserver and etcd: what each presents next
 * to the files on disk. A renewed copy of the PKI (the servers keep presenting the old certificate)
 * is STALE; another cluster's PKI is UNTRUSTED; a port nobody listens on is unreachable.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../helpers/procs.js";

const cp = inject("controlPlane");
const work = mkdtempSync(join(tmpdir(), "kpki-served-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Report {
  endpoints: { endpoint: string; status: string; served?: { serial: string; notAfter: string }; file?: { path: string; serial?: string } }[];
}
const served = (...args: string[]) => spawnSync(process.execPath, [cp.kpki, "certs", "check-served", ...args], { encoding: "utf8" });
const serialOf = (file: string) => execFileSync("openssl", ["x509", "-in", file, "-noout", "-serial"], { encoding: "utf8" }).trim().replace(/^serial=/, "").toLowerCase();

describe.skipIf(cp.skip)("kpki certs check-served against the real kube-apiserver and etcd", () => {
  const apiserver = `apiserver=${new URL(cp.apiserverUrl).host}`;
  const etcd = `etcd-server=${new URL(cp.etcdClientUrls[0] ?? "https://127.0.0.1:1").host}`;
  const endpoints = ["--endpoint", apiserver, "--endpoint", etcd];

  it("each server presents its file's certificate, signed by the cluster's CA: match, exit 0", () => {
    const r = served("--dir", cp.dir, ...endpoints, "-o", "json");
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.endpoints.map((e) => [e.endpoint, e.status])).toEqual([["apiserver", "match"], ["etcd-server", "match"]]);
    expect(report.endpoints[0]!.served?.serial).toBe(serialOf(join(cp.dir, "pki", "apiserver.crt")));
    expect(report.endpoints[1]!.served?.serial).toBe(serialOf(join(cp.dir, "pki", "etcd", "server.crt")));
    // The address, port and folder from a kubeadm config file's localAPIEndpoint and certificatesDir.
    const config = join(work, "kubeadm.yaml");
    const api = new URL(cp.apiserverUrl);
    writeFileSync(config, `apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: ${api.hostname}\n  bindPort: ${api.port}\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncertificatesDir: ${join(cp.dir, "pki")}\n`);
    const fromConfig = served("--config", config, "--endpoint", "apiserver", "-o", "json");
    expect(fromConfig.status, fromConfig.stderr).toBe(0);
    expect((JSON.parse(fromConfig.stdout) as Report).endpoints.map((e) => [e.endpoint, e.status, e.file?.path])).toEqual([["apiserver", "match", join(cp.dir, "pki", "apiserver.crt")]]);
    const text = served("--dir", cp.dir, ...endpoints);
    expect(text.stdout.split("\n")[0]).toMatch(/^ENDPOINT\s+ADDRESS\s+SERVED EXPIRES\s+SERVED SERIAL\s+FILE\s+FILE SERIAL\s+STATUS$/);
  });

  it("after a renewal on disk that no server has loaded, the API server's certificate is STALE (restart needed): 1, and a WARNING with thresholds", () => {
    const copy = join(work, "renewed");
    cpSync(cp.dir, copy, { recursive: true });
    execFileSync(process.execPath, [cp.kpki, "certs", "renew", "apiserver", "--dir", copy], { stdio: "pipe" });
    const r = served("--dir", copy, ...endpoints, "-o", "json");
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.endpoints.map((e) => [e.endpoint, e.status])).toEqual([["apiserver", "STALE"], ["etcd-server", "match"]]);
    expect(report.endpoints[0]!.file?.serial).toBe(serialOf(join(copy, "pki", "apiserver.crt")));
    expect(report.endpoints[0]!.served?.serial).toBe(serialOf(join(cp.dir, "pki", "apiserver.crt")));
    expect(served("--dir", copy, ...endpoints).stdout).toMatch(/STALE \(restart needed\)/);
    expect(served("--dir", copy, ...endpoints, "--warn-within", "1d", "--crit-within", "1h").status).toBe(1);
  });

  it("check-expiration --served adds the servers' table after kubeadm's, and servedCertificates to its JSON; the worse code wins", async () => {
    const config = join(work, "served.yaml");
    const api = new URL(cp.apiserverUrl);
    writeFileSync(config, `apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: ${api.hostname}\n  bindPort: ${api.port}\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncertificatesDir: ${join(work, "renewed", "pki")}\n`);
    const expiration = (...args: string[]) => spawnSync(process.execPath, [cp.kpki, "certs", "check-expiration", "--config", config, "--kubeconfig-dir", join(work, "renewed"), "--served", ...args], { encoding: "utf8" });
    const text = expiration();
    // The renewed copy of the test above: the files are fine, but the API server still presents the
    // certificate renewed away (STALE): 1.
    expect(text.status).toBe(1);
    expect(text.stdout).toMatch(/^CERTIFICATE\s+EXPIRES/m);
    expect(text.stdout).toMatch(/^apiserver\s+\S+\s+\S+\s+\S+\s+\S+apiserver\.crt\s+\S+\s+STALE \(restart needed\)$/m);
    const json = JSON.parse(expiration("-o", "json").stdout) as { kind: string; certificates: unknown[]; servedCertificates: { endpoint: string; status: string }[] };
    expect(json.kind).toBe("CertificateExpirationInfo");
    expect(json.certificates.length).toBeGreaterThan(0);
    // kubeadm's six endpoints, in order; the five this test cluster does not listen on are whatever this machine has there.
    expect(json.servedCertificates.map((e) => e.endpoint)).toEqual(["apiserver", "etcd-server", "etcd-peer", "controller-manager", "scheduler", "kubelet"]);
    expect(json.servedCertificates[0]!.status).toBe("STALE");
  });

  it("against another cluster's CA files the API server is UNTRUSTED: CRITICAL with thresholds; an unreachable one is UNKNOWN", async () => {
    // The API server alone: to etcd, check-served would present the other cluster's etcd/healthcheck-client,
    // which the shared etcd refuses and logs (test/interop/etcd.test.ts reads those logs).
    const r = served("--dir", cp.foreignDir, "--endpoint", apiserver, "-o", "json");
    expect(r.status).toBe(1);
    expect((JSON.parse(r.stdout) as Report).endpoints.map((e) => e.status)).toEqual(["UNTRUSTED"]);
    expect(served("--dir", cp.foreignDir, "--endpoint", apiserver, "--warn-within", "1d", "--crit-within", "1h").status).toBe(2);
    const nobody = served("--dir", cp.dir, "--endpoint", `apiserver=127.0.0.1:${await freePort()}`, "--warn-within", "1d", "--crit-within", "1h");
    expect(nobody.status).toBe(3);
    expect(nobody.stderr).toMatch(/^UNKNOWN: apiserver \(127\.0\.0\.1:\d+\): TLS connection to .* failed/m);
    expect(served("--endpoint", "apiserver=nowhere").status).toBe(2);
  });
});
