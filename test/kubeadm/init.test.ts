import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { isPkiError } from "../../src/errors.js";
import { parseCertificatePem, isSignedBy, keyMatchesCertificate, ipStrings, type ParsedCertificate } from "../../src/pki/cert.js";
import { parsePrivateKeyPem } from "../../src/pki/keys.js";
import { decodePem } from "../../src/pki/pem.js";
import { children, decodeOne, readOid } from "../../src/pki/der.js";
import { resolveClusterConfig, type ClusterConfig, type ConfigFlags } from "../../src/kubeadm/config.js";
import { runInit, allCertPhases, allKubeconfigPhases, type InitSelection } from "../../src/kubeadm/init.js";
import { readKubeconfig } from "../../src/kubeadm/kubeconfig.js";
import { memoryStore } from "../helpers/memory-store.js";
import { T0, crypto } from "../helpers/clock.js";

const host = { hostname: "eck-lab", defaultAddress: "207.244.255.225" };
const config = (flags: ConfigFlags = {}, docs?: Parameters<typeof resolveClusterConfig>[0]): ClusterConfig =>
  resolveClusterConfig(docs, { certDir: "/k/pki", kubeconfigDir: "/k", encryptionAlgorithm: "ECDSA-P256", ...flags }, host);

async function init(cfg: ClusterConfig, store = memoryStore(), selection: InitSelection = { certs: allCertPhases(), kubeconfigs: allKubeconfigPhases() }) {
  const out: string[] = [];
  const warnings: string[] = [];
  await runInit(cfg, selection, { crypto, store: store.store, now: T0, log: (l) => out.push(l), warn: (w) => warnings.push(w) });
  return { out, warnings, ...store };
}

const cert = (files: Map<string, { data: string }>, path: string): ParsedCertificate =>
  parseCertificatePem(files.get(path)?.data ?? "");

/** The extension OIDs in the order they appear in the certificate. */
function extensionOrder(c: ParsedCertificate): string[] {
  const tbs = children(children(decodeOne(c.der))[0]!);
  const exts = tbs.find((n) => n.tag === 0xa3)!;
  return children(children(exts)[0]!).map((e) => readOid(children(e)[0]!));
}

// A real v1.31 `kubeadm init phase certs all` output (node eck-lab).
const KUBEADM_SAMPLE = `[certs] Using certificateDir folder "/k/pki"
[certs] Generating "ca" certificate and key
[certs] Generating "apiserver" certificate and key
[certs] apiserver serving cert is signed for DNS names [eck-lab kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local] and IPs [10.96.0.1 207.244.255.225]
[certs] Generating "apiserver-kubelet-client" certificate and key
[certs] Generating "front-proxy-ca" certificate and key
[certs] Generating "front-proxy-client" certificate and key
[certs] Generating "etcd/ca" certificate and key
[certs] Generating "etcd/server" certificate and key
[certs] etcd/server serving cert is signed for DNS names [eck-lab localhost] and IPs [207.244.255.225 127.0.0.1 ::1]
[certs] Generating "etcd/peer" certificate and key
[certs] etcd/peer serving cert is signed for DNS names [eck-lab localhost] and IPs [207.244.255.225 127.0.0.1 ::1]
[certs] Generating "etcd/healthcheck-client" certificate and key
[certs] Generating "apiserver-etcd-client" certificate and key
[certs] Generating "sa" key and public key
[kubeconfig] Using kubeconfig folder "/k"
[kubeconfig] Writing "admin.conf" kubeconfig file
[kubeconfig] Writing "super-admin.conf" kubeconfig file
[kubeconfig] Writing "kubelet.conf" kubeconfig file
[kubeconfig] Writing "controller-manager.conf" kubeconfig file
[kubeconfig] Writing "scheduler.conf" kubeconfig file`;

