import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { run } from "../../src/cli/main.js";
import { readKubeconfig } from "../../src/kubeadm/kubeconfig.js";
import { ipStrings, isSignedBy, keyMatchesCertificate, parseCertificatePem } from "../../src/pki/cert.js";
import { parseCsrPem } from "../../src/pki/csr.js";
import { parsePrivateKeyPem } from "../../src/pki/keys.js";
import { fakeIo } from "../helpers/fake-io.js";
import { T0, crypto } from "../helpers/clock.js";

const work = mkdtempSync(join(tmpdir(), "kpki-csr-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
async function kpki(args: string[]) {
  const f = fakeIo();
  const code = await run(args, f.io);
  return { code, stdout: f.stdout(), stderr: f.stderr() };
}
const ca = join(work, "ca");
await kpki(["init", "phase", "certs", "all", "--dir", ca, "--encryption-algorithm", "ECDSA-P256", "--node-name", "cp-1", "--apiserver-advertise-address", "10.0.0.5"]);

describe("certs generate-csr", () => {
  it("writes a key and a CSR per certificate and key-only kubeconfigs, in a fixed order, then refuses to run again", async () => {
    const d = join(work, "gen");
    const r = await kpki(["certs", "generate-csr", "--dir", d, "--node-name", "cp-1", "--apiserver-advertise-address", "10.0.0.5", "--encryption-algorithm", "ECDSA-P256"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`generating keys and CSRs in ${d}/pki
  apiserver
  apiserver-kubelet-client
  front-proxy-client
  etcd/server
  etcd/peer
  etcd/healthcheck-client
  apiserver-etcd-client
generating keys and CSRs in ${d}
  admin.conf
  super-admin.conf
  kubelet.conf
  controller-manager.conf
  scheduler.conf
`);
    const csr = await parseCsrPem(readFileSync(join(d, "pki/apiserver.csr"), "utf8"), crypto);
    expect([csr.commonName, csr.dnsNames, ipStrings(csr), csr.signatureValid]).toEqual(["kube-apiserver",
      ["cp-1", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"], ["10.96.0.1", "10.0.0.5"], true]);
    expect(csr.requestedExtensions).toEqual(["2.5.29.17"]); // SANs only, no usages (kubeadm's NewCSR)
    expect(statSync(join(d, "pki/apiserver.csr")).mode & 0o777).toBe(0o600);
    const conf = parse(readFileSync(join(d, "kubelet.conf"), "utf8")) as { users: { user: Record<string, string> }[]; clusters: { cluster: Record<string, string> }[] };
    expect(Object.keys(conf.users[0]!.user)).toEqual(["client-key-data"]);
    expect(Object.keys(conf.clusters[0]!.cluster)).toEqual(["server"]);
    const kubeletCsr = await parseCsrPem(readFileSync(join(d, "kubelet.conf.csr"), "utf8"), crypto);
    expect([kubeletCsr.commonName, kubeletCsr.organizations]).toEqual(["system:node:cp-1", ["system:nodes"]]);
    const again = await kpki(["certs", "generate-csr", "--dir", d, "--node-name", "cp-1", "--apiserver-advertise-address", "10.0.0.5"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`error: file already exists: key or CSR ${d}/pki/apiserver\n`);
  });
});

describe("certs sign", () => {
  const d = join(work, "sign");
  const gen = kpki(["certs", "generate-csr", "--dir", d, "--node-name", "cp-1", "--apiserver-advertise-address", "10.0.0.5", "--encryption-algorithm", "ECDSA-P256"]);

  it("a profile issues kubeadm's certificate for the CSR, signed by the profile's CA", async () => {
    await gen;
    const r = await kpki(["certs", "sign", "--csr", join(d, "pki/etcd/peer.csr"), "--profile", "etcd-peer", "--dir", ca, "--out", join(d, "pki/etcd/peer.crt")]);
    expect(r.code).toBe(0);
    const cert = parseCertificatePem(readFileSync(join(d, "pki/etcd/peer.crt"), "utf8"));
    expect([cert.commonName, cert.extKeyUsages, cert.keyUsages, cert.isCa, ipStrings(cert)]).toEqual(["cp-1", ["serverAuth", "clientAuth"], ["digitalSignature", "keyEncipherment"], false, ["10.0.0.5", "127.0.0.1", "::1"]]);
    expect(await isSignedBy(cert, parseCertificatePem(readFileSync(join(ca, "pki/etcd/ca.crt"), "utf8")), crypto)).toBe(true);
    expect(await keyMatchesCertificate(cert, await parsePrivateKeyPem(readFileSync(join(d, "pki/etcd/peer.key"), "utf8"), crypto), crypto)).toBe(true);
    expect(cert.notAfter.getTime() - T0.getTime()).toBe(8760 * 3_600_000);
    const twice = await kpki(["certs", "sign", "--csr", join(d, "pki/etcd/peer.csr"), "--profile", "etcd-peer", "--dir", ca, "--out", join(d, "pki/etcd/peer.crt")]);
    expect(twice.stderr).toMatch(/already exists; kpki does not overwrite certificates/);
  });

  it("finishes a generate-csr kubeconfig in place, refusing one whose key is not the CSR's", async () => {
    await gen;
    const r = await kpki(["certs", "sign", "--csr", join(d, "super-admin.conf.csr"), "--profile", "super-admin.conf", "--dir", ca, "--kubeconfig", join(d, "super-admin.conf")]);
    expect(r.code).toBe(0);
    const view = await readKubeconfig(readFileSync(join(d, "super-admin.conf"), "utf8"), "s");
    const cert = parseCertificatePem(view.clientCertData!);
    expect([cert.commonName, cert.organizations]).toEqual(["kubernetes-super-admin", ["system:masters"]]);
    expect(view.caData).toBe(readFileSync(join(ca, "pki/ca.crt"), "utf8"));
    expect(await keyMatchesCertificate(cert, await parsePrivateKeyPem(view.clientKeyData!, crypto), crypto)).toBe(true);
    const wrong = await kpki(["certs", "sign", "--csr", join(d, "admin.conf.csr"), "--profile", "admin.conf", "--dir", ca, "--kubeconfig", join(d, "scheduler.conf")]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/error: the CSR's CN is "kubernetes-admin"|holds a different key/);
  });

  it("refuses a CSR whose signature does not verify, a file that is not a CSR, and a subject that does not fit", async () => {
    await gen;
    const pem = readFileSync(join(d, "pki/apiserver.csr"), "utf8");
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\n/g, ""), "base64");
    der[der.length - 3] = der[der.length - 3]! ^ 0xff;
    const bad = join(work, "tampered.csr");
    writeFileSync(bad, `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`);
    const out = join(work, "never.crt");
    const r1 = await kpki(["certs", "sign", "--csr", bad, "--profile", "apiserver", "--dir", ca, "--out", out]);
    expect([r1.code, r1.stderr]).toEqual([1, "error: the CSR's signature does not verify: refusing to sign it\n"]);
    const r2 = await kpki(["certs", "sign", "--csr", join(ca, "pki/ca.crt"), "--usage", "serverAuth", "--dir", ca]);
    expect(r2.stderr).toMatch(/^error: .*ca\.crt must hold exactly one CERTIFICATE REQUEST block \(found 0\)\n$/);
    const r3 = await kpki(["certs", "sign", "--csr", join(d, "pki/apiserver.csr"), "--profile", "front-proxy-client", "--dir", ca, "--out", out]);
    expect(r3.stderr).toBe('error: the CSR\'s CN is "kube-apiserver" but this profile issues CN "front-proxy-client"\n');
    expect(existsSync(out)).toBe(false);
    const r4 = await kpki(["certs", "sign", "--csr", join(d, "pki/apiserver.csr"), "--dir", ca]);
    expect([r4.code, r4.stderr]).toEqual([2, "error: give --profile or --usage\nRun 'kpki certs sign --help' for usage.\n"]);
  });

  it("explicit --usage and --validity, PEM on stdout", async () => {
    await gen;
    const r = await kpki(["certs", "sign", "--csr", join(d, "pki/apiserver.csr"), "--usage", "serverAuth", "--usage", "clientAuth", "--validity", "90d", "--dir", ca]);
    const cert = parseCertificatePem(r.stdout);
    expect(cert.extKeyUsages).toEqual(["serverAuth", "clientAuth"]);
    expect(cert.notAfter.getTime() - T0.getTime()).toBe(90 * 86_400_000);
  });
});

describe("kubeconfig user and certs certificate-key", () => {
  it("kubeconfig user prints kubeadm's kubeconfig for the user, plus the extra newline", async () => {
    const r = await kpki(["kubeconfig", "user", "--client-name", "jane", "--org", "dev", "--org", "ops", "--dir", ca, "--apiserver-advertise-address", "10.0.0.5", "--validity-period", "24h"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\nusers:\n- name: jane\n  user:\n    client-certificate-data: [A-Za-z0-9+/=]+\n    client-key-data: [A-Za-z0-9+/=]+\n\n$/);
    expect(r.stdout.endsWith("\n\n")).toBe(true);
    const view = await readKubeconfig(r.stdout, "jane");
    expect([view.currentContext, view.server]).toEqual(["jane@kubernetes", "https://10.0.0.5:6443"]);
    const cert = parseCertificatePem(view.clientCertData!);
    expect([cert.commonName, cert.organizations, cert.extKeyUsages]).toEqual(["jane", ["dev", "ops"], ["clientAuth"]]);
    expect(cert.notAfter.getTime() - T0.getTime()).toBe(24 * 3_600_000);
    const long = await kpki(["kubeconfig", "user", "--client-name", "x", "--dir", ca, "--apiserver-advertise-address", "10.0.0.5", "--validity-period", "17520h"]);
    expect(long.stderr).toBe("WARNING: the specified certificate validity period 17520h0m0s is longer than the default duration 8760h0m0s, this may increase security risks.\n");
    const noCa = await kpki(["kubeconfig", "user", "--client-name", "x", "--dir", join(work, "nowhere"), "--apiserver-advertise-address", "10.0.0.5"]);
    expect(noCa.stderr).toBe(`error: couldn't create a kubeconfig; the CA files couldn't be loaded: ${work}/nowhere/pki/ca.crt does not exist\n`);
  });

  it("certs certificate-key prints 64 lower-case hex characters, new each time", async () => {
    const a = await kpki(["certs", "certificate-key"]);
    const b = await kpki(["certs", "certificate-key"]);
    expect(a.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(a.stdout).not.toBe(b.stdout);
  });
});
