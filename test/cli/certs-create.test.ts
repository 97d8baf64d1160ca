/**
 * `kpki certs create` in-process: each profile's subject, SANs, usages, validity and file modes,
 * the refusals (nothing written), and the JSON report.
 */
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { parseCertificatePem, ipStrings, keyMatchesCertificate } from "../../src/pki/cert.js";
import { parsePrivateKeyPem } from "../../src/pki/keys.js";
import { fakeIo } from "../helpers/fake-io.js";
import { crypto, T0 } from "../helpers/clock.js";

const work = mkdtempSync(join(tmpdir(), "kpki-create-"));
const caDir = join(work, "ca");
const otherCa = join(work, "other-ca");
const cluster = join(work, "cluster");
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function kpki(args: string[]) {
  const f = fakeIo();
  const code = await run(args, f.io);
  return { code, stdout: f.stdout(), stderr: f.stderr() };
}

let n = 0;
const fresh = (): string => join(work, `out-${++n}`);

/** Runs certs create into a fresh folder; returns the folder and the parsed certificate(s). */
async function create(name: string, args: string[]) {
  const out = fresh();
  const r = await kpki(["certs", "create", name, "--ca-dir", caDir, "--out-dir", out, ...args]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return { out, r };
}

async function read(out: string, stem: string) {
  const pem = readFileSync(join(out, `${stem}.crt`), "utf8");
  const cert = parseCertificatePem(pem);
  const key = await parsePrivateKeyPem(readFileSync(join(out, `${stem}.key`), "utf8"), crypto);
  expect(await keyMatchesCertificate(cert, key, crypto)).toBe(true);
  expect(statSync(join(out, `${stem}.key`)).mode & 0o777).toBe(0o600);
  expect(statSync(join(out, `${stem}.crt`)).mode & 0o777).toBe(0o644);
  expect(new X509Certificate(pem).verify(new X509Certificate(readFileSync(join(caDir, "ca.crt"))).publicKey)).toBe(true);
  return { cert, ips: ipStrings(cert), key };
}

const YEAR = 365 * 24 * 3600 * 1000;
const FIVE_MIN = 5 * 60 * 1000;

describe("kpki certs create", () => {
  beforeAll(async () => {
    expect((await kpki(["ca", "create", "--out-dir", caDir])).code).toBe(0);
    expect((await kpki(["ca", "create", "--out-dir", otherCa, "--algorithm", "ECDSA-P256"])).code).toBe(0);
    expect((await kpki(["init", "phase", "certs", "etcd-ca", "--dir", cluster])).code).toBe(0);
  });

  it("server: serverAuth, the SANs told apart, kubeadm's template and validity (8760h from now, backdated 5m)", async () => {
    const { out, r } = await create("web", ["--profile", "server", "--san", "web.example.com,10.0.0.1", "--san", "IP:fd00::1", "--san", "*.apps.example.com"]);
    const { cert, ips } = await read(out, "web");
    expect(cert.subject).toEqual({ commonName: "web" });
    expect(cert.dnsNames).toEqual(["*.apps.example.com", "web.example.com"]);
    expect(ips).toEqual(["10.0.0.1", "fd00::1"]);
    expect(cert.keyUsages).toEqual(["digitalSignature", "keyEncipherment"]);
    expect(cert.extKeyUsages).toEqual(["serverAuth"]);
    expect(cert.isCa).toBe(false);
    expect(cert.notBefore.getTime()).toBe(T0.getTime() - FIVE_MIN);
    expect(cert.notAfter.getTime()).toBe(T0.getTime() + YEAR);
    expect(cert.issuer.commonName).toBe("kubernetes");
    expect(readdirSync(out).sort()).toEqual(["web.crt", "web.key"]);
    expect(r.stdout).toContain(`[create] Generated "web" certificate and key (server, RSA-2048, CN=web, DNS:*.apps.example.com, DNS:web.example.com, IP:10.0.0.1, IP:fd00::1)\n`);
  });

  it("client: clientAuth, --cn and repeated --org, no SAN needed, --validity and --algorithm", async () => {
    const { out } = await create("jane", ["--profile", "client", "--cn", "jane@dev", "--org", "dev", "--org", "ops", "--validity", "90d", "--algorithm", "ECDSA-P256"]);
    const { cert, key } = await read(out, "jane");
    expect(cert.subject).toEqual({ commonName: "jane@dev", organizations: ["dev", "ops"] });
    expect(cert.extKeyUsages).toEqual(["clientAuth"]);
    expect(cert.dnsNames).toEqual([]);
    expect(cert.ips).toEqual([]);
    expect(cert.notAfter.getTime()).toBe(T0.getTime() + 90 * 24 * 3600 * 1000);
    expect(key.algorithm).toBe("ECDSA-P256");
    expect(readFileSync(join(out, "jane.key"), "utf8")).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n/);
  });

  it("peer: serverAuth and clientAuth", async () => {
    const { out } = await create("p", ["--profile", "peer", "--san", "p.internal"]);
    expect((await read(out, "p")).cert.extKeyUsages).toEqual(["serverAuth", "clientAuth"]);
  });

  it("explicit --usage, as certs sign takes it", async () => {
    const { out } = await create("u", ["--usage", "clientAuth", "--usage", "serverAuth", "--san", "u.example"]);
    expect((await read(out, "u")).cert.extKeyUsages).toEqual(["clientAuth", "serverAuth"]);
  });

  it("kube-apiserver: kubeadm's API server names, the first service IP, then --san; --service-cidr and --cluster-domain", async () => {
    const { out } = await create("apiserver", ["--profile", "kube-apiserver", "--cn", "10.0.0.5", "--san", "10.0.0.5"]);
    const { cert, ips } = await read(out, "apiserver");
    expect(cert.subject).toEqual({ commonName: "10.0.0.5" });
    expect(cert.dnsNames).toEqual(["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]);
    expect(ips).toEqual(["10.96.0.1", "10.0.0.5"]);
    expect(cert.extKeyUsages).toEqual(["serverAuth"]);

    const { out: out2 } = await create("api2", ["--profile", "kube-apiserver", "--service-cidr", "172.20.0.0/16,fd00:10::/108", "--cluster-domain", "corp.example"]);
    const two = await read(out2, "api2");
    expect(two.cert.dnsNames).toEqual(["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.corp.example"]);
    expect(two.ips).toEqual(["172.20.0.1"]);
  });

  it("etcd-server, etcd-peer (serverAuth+clientAuth, CN, localhost and loopbacks) and etcd-client (clientAuth) from a kubeadm cert dir's etcd CA", async () => {
    for (const [profile, usages] of [["etcd-server", ["serverAuth", "clientAuth"]], ["etcd-peer", ["serverAuth", "clientAuth"]], ["etcd-client", ["clientAuth"]]] as const) {
      const out = fresh();
      const r = await kpki(["certs", "create", "m1", "--profile", profile, "--dir", cluster, "--out-dir", out, ...(profile === "etcd-client" ? [] : ["--san", "10.0.0.11"])]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      const cert = parseCertificatePem(readFileSync(join(out, "m1.crt"), "utf8"));
      expect(cert.issuer.commonName).toBe("etcd-ca");
      expect(cert.extKeyUsages).toEqual(usages);
      if (profile === "etcd-client") {
        expect([cert.dnsNames, cert.ips]).toEqual([[], []]);
      } else {
        expect(cert.dnsNames).toEqual(["localhost", "m1"]);
        expect(ipStrings(cert)).toEqual(["127.0.0.1", "::1", "10.0.0.11"]);
      }
    }
  });

  it("etcd-member: NAME-server, NAME-peer and NAME-client pairs, member name and IPs in server and peer", async () => {
    const { out, r } = await create("etcd-a", ["--profile", "etcd-member", "--san", "10.0.0.21,etcd-a.example.com"]);
    expect(readdirSync(out).sort()).toEqual(["etcd-a-client.crt", "etcd-a-client.key", "etcd-a-peer.crt", "etcd-a-peer.key", "etcd-a-server.crt", "etcd-a-server.key"]);
    for (const stem of ["etcd-a-server", "etcd-a-peer"]) {
      const { cert, ips } = await read(out, stem);
      expect(cert.subject).toEqual({ commonName: "etcd-a" });
      expect(cert.dnsNames).toEqual(["etcd-a", "etcd-a.example.com", "localhost"]);
      expect(ips).toEqual(["127.0.0.1", "::1", "10.0.0.21"]);
      expect(cert.extKeyUsages).toEqual(["serverAuth", "clientAuth"]);
    }
    const client = await read(out, "etcd-a-client");
    expect(client.cert.extKeyUsages).toEqual(["clientAuth"]);
    expect(client.cert.dnsNames).toEqual(["etcd-a.example.com"]);
    expect(r.stdout.match(/\[create\] Generated/g)).toHaveLength(3);
  });

  it("-o json reports every certificate", async () => {
    const out = fresh();
    const r = await kpki(["certs", "create", "j", "--profile", "server", "--san", "j.example", "--ca-cert", join(caDir, "ca.crt"), "--ca-key", join(caDir, "ca.key"), "--out-dir", out, "-o", "json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { issuer: unknown; certificates: Record<string, unknown>[] };
    expect(report.issuer).toEqual({ certificate: join(caDir, "ca.crt"), commonName: "kubernetes" });
    expect(report.certificates).toHaveLength(1);
    expect(report.certificates[0]).toMatchObject({
      name: "j", profile: "server", certificate: join(out, "j.crt"), key: join(out, "j.key"), algorithm: "RSA-2048",
      subject: { commonName: "j", organizations: [] }, dnsNames: ["j.example"], ipAddresses: [],
      keyUsages: ["digitalSignature", "keyEncipherment"], extKeyUsages: ["serverAuth"],
      notBefore: new Date(T0.getTime() - FIVE_MIN).toISOString(), notAfter: new Date(T0.getTime() + YEAR).toISOString(),
    });
    expect(report.certificates[0]?.["sha256Fingerprint"]).toMatch(/^[0-9a-f]{64}$/);
  });

  describe("refusals: one line, nothing written", () => {
    const refused = async (args: string[], code: number, message: string | RegExp, out = fresh()) => {
      const r = await kpki(["certs", "create", ...args, "--out-dir", out]);
      expect(r.code).toBe(code);
      if (typeof message === "string") expect(r.stderr.split("\n")[0]).toBe(`error: ${message}`);
      else expect(r.stderr).toMatch(message);
      expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
      return out;
    };

    it("a serving certificate with no SAN", async () => {
      await refused(["s", "--profile", "server", "--ca-dir", caDir], 1, "s is a serving certificate (serverAuth) but names no DNS name or IP: give --san (TLS clients check the SANs, not the CN)");
      await refused(["s", "--usage", "serverAuth", "--ca-dir", caDir], 1, /serverAuth.*names no DNS name or IP/);
    });

    it("a SAN that is neither an IP nor a DNS name, and e-mail/URI SANs", async () => {
      await refused(["s", "--profile", "server", "--san", "Web_1", "--ca-dir", caDir], 1, '--san "Web_1" is neither an IP address nor a DNS name (a lower-case RFC 1123 subdomain, optionally starting with "*.")');
      await refused(["s", "--profile", "server", "--san", "IP:10.0.0.300", "--ca-dir", caDir], 1, /--san "IP:10\.0\.0\.300" is neither/);
      await refused(["s", "--profile", "client", "--san", "jane@example.com", "--ca-dir", caDir], 1, /e-mail or URI name; kpki certificates carry only DNS and IP SANs/);
      await refused(["s", "--profile", "client", "--san", "spiffe://cluster.local/ns/a", "--ca-dir", caDir], 1, /e-mail or URI name/);
    });

    it("an existing key or certificate (either one)", async () => {
      const out = fresh();
      mkdirSync(out);
      const first = await kpki(["certs", "create", "x", "--profile", "client", "--ca-dir", caDir, "--out-dir", out]);
      expect(first.code).toBe(0);
      rmSync(join(out, "x.crt"));
      const before = readFileSync(join(out, "x.key"), "utf8");
      const r = await kpki(["certs", "create", "x", "--profile", "client", "--ca-dir", caDir, "--out-dir", out]);
      expect([r.code, r.stderr]).toEqual([1, `error: ${join(out, "x.key")} already exists; kpki does not overwrite keys or certificates (move it away first)\n`]);
      expect(readdirSync(out)).toEqual(["x.key"]);
      expect(readFileSync(join(out, "x.key"), "utf8")).toBe(before);
    });

    it("a CA key that is not the certificate's, and a certificate that is not a CA", async () => {
      await refused(["s", "--profile", "client", "--ca-cert", join(caDir, "ca.crt"), "--ca-key", join(otherCa, "ca.key")], 1,
        `${join(otherCa, "ca.key")} does not match ${join(caDir, "ca.crt")}: the key is not the ca certificate authority's`);
      const leaf = (await create("leaf", ["--profile", "client"])).out;
      await refused(["s", "--profile", "client", "--ca-cert", join(leaf, "leaf.crt"), "--ca-key", join(leaf, "leaf.key")], 1,
        `${join(leaf, "leaf.crt")} is not a certificate authority (ca): its basicConstraints do not say CA:TRUE`);
      await refused(["s", "--profile", "client", "--ca-dir", join(work, "nowhere")], 1, `${join(work, "nowhere", "ca.crt")} does not exist`);
    });

    it("usage errors (exit 2): bad --validity, no profile or usage, both, mixed CA sources, kube-apiserver flags elsewhere", async () => {
      await refused(["s", "--profile", "client", "--validity", "1 year", "--ca-dir", caDir], 2, 'invalid --validity "1 year": expected a positive duration such as 720h, 30d or 1y');
      await refused(["s", "--ca-dir", caDir], 2, "give --profile or --usage");
      await refused(["s", "--profile", "client", "--usage", "clientAuth", "--ca-dir", caDir], 2, "--profile and --usage are exclusive: a profile sets the usages");
      await refused(["s", "--profile", "client", "--ca-dir", caDir, "--dir", cluster], 2, "give the CA one way: --ca-dir, --ca-cert with --ca-key, or --cert-dir/--dir");
      await refused(["s", "--profile", "client", "--ca-cert", join(caDir, "ca.crt")], 2, "--ca-cert and --ca-key go together");
      await refused(["s", "--profile", "server", "--san", "a.b", "--service-cidr", "10.0.0.0/24", "--ca-dir", caDir], 2, "--service-cidr and --cluster-domain apply to --profile kube-apiserver only");
      await refused(["../s", "--profile", "client", "--ca-dir", caDir], 2, `invalid name "../s": use letters, digits, '.', '_' and '-'`);
    });

    it("kube-apiserver with a service CIDR that is not one (exit 1, kubeadm's message)", async () => {
      await refused(["a", "--profile", "kube-apiserver", "--service-cidr", "10.96.0.0", "--ca-dir", caDir], 1, 'invalid service CIDR "10.96.0.0": expected a CIDR such as 10.96.0.0/12');
    });
  });
});
