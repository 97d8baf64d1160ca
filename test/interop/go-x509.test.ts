import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";
import { allCertPhases, allKubeconfigPhases, runInit } from "../../src/kubeadm/init.js";
import { resolveClusterConfig } from "../../src/kubeadm/config.js";
import { readKubeconfig } from "../../src/kubeadm/kubeconfig.js";
import { ipStrings, parseCertificateDer, parseCertificatePem, type ParsedCertificate } from "../../src/pki/cert.js";
import { bytesToHex, children, decodeOne } from "../../src/pki/der.js";
import { encodePem } from "../../src/pki/pem.js";
import type { KeyAlgorithm } from "../../src/pki/keys.js";
import { memoryStore } from "../helpers/memory-store.js";
import { buildGoTool } from "../helpers/go-twin.js";
import { missingBinaries } from "../helpers/testenv.js";
import { T0, crypto } from "../helpers/clock.js";

const skip = missingBinaries("go");

interface TwinRequest {
  name: string; isCa: boolean; commonName: string; organizations: string[]; dnsNames: string[]; ips: string[];
  extKeyUsages: string[]; serial: string; notBefore: string; notAfter: string;
  publicKeyPem: string; signerKeyPem: string; parentCertPem: string;
}

/** Runs Go's crypto/x509 (testdata/go-x509-twin, built once per content) on the same template fields, keys, serials and dates. */
function goTwin(requests: TwinRequest[]): Promise<{ name: string; certPem: string; error?: string }[]> {
  const twin = buildGoTool("go-x509-twin");
  return new Promise((resolvePromise, reject) => {
    const child = execFile(twin, [], { maxBuffer: 64 << 20, timeout: 120_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolvePromise(JSON.parse(stdout) as { name: string; certPem: string }[]);
    });
    child.stdin?.end(JSON.stringify(requests));
  });
}

const tbs = (c: ParsedCertificate): string => bytesToHex(children(decodeOne(c.der))[0]!.encoded);

async function kpkiAndGo(algorithm: KeyAlgorithm) {
  const cfg = resolveClusterConfig(undefined, {
    certDir: "/k/pki", kubeconfigDir: "/k", encryptionAlgorithm: algorithm, advertiseAddress: "fd00::10",
    controlPlaneEndpoint: "cp.example.com:8443", certSans: ["*.apps.example.com", "192.0.2.7", "zeta.example", "alpha.example"],
  }, { hostname: "node-1", defaultAddress: undefined });
  const { store, files } = memoryStore();
  await runInit(cfg, { certs: allCertPhases(), kubeconfigs: allKubeconfigPhases() }, { crypto, store, now: T0, log: () => {}, warn: () => {} });
  const text = (p: string): string => files.get(p)!.data;
  const certs: { name: string; cert: ParsedCertificate; signerKey: string; parent?: string }[] = [
    { name: "ca", cert: parseCertificatePem(text("/k/pki/ca.crt")), signerKey: text("/k/pki/ca.key") },
    { name: "front-proxy-ca", cert: parseCertificatePem(text("/k/pki/front-proxy-ca.crt")), signerKey: text("/k/pki/front-proxy-ca.key") },
    { name: "etcd/ca", cert: parseCertificatePem(text("/k/pki/etcd/ca.crt")), signerKey: text("/k/pki/etcd/ca.key") },
  ];
  const leafCa: Record<string, string> = {
    apiserver: "ca", "apiserver-kubelet-client": "ca", "front-proxy-client": "front-proxy-ca", "etcd/server": "etcd/ca",
    "etcd/peer": "etcd/ca", "etcd/healthcheck-client": "etcd/ca", "apiserver-etcd-client": "etcd/ca",
  };
  for (const [leaf, ca] of Object.entries(leafCa)) {
    certs.push({ name: leaf, cert: parseCertificatePem(text(`/k/pki/${leaf}.crt`)), signerKey: text(`/k/pki/${ca}.key`), parent: text(`/k/pki/${ca}.crt`) });
  }
  for (const conf of ["admin", "super-admin", "kubelet", "controller-manager", "scheduler"]) {
    const view = await readKubeconfig(text(`/k/${conf}.conf`), conf);
    certs.push({ name: `${conf}.conf`, cert: parseCertificatePem(view.clientCertData!), signerKey: text("/k/pki/ca.key"), parent: text("/k/pki/ca.crt") });
  }
  const twins = await goTwin(certs.map(({ name, cert, signerKey, parent }) => ({
    name, isCa: cert.isCa, commonName: cert.commonName, organizations: [...cert.organizations], dnsNames: [...cert.dnsNames],
    ips: ipStrings(cert), extKeyUsages: [...cert.extKeyUsages], serial: BigInt(`0x${cert.serialHex}`).toString(),
    notBefore: cert.notBefore.toISOString().replace(".000", ""), notAfter: cert.notAfter.toISOString().replace(".000", ""),
    publicKeyPem: encodePem("PUBLIC KEY", cert.spki), signerKeyPem: signerKey, parentCertPem: parent ?? "",
  })));
  return certs.map((c, i) => ({ ...c, go: twins[i]! }));
}

describe.skipIf(skip)("kpki's certificates are the ones Go's crypto/x509 (kubeadm's library) makes from the same template", () => {
  it("RSA-2048: all 15 certificates are byte-identical, signatures included (PKCS#1 v1.5 is deterministic)", async () => {
    const pairs = await kpkiAndGo("RSA-2048");
    expect(pairs).toHaveLength(15);
    for (const { name, cert, go } of pairs) {
      expect(go.error, name).toBeUndefined();
      expect(bytesToHex(parseCertificatePem(go.certPem).der), name).toBe(bytesToHex(cert.der));
      expect(go.certPem, name).toBe(cert.pem);
    }
  });

  it("ECDSA-P256: every TBSCertificate is byte-identical (ECDSA signatures are randomised)", async () => {
    for (const { name, cert, go } of await kpkiAndGo("ECDSA-P256")) {
      expect(go.error, name).toBeUndefined();
      expect(tbs(parseCertificateDer(parseCertificatePem(go.certPem).der)), name).toBe(tbs(cert));
    }
  });
});