describe("kpki init on defaults (kubeadm init phase certs all + kubeconfig all)", async () => {
  const run = await init(config());
  const { files } = run;

  it("prints kubeadm's lines byte for byte", () => {
    expect(run.out.join("\n")).toBe(KUBEADM_SAMPLE);
    expect(run.warnings).toEqual([]);
  });

  it("writes kubeadm's files with kubeadm's modes, each key before its certificate", () => {
    const modes = Object.fromEntries([...files].map(([p, f]) => [p, f.mode.toString(8)]));
    expect(modes).toEqual({
      "/k/pki/ca.key": "600", "/k/pki/ca.crt": "644",
      "/k/pki/apiserver.key": "600", "/k/pki/apiserver.crt": "644",
      "/k/pki/apiserver-kubelet-client.key": "600", "/k/pki/apiserver-kubelet-client.crt": "644",
      "/k/pki/front-proxy-ca.key": "600", "/k/pki/front-proxy-ca.crt": "644",
      "/k/pki/front-proxy-client.key": "600", "/k/pki/front-proxy-client.crt": "644",
      "/k/pki/etcd/ca.key": "600", "/k/pki/etcd/ca.crt": "644",
      "/k/pki/etcd/server.key": "600", "/k/pki/etcd/server.crt": "644",
      "/k/pki/etcd/peer.key": "600", "/k/pki/etcd/peer.crt": "644",
      "/k/pki/etcd/healthcheck-client.key": "600", "/k/pki/etcd/healthcheck-client.crt": "644",
      "/k/pki/apiserver-etcd-client.key": "600", "/k/pki/apiserver-etcd-client.crt": "644",
      "/k/pki/sa.key": "600", "/k/pki/sa.pub": "600",
      "/k/admin.conf": "600", "/k/super-admin.conf": "600", "/k/kubelet.conf": "600",
      "/k/controller-manager.conf": "600", "/k/scheduler.conf": "600",
    });
    // Crash-safety order: every key before its certificate, every CA pair before anything it signed.
    const at = (p: string) => run.writes.indexOf(p);
    for (const base of ["ca", "apiserver", "front-proxy-client", "etcd/peer", "apiserver-etcd-client"]) {
      expect(at(`/k/pki/${base}.key`)).toBeLessThan(at(`/k/pki/${base}.crt`));
    }
    for (const [ca, leaf] of [["ca", "/k/pki/apiserver.key"], ["ca", "/k/admin.conf"], ["front-proxy-ca", "/k/pki/front-proxy-client.key"], ["etcd/ca", "/k/pki/etcd/server.key"]]) {
      expect(at(`/k/pki/${ca}.crt`)).toBeLessThan(at(leaf!));
    }
    expect(at("/k/pki/sa.key")).toBeLessThan(at("/k/pki/sa.pub"));
  });

  it("writes keys in kubeadm's PEM formats", () => {
    expect(decodePem(files.get("/k/pki/ca.key")!.data).map((b) => b.label)).toEqual(["EC PRIVATE KEY"]);
    expect(decodePem(files.get("/k/pki/sa.pub")!.data).map((b) => b.label)).toEqual(["PUBLIC KEY"]);
    expect(decodePem(files.get("/k/pki/ca.crt")!.data).map((b) => b.label)).toEqual(["CERTIFICATE"]);
  });

  const table = [
    // base, issuer, CN, O, EKU, DNS, IPs
    ["apiserver", "ca", "kube-apiserver", [], ["serverAuth"],
      ["eck-lab", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"], ["10.96.0.1", "207.244.255.225"]],
    ["apiserver-kubelet-client", "ca", "kube-apiserver-kubelet-client", ["kubeadm:cluster-admins"], ["clientAuth"], [], []],
    ["front-proxy-client", "front-proxy-ca", "front-proxy-client", [], ["clientAuth"], [], []],
    ["etcd/server", "etcd/ca", "eck-lab", [], ["serverAuth", "clientAuth"], ["eck-lab", "localhost"], ["207.244.255.225", "127.0.0.1", "::1"]],
    ["etcd/peer", "etcd/ca", "eck-lab", [], ["serverAuth", "clientAuth"], ["eck-lab", "localhost"], ["207.244.255.225", "127.0.0.1", "::1"]],
    ["etcd/healthcheck-client", "etcd/ca", "kube-etcd-healthcheck-client", [], ["clientAuth"], [], []],
    ["apiserver-etcd-client", "etcd/ca", "kube-apiserver-etcd-client", [], ["clientAuth"], [], []],
  ] as const;

  it.each(table)("%s has kubeadm's subject, usages, SANs and extensions", async (base, ca, cn, o, eku, dns, ips) => {
    const leaf = cert(files, `/k/pki/${base}.crt`);
    const issuer = cert(files, `/k/pki/${ca}.crt`);
    expect(leaf.commonName).toBe(cn);
    expect(leaf.organizations).toEqual(o);
    expect(leaf.extKeyUsages).toEqual(eku);
    expect(leaf.keyUsages).toEqual(["digitalSignature", "keyEncipherment"]);
    expect(leaf.isCa).toBe(false);
    expect(leaf.dnsNames).toEqual(dns);
    expect(ipStrings(leaf)).toEqual(ips);
    expect(leaf.subjectKeyId).toBeUndefined();
    expect(leaf.authorityKeyId).toEqual(issuer.subjectKeyId);
    expect(await isSignedBy(leaf, issuer, crypto)).toBe(true);
    const key = await parsePrivateKeyPem(files.get(`/k/pki/${base}.key`)!.data, crypto);
    expect(await keyMatchesCertificate(leaf, key, crypto)).toBe(true);
    const expected = ["2.5.29.15", "2.5.29.37", "2.5.29.19", "2.5.29.35", ...(dns.length ? ["2.5.29.17"] : [])];
    expect(extensionOrder(leaf)).toEqual(expected);
    expect(leaf.notBefore.getTime()).toBe(T0.getTime() - 5 * 60_000);
    expect(leaf.notAfter.getTime()).toBe(T0.getTime() + 8760 * 3_600_000);
    const serial = BigInt(`0x${leaf.serialHex}`);
    expect(serial > 0n && serial < 2n ** 63n).toBe(true);
  });

  it.each([["ca", "kubernetes"], ["front-proxy-ca", "front-proxy-ca"], ["etcd/ca", "etcd-ca"]])(
    "%s is a self-signed CA with SKI, no AKI and SAN DNS:<CN>",
    async (base, cn) => {
      const ca = cert(files, `/k/pki/${base}.crt`);
      expect(ca.commonName).toBe(cn);
      expect(ca.isCa).toBe(true);
      expect(ca.keyUsages).toEqual(["digitalSignature", "keyEncipherment", "keyCertSign"]);
      expect(ca.dnsNames).toEqual([cn]);
      expect(ca.subjectKeyId?.length).toBe(20);
      expect(ca.authorityKeyId).toBeUndefined();
      expect(extensionOrder(ca)).toEqual(["2.5.29.15", "2.5.29.19", "2.5.29.14", "2.5.29.17"]);
      expect(ca.notAfter.getTime()).toBe(T0.getTime() + 87600 * 3_600_000);
      expect(await isSignedBy(ca, ca, crypto)).toBe(true);
    },
  );

  it.each([
    ["admin.conf", "kubernetes-admin", ["kubeadm:cluster-admins"], "https://207.244.255.225:6443"],
    ["super-admin.conf", "kubernetes-super-admin", ["system:masters"], "https://207.244.255.225:6443"],
    ["kubelet.conf", "system:node:eck-lab", ["system:nodes"], "https://207.244.255.225:6443"],
    ["controller-manager.conf", "system:kube-controller-manager", [], "https://207.244.255.225:6443"],
    ["scheduler.conf", "system:kube-scheduler", [], "https://207.244.255.225:6443"],
  ])("%s embeds the CA, a client cert for %s and its key", async (file, user, orgs, server) => {
    const text = files.get(`/k/${file}`)!.data;
    const doc = parse(text) as Record<string, unknown>;
    expect(Object.keys(doc)).toEqual(["apiVersion", "clusters", "contexts", "current-context", "kind", "preferences", "users"]);
    expect(doc["current-context"]).toBe(`${user}@kubernetes`);
    expect(text).toContain("preferences: {}\n");
    expect(text).toMatch(/^clusters:\n- cluster:\n    certificate-authority-data: [A-Za-z0-9+/=]+\n    server: /m);
    const view = await readKubeconfig(text, file);
    expect(view.server).toBe(server);
    expect(view.caData).toBe(files.get("/k/pki/ca.crt")!.data);
    const client = parseCertificatePem(view.clientCertData!);
    const ca = cert(files, "/k/pki/ca.crt");
    expect(client.commonName).toBe(user);
    expect(client.organizations).toEqual(orgs);
    expect(client.extKeyUsages).toEqual(["clientAuth"]);
    expect(client.dnsNames).toEqual([]);
    expect(client.notBefore).toEqual(ca.notBefore);
    expect(await isSignedBy(client, ca, crypto)).toBe(true);
    const key = await parsePrivateKeyPem(view.clientKeyData!, crypto);
    expect(await keyMatchesCertificate(client, key, crypto)).toBe(true);
  });

  it("is idempotent: a second run reuses and validates everything and writes nothing", async () => {
    const again = await init(config(), { store: run.store, files, writes: [] } as never);
    expect(again.out).toEqual([
      '[certs] Using certificateDir folder "/k/pki"',
      "[certs] Using existing ca certificate authority",
      "[certs] Using existing apiserver certificate and key on disk",
      "[certs] Using existing apiserver-kubelet-client certificate and key on disk",
      "[certs] Using existing front-proxy-ca certificate authority",
      "[certs] Using existing front-proxy-client certificate and key on disk",
      "[certs] Using existing etcd/ca certificate authority",
      "[certs] Using existing etcd/server certificate and key on disk",
      "[certs] Using existing etcd/peer certificate and key on disk",
      "[certs] Using existing etcd/healthcheck-client certificate and key on disk",
      "[certs] Using existing apiserver-etcd-client certificate and key on disk",
      '[certs] Using the existing "sa" key',
      '[kubeconfig] Using kubeconfig folder "/k"',
      '[kubeconfig] Using existing kubeconfig file: "/k/admin.conf"',
      '[kubeconfig] Using existing kubeconfig file: "/k/super-admin.conf"',
      '[kubeconfig] Using existing kubeconfig file: "/k/kubelet.conf"',
      '[kubeconfig] Using existing kubeconfig file: "/k/controller-manager.conf"',
      '[kubeconfig] Using existing kubeconfig file: "/k/scheduler.conf"',
    ]);
  });
});

/** A fresh PKI to break, as a plain file map. */
async function freshPki(flags: ConfigFlags = {}) {
  const r = await init(config(flags));
  return Object.fromEntries([...r.files].map(([p, f]) => [p, f.data]));
}

async function expectRefused(files: Record<string, string>, flags: ConfigFlags, message: RegExp) {
  const store = memoryStore(files);
  const error = await init(config(flags), store).catch((e: unknown) => e);
  expect(isPkiError(error), String(error)).toBe(true);
  expect((error as Error).message).toMatch(message);
  expect((error as Error).message).not.toContain("\n");
  expect(store.writes).toEqual([]); // nothing half-written
}

describe("existing files that do not match are refused before anything is written", async () => {
  const base = await freshPki();
  const other = await freshPki();

  it("a leaf signed by another CA", async () => {
    await expectRefused({ ...base, "/k/pki/apiserver.crt": other["/k/pki/apiserver.crt"]!, "/k/pki/apiserver.key": other["/k/pki/apiserver.key"]! },
      {}, /^certificate apiserver is not signed by corresponding CA/);
  });
  it("a leaf missing a SAN the config now asks for", async () => {
    await expectRefused(base, { certSans: ["api.example.com"] },
      /^certificate apiserver is invalid: x509: certificate is valid for .*, not api\.example\.com/);
    await expectRefused(base, { advertiseAddress: "10.0.0.9" }, /not 10\.0\.0\.9/);
  });
  it("a key that does not match its certificate", async () => {
    await expectRefused({ ...base, "/k/pki/front-proxy-client.key": base["/k/pki/apiserver.key"]! }, {},
      /front-proxy-client\.key does not match \/k\/pki\/front-proxy-client\.crt/);
    await expectRefused({ ...base, "/k/pki/ca.key": other["/k/pki/ca.key"]! }, {}, /ca\.key does not match/);
  });
  it("a corrupt certificate or key, and a certificate without its key", async () => {
    await expectRefused({ ...base, "/k/pki/etcd/peer.crt": "garbage" }, {}, /^failure loading etcd\/peer certificate from \/k\/pki\/etcd\/peer\.crt/);
    await expectRefused({ ...base, "/k/pki/etcd/peer.key": "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n" }, {}, /^failure loading etcd\/peer key/);
    const { ["/k/pki/etcd/peer.key"]: _gone, ...noKey } = base;
    await expectRefused(noKey, {}, /certificate etcd\/peer exists but its key \/k\/pki\/etcd\/peer\.key is missing/);
    await expectRefused({ ...base, "/k/pki/sa.key": "nope" }, {}, /file sa\.key existed but it could not be loaded properly/);
  });
  it("a leaf certificate used as a CA", async () => {
    await expectRefused({ ...base, "/k/pki/ca.crt": base["/k/pki/apiserver.crt"]!, "/k/pki/ca.key": base["/k/pki/apiserver.key"]! }, {}, /ca\.crt is not a certificate authority \(ca\)/);
  });
  it("a kubeconfig with another cluster's CA", async () => {
    await expectRefused({ ...base, "/k/admin.conf": other["/k/admin.conf"]! }, {},
      /^a kubeconfig file "\/k\/admin\.conf" exists already but has got the wrong CA cert$/);
  });
  it("a kubeconfig for another server only warns", async () => {
    const r = await init(config({ controlPlaneEndpoint: "cp.example.com" }), memoryStore({ ...base }), { kubeconfigs: ["admin"] });
    expect(r.warnings).toEqual([
      'a kubeconfig file "/k/admin.conf" exists already but has an unexpected API Server URL: expected: https://cp.example.com:6443, got: https://207.244.255.225:6443',
    ]);
    expect(r.writes).toEqual([]);
  });
});

describe("crash recovery, external CA and external etcd", async () => {
  const base = await freshPki();

  it("a key whose certificate was never written is completed with that same key", async () => {
    const { ["/k/pki/apiserver.crt"]: _c, ["/k/pki/ca.crt"]: _ca, ["/k/pki/sa.pub"]: _p, ...partial } = base;
    // Without ca.crt every leaf under ca would be refused, so keep the leaves of the other CAs only.
    const store = memoryStore(Object.fromEntries(Object.entries(partial).filter(([p]) => !/\/k\/pki\/(apiserver-kubelet-client)\.|\.conf$/.test(p))));
    const r = await init(config(), store, { certs: ["ca", "apiserver", "apiserver-kubelet-client", "sa"] });
    expect(r.out).toContain('[certs] Generating "ca" certificate and key');
    const ca = cert(r.files, "/k/pki/ca.crt");
    expect(await keyMatchesCertificate(ca, await parsePrivateKeyPem(base["/k/pki/ca.key"]!, crypto), crypto)).toBe(true);
    const apiserver = cert(r.files, "/k/pki/apiserver.crt");
    expect(await keyMatchesCertificate(apiserver, await parsePrivateKeyPem(base["/k/pki/apiserver.key"]!, crypto), crypto)).toBe(true);
    expect(r.files.get("/k/pki/apiserver.key")!.data).toBe(base["/k/pki/apiserver.key"]); // the key was not replaced
    expect(r.files.get("/k/pki/sa.pub")!.data).toBe(base["/k/pki/sa.pub"]);
  });

  it("a CA without its key is external-CA mode: leaves must exist and are kept", async () => {
    const { ["/k/pki/ca.key"]: _k, ...external } = base;
    const r = await init(config(), memoryStore(external));
    expect(r.out).toContain("[certs] Using existing ca keyless certificate authority");
    expect(r.out).toContain("[certs] Using existing sa keys");
    expect(r.out).toContain("[kubeconfig] External CA mode: Using user provided admin.conf");
    expect(r.writes).toEqual([]);
    const { ["/k/pki/apiserver.crt"]: _a, ["/k/pki/apiserver.key"]: _b, ...missingLeaf } = external;
    await expectRefused(missingLeaf, {}, /^invalid or incomplete external CA: API server certificate \/k\/pki\/apiserver\.crt is missing/);
  });

  it("external etcd skips the etcd CA and the four etcd-signed certificates", async () => {
    const cfg = config({}, { init: undefined, cluster: { etcd: { external: { endpoints: ["https://e:2379"] } } } });
    const r = await init(cfg, memoryStore(), { certs: allCertPhases() });
    expect(r.out.filter((l) => l.includes("External etcd"))).toEqual([
      "[certs] External etcd mode: Skipping etcd/ca certificate authority generation",
      "[certs] External etcd mode: Skipping etcd/server certificate generation",
      "[certs] External etcd mode: Skipping etcd/peer certificate generation",
      "[certs] External etcd mode: Skipping etcd/healthcheck-client certificate generation",
      "[certs] External etcd mode: Skipping apiserver-etcd-client certificate generation",
    ]);
    expect([...r.files.keys()].filter((p) => p.endsWith(".crt"))).toEqual([
      "/k/pki/ca.crt", "/k/pki/apiserver.crt", "/k/pki/apiserver-kubelet-client.crt", "/k/pki/front-proxy-ca.crt", "/k/pki/front-proxy-client.crt",
    ]);
  });

  it("a single leaf phase needs its CA on disk", async () => {
    const error = await init(config(), memoryStore(), { certs: ["apiserver"] }).catch((e: unknown) => e);
    expect((error as Error).message).toBe("failure loading ca certificate authority: couldn't load the certificate file /k/pki/ca.crt");
  });
});

describe("configuration reaches the certificates", () => {
  it("control-plane endpoint, extra SANs, service CIDR, DNS domain and IPv6 advertise address", async () => {
    const r = await init(config({
      controlPlaneEndpoint: "[fd00::10]:7443", certSans: ["api.example.com", "10.0.0.10", "*.apps.example.com", "api.example.com"],
      serviceCidr: "10.100.0.0/16,fd01::/108", dnsDomain: "corp.internal", advertiseAddress: "fd00::0:1", nodeName: "Node-1",
    }), memoryStore(), { certs: ["ca", "apiserver"], kubeconfigs: ["admin", "scheduler"] });
    expect(r.out[3]).toBe(
      "[certs] apiserver serving cert is signed for DNS names [*.apps.example.com api.example.com kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.corp.internal node-1] and IPs [10.100.0.1 fd00::1 fd00::10 10.0.0.10]",
    );
    expect((await readKubeconfig(r.files.get("/k/admin.conf")!.data, "a")).server).toBe("https://[fd00::10]:7443");
    expect((await readKubeconfig(r.files.get("/k/scheduler.conf")!.data, "s")).server).toBe("https://[fd00::1]:6443");
    expect(r.warnings).toEqual(["[endpoint] WARNING: port specified in controlPlaneEndpoint overrides bindPort in the controlplane address"]);
  });

  it("RSA-2048 by default, written as PKCS#1", async () => {
    const cfg = resolveClusterConfig(undefined, { certDir: "/k/pki", kubeconfigDir: "/k" }, host);
    expect(cfg.encryptionAlgorithm).toBe("RSA-2048");
    const r = await init(cfg, memoryStore(), { certs: ["ca", "front-proxy-ca", "front-proxy-client"] });
    expect(decodePem(r.files.get("/k/pki/front-proxy-client.key")!.data)[0]!.label).toBe("RSA PRIVATE KEY");
    const key = await parsePrivateKeyPem(r.files.get("/k/pki/front-proxy-client.key")!.data, crypto);
    expect(key.algorithm).toBe("RSA-2048");
    expect(cert(r.files, "/k/pki/front-proxy-client.crt").signatureAlgorithm).toBe("sha256WithRSAEncryption");
  });

  it("validity periods from the config", async () => {
    const cfg = config({}, { init: undefined, cluster: { certificateValidityPeriod: "720h", caCertificateValidityPeriod: "8760h0m0s" } });
    const r = await init(cfg, memoryStore(), { certs: ["ca", "apiserver"] });
    expect(cert(r.files, "/k/pki/ca.crt").notAfter.getTime()).toBe(T0.getTime() + 8760 * 3_600_000);
    expect(cert(r.files, "/k/pki/apiserver.crt").notAfter.getTime()).toBe(T0.getTime() + 720 * 3_600_000);
  });
});
