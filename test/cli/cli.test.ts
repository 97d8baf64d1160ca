import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { parseCertificatePem } from "../../src/pki/cert.js";
import { fakeIo } from "../helpers/fake-io.js";

const work = mkdtempSync(join(tmpdir(), "kpki-cli-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(work, `d${n++}`);

async function kpki(args: string[]) {
  const f = fakeIo();
  const code = await run(args, f.io);
  return { code, stdout: f.stdout(), stderr: f.stderr() };
}

/** Every file under dir, relative. */
const tree = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir, { recursive: true, encoding: "utf8" }).sort() : [];

describe("kpki init from the command line", () => {
  it("--dir makes a dev-cluster PKI with host defaults (node name from the hostname, first address)", async () => {
    const dir = fresh();
    const r = await kpki(["init", "--dir", dir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(`[certs] Using certificateDir folder "${dir}/pki"`);
    expect(r.stdout).toContain(
      "[certs] apiserver serving cert is signed for DNS names [kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local node1] and IPs [10.96.0.1 192.0.2.10]",
    );
    expect(r.stdout).toContain(`[kubeconfig] Using kubeconfig folder "${dir}"`);
    expect(statSync(join(dir, "pki/ca.key")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "pki/ca.crt")).mode & 0o777).toBe(0o644);
    expect(statSync(join(dir, "admin.conf")).mode & 0o777).toBe(0o600);
    expect(tree(dir).filter((f) => f.includes(".tmp"))).toEqual([]); // no temporary files left
  });

  it("--dry-run prints what it would write and writes nothing", async () => {
    const dir = fresh();
    const r = await kpki(["init", "--dir", dir, "--dry-run", "--encryption-algorithm", "ECDSA-P256"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`[dryrun] Would write file "${dir}/pki/ca.key" with mode 0600`);
    expect(r.stdout).toContain(`[dryrun] Would write file "${dir}/admin.conf" with mode 0600`);
    expect(existsSync(dir)).toBe(false);
  });

  it("reads a kubeadm v1beta4 config", async () => {
    const dir = fresh();
    const cfg = join(work, "kubeadm.yaml");
    writeFileSync(cfg, `apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.0.0.5
  bindPort: 7443
nodeRegistration:
  name: cp-1
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: prod
controlPlaneEndpoint: api.example.com
certificatesDir: ${dir}/certs
encryptionAlgorithm: ECDSA-P384
certificateValidityPeriod: 2160h
networking:
  serviceSubnet: 10.200.0.0/16
  dnsDomain: k8s.example
apiServer:
  certSANs: [10.0.0.100, lb.example.com]
etcd:
  local:
    serverCertSANs: [etcd.example.com]
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
`);
    const r = await kpki(["init", "--config", cfg, "--kubeconfig-dir", dir]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`[certs] Using certificateDir folder "${dir}/certs"`);
    expect(r.stdout).toContain(
      "[certs] apiserver serving cert is signed for DNS names [api.example.com cp-1 kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.k8s.example lb.example.com] and IPs [10.200.0.1 10.0.0.5 10.0.0.100]",
    );
    expect(r.stdout).toContain("[certs] etcd/server serving cert is signed for DNS names [cp-1 etcd.example.com localhost] and IPs [10.0.0.5 127.0.0.1 ::1]");
    const admin = readFileSync(join(dir, "admin.conf"), "utf8");
    expect(admin).toContain("server: https://api.example.com:7443\n");
    expect(admin).toContain("current-context: kubernetes-admin@prod\n");
    const apiserver = parseCertificatePem(readFileSync(join(dir, "certs/apiserver.crt"), "utf8"));
    expect(apiserver.notAfter.getTime() - apiserver.notBefore.getTime()).toBe((2160 * 60 + 5) * 60_000);
  });

  it.each([
    [["--apiserver-advertise-address", "10.0.0.300"], "error: error parsing LocalAPIEndpoint AdvertiseAddress 10.0.0.300: is not a valid textual representation of an IP address"],
    [["--apiserver-cert-extra-sans", "ok.example,bad_name!"], 'error: invalid API server certificate SAN "bad_name!": not a valid IP address, DNS name or wildcard DNS name'],
    [["--service-cidr", "10.96.0.0/33"], 'error: invalid service CIDR "10.96.0.0/33": expected a CIDR such as 10.96.0.0/12'],
    [["--encryption-algorithm", "DSA-1024"], 'error: Invalid encryption algorithm "DSA-1024". Must be one of RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384'],
    [["--control-plane-endpoint", "api:99999"], 'error: error parsing cluster controlPlaneEndpoint "api:99999"'],
    [["--node-name", "Bad_Node"], 'error: invalid node name "bad_node": must be a lower-case RFC 1123 subdomain (set --node-name)'],
    [["--config", "/nonexistent/kubeadm.yaml"], 'error: unable to read config from "/nonexistent/kubeadm.yaml": no such file'],
  ])("bad input %j: one line on stderr, exit 1, nothing written", async (flags, message) => {
    const dir = fresh();
    const r = await kpki(["init", "--dir", dir, ...flags]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${message}\n`);
    expect(r.stdout).toBe("");
    expect(existsSync(dir)).toBe(false);
  });

  it.each([
    [["--certificate-validity-period", "1 year"], 'error: invalid --certificate-validity-period "1 year": expected a positive duration such as 720h, 30d or 1y'],
    [["--config", "/dev/null", "--service-cidr", "10.0.0.0/16"], "error: can not mix '--config' with arguments [service-cidr]"],
  ])("usage error %j: one line and the command's help, exit 2, nothing written", async (flags, message) => {
    const dir = fresh();
    const r = await kpki(["init", "--dir", dir, ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${message}\nRun 'kpki init --help' for usage.\n`);
    expect(r.stdout).toBe("");
    expect(existsSync(dir)).toBe(false);
  });

  it("a config that is not YAML, or not a kubeadm config", async () => {
    const bad = join(work, "bad.yaml");
    writeFileSync(bad, "kind: [unclosed\n");
    const r = await kpki(["init", "--dir", fresh(), "--config", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*bad\.yaml is not valid YAML: .+\n$/);
    writeFileSync(bad, "apiVersion: v1\nkind: ConfigMap\n");
    const r2 = await kpki(["init", "--dir", fresh(), "--config", bad]);
    expect(r2.stderr).toMatch(/has no InitConfiguration or ClusterConfiguration document\n$/);
  });

  it("an unwritable directory: one line naming it, exit 1", async () => {
    const file = join(work, "plain-file");
    writeFileSync(file, "x");
    const r = await kpki(["init", "--dir", join(file, "cluster"), "--encryption-algorithm", "ECDSA-P256"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: cannot read ${file}/cluster/pki/ca.crt: a parent is not a directory (ENOTDIR)\n`);
  });

  it("a directory where a certificate should be", async () => {
    const dir = fresh();
    await kpki(["init", "phase", "certs", "ca", "--dir", dir, "--encryption-algorithm", "ECDSA-P256"]);
    rmSync(join(dir, "pki/ca.crt"));
    const { mkdirSync } = await import("node:fs");
    mkdirSync(join(dir, "pki/ca.crt"));
    const r = await kpki(["init", "--dir", dir, "--encryption-algorithm", "ECDSA-P256"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: cannot read ${dir}/pki/ca.crt: is a directory (EISDIR)\n`);
  });

  it("phases: certs <name> and kubeconfig <name>", async () => {
    const dir = fresh();
    const ca = await kpki(["init", "phase", "certs", "ca", "--dir", dir, "--encryption-algorithm", "ECDSA-P256"]);
    expect(ca.stdout).toBe(`[certs] Using certificateDir folder "${dir}/pki"\n[certs] Generating "ca" certificate and key\n`);
    const admin = await kpki(["init", "phase", "kubeconfig", "admin", "--dir", dir, "--encryption-algorithm", "ECDSA-P256"]);
    expect(admin.stdout).toBe(`[kubeconfig] Using kubeconfig folder "${dir}"\n[kubeconfig] Writing "admin.conf" kubeconfig file\n`);
    expect(tree(dir)).toEqual(["admin.conf", "pki", "pki/ca.crt", "pki/ca.key"]);
    const unknown = await kpki(["init", "phase", "certs", "nope", "--dir", dir]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^error: invalid <name> "nope": choose one of ca, apiserver, .*, sa, all\nRun 'kpki init phase certs --help' for usage\.\n$/);
  });
});

describe("CLI conventions", () => {
  it("usage errors exit 2 with a hint", async () => {
    const r = await kpki(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: unknown command or argument "frobnicate"\nRun \'kpki --help\' for usage.\n');
    expect((await kpki([])).code).toBe(2);
  });

  it.each([["--help"], ["init", "--help"], ["init", "phase", "certs", "--help"], ["init", "phase", "kubeconfig", "--help"], ["ca", "create", "--help"]])(
    "%j shows a worked example and the exit codes",
    async (...args) => {
      const r = await kpki(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Examples:\n\s+kpki /);
      expect(r.stdout).toMatch(/Exit codes: 0 /);
    },
  );

  it.each([["bash", "_kpki_yargs_completions"], ["zsh", "#compdef kpki"], ["fish", "complete -f -c kpki"]])(
    "completion %s prints a script for that shell",
    async (shell, marker) => {
      const r = await kpki(["completion", shell]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(marker);
    },
  );
});

describe("kpki ca create", () => {
  it("writes a CA with kubeadm's template and reports it as JSON", async () => {
    const dir = fresh();
    const r = await kpki(["ca", "create", "--out-dir", dir, "--algorithm", "Ed25519", "--validity", "30d", "-o", "json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({ certificate: `${dir}/ca.crt`, key: `${dir}/ca.key`, algorithm: "Ed25519", subject: { commonName: "kubernetes" } });
    expect(r.stdout).toMatch(/^\{\n {4}"certificate"/);
    const ca = parseCertificatePem(readFileSync(join(dir, "ca.crt"), "utf8"));
    expect(ca.isCa).toBe(true);
    expect(ca.dnsNames).toEqual(["kubernetes"]);
    expect(ca.notAfter.getTime() - ca.notBefore.getTime()).toBe(30 * 86_400_000 + 5 * 60_000);
    expect(statSync(join(dir, "ca.key")).mode & 0o777).toBe(0o600);
    const again = await kpki(["ca", "create", "--out-dir", dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`error: ${dir}/ca.crt already exists; kpki never overwrites a CA (move it away first)\n`);
    const bad = await kpki(["ca", "create", "--out-dir", fresh(), "--validity", "forever"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('error: invalid --validity "forever": expected a positive duration such as 720h, 30d or 1y\nRun \'kpki ca create --help\' for usage.\n');
  });
});
