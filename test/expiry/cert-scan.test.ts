import { describe, expect, it } from "vitest";
import { createCertificate, parseCertificateDer, type ParsedCertificate } from "../../src/pki/cert.js";
import { scanCertificate, type CertificateScan } from "../../src/pki/cert-scan.js";
import { bytesToHex, readOid, type Bytes } from "../../src/pki/der.js";
import { generateKeyPair } from "../../src/pki/keys.js";
import { formatName } from "../../src/pki/name.js";
import { crypto, T0 } from "../helpers/clock.js";

const DAY = 86_400_000;
const ca = await generateKeyPair("RSA-2048", crypto);
const caCert = await createCertificate(
  { subject: { commonName: "scan-ca", organizations: ["b-org", "a-org"] }, serial: 1n, notBefore: T0, notAfter: new Date(T0.getTime() + 3650 * DAY), isCa: true,
    keyUsages: ["digitalSignature", "keyEncipherment", "keyCertSign"], extKeyUsages: [], dnsNames: [], ips: [] },
  ca.publicKey, { selfSigned: ca }, crypto);
const leafKey = await generateKeyPair("ECDSA-P256", crypto);
const leaf = await createCertificate(
  { subject: { commonName: "lé-serveur" }, serial: 0x00ff_ffff_ffffn, notBefore: T0, notAfter: new Date(Date.UTC(2051, 0, 2, 3, 4, 5)), isCa: false,
    keyUsages: ["digitalSignature"], extKeyUsages: ["serverAuth", "clientAuth"], dnsNames: ["a.example", "b.example"], ips: [Uint8Array.of(10, 0, 0, 1)] },
  leafKey.publicKey, { certificate: caCert, key: ca }, crypto);
const edKey = await generateKeyPair("Ed25519", crypto);
const ed = await createCertificate(
  { subject: { commonName: "" }, serial: 7n, notBefore: new Date(Date.UTC(1999, 11, 31, 23, 59, 59)), notAfter: T0, isCa: false,
    keyUsages: [], extKeyUsages: [], dnsNames: [], ips: [] },
  edKey.publicKey, { certificate: caCert, key: ca }, crypto);

const range = (s: CertificateScan, a: number, b: number): string => (a < 0 ? "-" : bytesToHex(s.der.subarray(a, b)));

/** The facts both readers give, as comparable text. */
function fromScan(s: CertificateScan): Record<string, unknown> {
  return {
    serialHex: s.serialHex, subject: s.subject, issuer: s.issuer, notBefore: s.notBefore, notAfter: s.notAfter, isCa: s.isCa,
    ski: range(s, s.skiStart, s.skiEnd), aki: range(s, s.akiStart, s.akiEnd), spki: range(s, s.spkiStart, s.spkiEnd),
    subjectDer: range(s, s.subjectStart, s.subjectEnd), issuerDer: range(s, s.issuerStart, s.issuerEnd),
    tbs: range(s, s.tbsStart, s.tbsEnd), signature: range(s, s.signatureStart, s.signatureEnd),
    sigOid: readOid({ tag: 6, constructed: false, content: s.der.subarray(s.sigOidStart, s.sigOidEnd), encoded: s.der }),
  };
}
function fromParsed(c: ParsedCertificate): Record<string, unknown> {
  return {
    serialHex: c.serialHex, subject: formatName({ commonName: c.commonName, organizations: c.organizations }),
    issuer: formatName({ commonName: c.issuer.commonName, organizations: c.issuer.organizations ?? [] }),
    notBefore: c.notBefore.getTime(), notAfter: c.notAfter.getTime(), isCa: c.isCa,
    ski: c.subjectKeyId ? bytesToHex(c.subjectKeyId) : "-", aki: c.authorityKeyId ? bytesToHex(c.authorityKeyId) : "-", spki: bytesToHex(c.spki),
    subjectDer: bytesToHex(c.subjectDer), issuerDer: bytesToHex(c.issuerDer), tbs: bytesToHex(c.tbsDer), signature: bytesToHex(c.signature), sigOid: c.signatureOid,
  };
}

/** Both readers agree: the same bytes are refused, and the same facts come out of the rest. */
function agree(der: Bytes): boolean {
  let parsed: ParsedCertificate | undefined;
  try {
    parsed = parseCertificateDer(der);
  } catch {
    parsed = undefined;
  }
  const scanned = scanCertificate(der);
  expect(scanned === undefined, `${bytesToHex(der)}: parseCertificateDer ${parsed ? "accepts" : "refuses"} it`).toBe(parsed === undefined);
  if (parsed && scanned) expect(fromScan(scanned)).toEqual(fromParsed(parsed));
  return parsed !== undefined;
}

describe("scanCertificate reads what parseCertificateDer reads", () => {
  it.each([["RSA CA", caCert.der], ["ECDSA leaf with SANs, UTF-8 CN, GeneralizedTime", leaf.der], ["Ed25519, empty CN, 1999", ed.der]])("%s: the same facts", (_, der) => {
    expect(agree(der)).toBe(true);
  });

  it("every one-byte change, truncation and extension of three certificates: refused by both or read alike by both", () => {
    let accepted = 0;
    let refused = 0;
    for (const der of [caCert.der, leaf.der, ed.der]) {
      for (let i = 0; i < der.length; i++) {
        for (const change of [(x: number) => x ^ 0x01, (x: number) => x ^ 0x80, (x: number) => x ^ 0x20, () => 0x00, () => 0xff, (x: number) => x + 1]) {
          const m = der.slice();
          m[i] = change(m[i]!) & 0xff;
          if (agree(m)) accepted++;
          else refused++;
        }
        agree(der.slice(0, i));
      }
      agree(Uint8Array.from([...der, 0]));
    }
    // Both outcomes occur: the comparison is not vacuous.
    expect(accepted).toBeGreaterThan(1000);
    expect(refused).toBeGreaterThan(1000);
  });
});
