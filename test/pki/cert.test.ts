import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { createCertificate, isSignedBy, parseCertificateDer, parseCertificatePem, randomSerial, CertificateError } from "../../src/pki/cert.js";
import { generateKeyPair, KEY_ALGORITHMS } from "../../src/pki/keys.js";
import { parseIp } from "../../src/pki/ip.js";
import { crypto } from "../helpers/clock.js";

const spec = (isCa: boolean, notAfter = new Date(Date.UTC(2049, 11, 31, 23, 59, 59))) => ({
  subject: isCa ? { commonName: "test-ca" } : { commonName: "leaf", organizations: ["o1", "o2"] },
  serial: randomSerial(crypto),
  notBefore: new Date(Date.UTC(2026, 0, 1, 0, 0, 0)),
  notAfter,
  isCa,
  keyUsages: isCa ? (["digitalSignature", "keyEncipherment", "keyCertSign"] as const) : (["digitalSignature", "keyEncipherment"] as const),
  extKeyUsages: isCa ? [] : (["serverAuth", "clientAuth"] as const),
  dnsNames: isCa ? ["test-ca"] : ["leaf.example"],
  ips: isCa ? [] : [parseIp("192.0.2.1")!, parseIp("2001:db8::1")!],
});

describe("certificates, checked by an independent parser (@peculiar/x509)", () => {
  it.each(KEY_ALGORITHMS.filter((a) => a !== "RSA-4096" && a !== "RSA-3072"))("%s CA and leaf parse and verify the same in both", async (algorithm) => {
    const caKey = await generateKeyPair(algorithm, crypto);
    const ca = await createCertificate(spec(true), caKey.publicKey, { selfSigned: caKey }, crypto);
    const leafKey = await generateKeyPair("ECDSA-P256", crypto);
    const leaf = await createCertificate(spec(false, new Date(Date.UTC(2050, 0, 1))), leafKey.publicKey, { certificate: ca, key: caKey }, crypto);
    expect(await isSignedBy(leaf, ca, crypto)).toBe(true);
    expect(await isSignedBy(ca, ca, crypto)).toBe(true);
    expect(await isSignedBy(leaf, leaf, crypto)).toBe(false);

    const theirs = new x509.X509Certificate(leaf.der);
    const theirCa = new x509.X509Certificate(ca.der);
    expect(await theirs.verify({ publicKey: theirCa.publicKey, signatureOnly: true }, crypto)).toBe(true);
    expect(theirs.serialNumber.toLowerCase()).toBe(leaf.serialHex);
    expect(theirs.subject).toBe("O=o1+O=o2, CN=leaf");
    expect(theirs.issuer).toBe("CN=test-ca");
    expect(theirs.notBefore.toISOString()).toBe("2026-01-01T00:00:00.000Z");
    expect(theirs.notAfter.toISOString()).toBe("2050-01-01T00:00:00.000Z"); // GeneralizedTime from 2050
    expect(leaf.notAfter.toISOString()).toBe("2050-01-01T00:00:00.000Z");
    const san = theirs.getExtension(x509.SubjectAlternativeNameExtension)!;
    expect(san.names.items.map((n) => `${n.type}:${n.value}`)).toEqual(["dns:leaf.example", "ip:192.0.2.1", "ip:2001:db8::1"]);
    expect(theirs.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(theirCa.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(true);
  });

  it("refuses bytes that are not a certificate with a CertificateError", () => {
    expect(() => parseCertificateDer(Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01))).toThrow(CertificateError);
    expect(() => parseCertificateDer(new TextEncoder().encode("hello"))).toThrow(CertificateError);
    expect(() => parseCertificatePem("no pem")).toThrow(/no CERTIFICATE block/);
  });

  it("a flipped bit in the TBS breaks the signature", async () => {
    const key = await generateKeyPair("ECDSA-P256", crypto);
    const ca = await createCertificate(spec(true), key.publicKey, { selfSigned: key }, crypto);
    const der = ca.der.slice();
    const at = ca.pem.length > 0 ? der.indexOf(0x74) : 0; // a byte inside "test-ca"
    der[at] = 0x75;
    const tampered = parseCertificateDer(der);
    expect(await isSignedBy(tampered, ca, crypto)).toBe(false);
  });
});
