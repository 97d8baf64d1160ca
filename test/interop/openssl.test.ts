import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { createCsr, parseCsrPem } from "../../src/pki/csr.js";
import { generateKeyPair, parsePrivateKeyPem, privateKeyToPem, KUBEADM_KEY_ALGORITHMS } from "../../src/pki/keys.js";
import { parseIp } from "../../src/pki/ip.js";
import { missingBinaries } from "../helpers/testenv.js";
import { crypto } from "../helpers/clock.js";

const run = promisify(execFile);
const skip = missingBinaries("openssl");
const work = mkdtempSync(join(tmpdir(), "kpki-openssl-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const openssl = async (...args: string[]) => (await run("openssl", args)).stdout;

describe.skipIf(skip)("openssl accepts what kpki writes", () => {
  const dir = join(work, "rsa");
  const ecDir = join(work, "ec");
  execFileSync(process.execPath, ["dist/bin/kpki.js", "init", "--dir", dir, "--node-name", "node1", "--apiserver-advertise-address", "192.0.2.10"]);
  execFileSync(process.execPath, ["dist/bin/kpki.js", "init", "--dir", ecDir, "--node-name", "node1",
    "--apiserver-advertise-address", "192.0.2.10", "--encryption-algorithm", "ECDSA-P384"]);

  const leaves = [
    ["apiserver", "ca"], ["apiserver-kubelet-client", "ca"], ["front-proxy-client", "front-proxy-ca"],
    ["etcd/server", "etcd/ca"], ["etcd/peer", "etcd/ca"], ["etcd/healthcheck-client", "etcd/ca"], ["apiserver-etcd-client", "etcd/ca"],
  ] as const;

  it.each(leaves)("openssl verify accepts %s (RSA-2048 and ECDSA-P384)", async (leaf, ca) => {
    for (const d of [dir, ecDir]) {
      const out = await openssl("verify", "-CAfile", join(d, "pki", `${ca}.crt`), join(d, "pki", `${leaf}.crt`));
      expect(out.trim()).toBe(`${join(d, "pki", `${leaf}.crt`)}: OK`);
      // The key on disk belongs to the certificate.
      const certPub = await openssl("x509", "-in", join(d, "pki", `${leaf}.crt`), "-noout", "-pubkey");
      const keyPub = await openssl("pkey", "-in", join(d, "pki", `${leaf}.key`), "-pubout");
      expect(keyPub).toBe(certPub);
    }
  });

  it("openssl x509 -text shows kubeadm's extensions on the API server certificate", async () => {
    const text = await openssl("x509", "-in", join(dir, "pki/apiserver.crt"), "-noout", "-text");
    expect(text).toMatch(/Signature Algorithm: sha256WithRSAEncryption/);
    expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/);
    expect(text).toMatch(/X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication\n/);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/);
    expect(text).toMatch(/X509v3 Authority Key Identifier: \n\s+([0-9A-F]{2}:){19}[0-9A-F]{2}\n/);
    expect(text).toContain(
      "DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, DNS:node1, IP Address:10.96.0.1, IP Address:192.0.2.10",
    );
    expect(text).toMatch(/Issuer: CN = kubernetes\n/);
    expect(text).toMatch(/Subject: CN = kube-apiserver\n/);
    const ca = await openssl("x509", "-in", join(dir, "pki/ca.crt"), "-noout", "-text");
    expect(ca).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment, Certificate Sign\n/);
    expect(ca).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:TRUE\n/);
    expect(ca).toMatch(/X509v3 Subject Key Identifier: \n/);
    expect(ca).not.toMatch(/Authority Key Identifier/);
    const ec = await openssl("x509", "-in", join(ecDir, "pki/apiserver.crt"), "-noout", "-text");
    expect(ec).toMatch(/Signature Algorithm: ecdsa-with-SHA384/);
    const client = await openssl("x509", "-in", join(dir, "pki/apiserver-kubelet-client.crt"), "-noout", "-subject");
    expect(client.trim()).toBe("subject=O = kubeadm:cluster-admins, CN = kube-apiserver-kubelet-client");
  });

  it("openssl reads kubeadm's key formats and sa.pub", async () => {
    expect(readFileSync(join(dir, "pki/ca.key"), "utf8")).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    expect(await openssl("rsa", "-in", join(dir, "pki/ca.key"), "-check", "-noout")).toContain("RSA key ok");
    expect(readFileSync(join(ecDir, "pki/ca.key"), "utf8")).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n/);
    await openssl("ec", "-in", join(ecDir, "pki/ca.key"), "-check", "-noout");
    const pub = await openssl("pkey", "-in", join(dir, "pki/sa.key"), "-pubout");
    expect(readFileSync(join(dir, "pki/sa.pub"), "utf8")).toBe(pub);
  });

  it.each([...KUBEADM_KEY_ALGORITHMS.filter((a) => a !== "RSA-4096" && a !== "RSA-3072"), "Ed25519" as const])(
    "openssl req -verify accepts a kpki %s CSR and sees its subject and SANs",
    async (algorithm) => {
      const key = await generateKeyPair(algorithm, crypto);
      const csr = await createCsr(
        { subject: { commonName: "system:node:n1", organizations: ["system:nodes"] }, dnsNames: ["n1"], ips: [parseIp("10.0.0.11")!] },
        key,
        crypto,
      );
      const file = join(work, `${algorithm}.csr`);
      writeFileSync(file, csr.pem);
      const { stderr, stdout } = await run("openssl", ["req", "-in", file, "-verify", "-noout", "-subject", "-text"]);
      expect(`${stdout}${stderr}`).toMatch(/verify OK|Certificate request self-signature verify OK/);
      expect(stdout).toContain("subject=O = system:nodes, CN = system:node:n1");
      expect(stdout).toContain("DNS:n1, IP Address:10.0.0.11");
      expect(csr.signatureValid).toBe(true);
    },
  );

  it("kpki reads openssl's CSRs and key formats: PKCS#8, SEC1 with EC PARAMETERS, PKCS#1, Ed25519", async () => {
    const cases: [string, string[]][] = [
      ["pkcs8-rsa", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]],
      ["sec1-params", ["ecparam", "-genkey", "-name", "prime256v1"]],
      ["pkcs8-ec384", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]],
      ["ed25519", ["genpkey", "-algorithm", "ED25519"]],
    ];
    const expected = { "pkcs8-rsa": "RSA-2048", "sec1-params": "ECDSA-P256", "pkcs8-ec384": "ECDSA-P384", ed25519: "Ed25519" } as Record<string, string>;
    for (const [name, args] of cases) {
      const keyFile = join(work, `${name}.key`);
      writeFileSync(keyFile, await openssl(...args));
      const key = await parsePrivateKeyPem(readFileSync(keyFile, "utf8"), crypto);
      expect(key.algorithm).toBe(expected[name]);
      // kpki's own serialisation of the same key is readable by openssl and has the same public key.
      const ours = join(work, `${name}.kpki.key`);
      writeFileSync(ours, await privateKeyToPem(key, crypto));
      expect(await openssl("pkey", "-in", ours, "-pubout")).toBe(await openssl("pkey", "-in", keyFile, "-pubout"));
      const csrFile = join(work, `${name}.csr`);
      await openssl("req", "-new", "-key", keyFile, "-subj", "/O=system:nodes/CN=system:node:n1", "-addext", "subjectAltName=DNS:n1,IP:10.0.0.11", "-out", csrFile);
      const csr = await parseCsrPem(readFileSync(csrFile, "utf8"), crypto);
      expect(csr.signatureValid).toBe(true);
      expect([csr.commonName, csr.organizations, csr.dnsNames]).toEqual(["system:node:n1", ["system:nodes"], ["n1"]]);
    }
    const rsa1 = join(work, "pkcs1.key");
    writeFileSync(rsa1, await openssl("pkey", "-in", join(work, "pkcs8-rsa.key"), "-traditional"));
    expect(readFileSync(rsa1, "utf8")).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    expect((await parsePrivateKeyPem(readFileSync(rsa1, "utf8"), crypto)).algorithm).toBe("RSA-2048");
  });

  it("a CSR whose signature was tampered with does not verify", async () => {
    const key = await generateKeyPair("ECDSA-P256", crypto);
    const csr = await createCsr({ subject: { commonName: "a" }, dnsNames: ["a"], ips: [] }, key, crypto);
    const der = csr.der.slice();
    der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0x01;
    const { parseCsrDer } = await import("../../src/pki/csr.js");
    expect((await parseCsrDer(der, crypto)).signatureValid).toBe(false);
    const file = join(work, "tampered.csr");
    const { encodePem } = await import("../../src/pki/pem.js");
    writeFileSync(file, encodePem("CERTIFICATE REQUEST", der));
    // openssl 3.0 exits 0 here but says so: "Certificate request self-signature did not match the contents" / "verify failure".
    const result = await run("openssl", ["req", "-in", file, "-verify", "-noout"]).catch((e: { stdout: string; stderr: string }) => e);
    expect(`${result.stdout}${result.stderr}`).not.toMatch(/verify OK/);
  });
});
