// What kpki's strict reading of a spec.request and Go's reading (testdata/go-csr-twin) say, side by
// side. Used by test/approver/differential.test.ts and the `npm run fuzz` script, so it imports
// nothing from vitest.
import type { StrictRequest } from "../../src/approver/request.js";
import { bytesToHex } from "../../src/pki/der.js";
import type { GoCsrView, GoParseResult } from "./go-twin.js";

/** Go's x509.SignatureAlgorithm.String() for the OIDs kpki names (signatureAlgorithmDetails in crypto/x509). */
export const GO_SIGNATURE_NAMES: Readonly<Record<string, string>> = {
  "1.2.840.113549.1.1.4": "MD5-RSA", "1.2.840.113549.1.1.5": "SHA1-RSA", "1.3.14.3.2.29": "SHA1-RSA",
  "1.2.840.113549.1.1.11": "SHA256-RSA", "1.2.840.113549.1.1.12": "SHA384-RSA", "1.2.840.113549.1.1.13": "SHA512-RSA",
  "1.2.840.10045.4.1": "ECDSA-SHA1", "1.2.840.10045.4.3.2": "ECDSA-SHA256", "1.2.840.10045.4.3.3": "ECDSA-SHA384", "1.2.840.10045.4.3.4": "ECDSA-SHA512",
  "1.3.101.112": "Ed25519",
};

const big = (hex: string): bigint => BigInt(`0x${hex || "0"}`);
const hexOfText = (s: string): string => bytesToHex(new TextEncoder().encode(s));

/**
 * Every field both readers read that differs, as `field: kpki ≠ go` lines (empty when they agree).
 * URIs are compared by count: kpki never interprets one (any URI SAN is denied) and Go prints its
 * url.URL form. `derHex` is the DER both took out of the PEM.
 */
export function viewDifferences(k: StrictRequest, goDerHex: string, g: GoParseResult): string[] {
  const diffs: string[] = [];
  const same = (field: string, a: unknown, b: unknown): void => {
    const [ja, jb] = [JSON.stringify(a, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)), JSON.stringify(b, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))];
    if (ja !== jb) diffs.push(`${field}: kpki ${ja} ≠ go ${jb}`);
  };
  same("der", bytesToHex(k.der), goDerHex);
  same("rawTbs", bytesToHex(k.info), g.rawTbsHex);
  same("rawSpki", bytesToHex(k.spki), g.rawSpkiHex);
  same("rdnsError", "", g.rdnsError);
  same(
    "rdns",
    k.rdns.map((rdn) => rdn.map((a) => ({ oid: a.oid, tag: a.tag, raw: bytesToHex(a.raw), kind: "string", value: hexOfText(a.value) }))),
    g.rdns.map((rdn) => rdn.map((a) => ({ oid: a.oid, tag: (a.class << 6) | (a.compound ? 0x20 : 0) | a.tag, raw: a.rawHex, kind: a.kind, value: a.valueHex }))),
  );
  same("names", k.rdns.flat().map((a) => [a.oid, hexOfText(a.value)]), g.names.map((n) => [n.oid, n.kind === "string" ? n.valueHex : `(${n.kind})`]));
  const cns = k.rdns.flat().filter((a) => a.oid === "2.5.4.3");
  same("commonName", hexOfText(cns[cns.length - 1]?.value ?? ""), g.commonNameHex);
  same("organization", k.rdns.flat().filter((a) => a.oid === "2.5.4.10").map((a) => hexOfText(a.value)), g.organizationHex);
  same("extensions", k.extensions.map((e) => ({ oid: e.oid, critical: e.critical, value: bytesToHex(e.value) })), g.extensions.map((e) => ({ oid: e.oid, critical: e.critical, value: e.valueHex })));
  same("dnsNames", k.dnsNames, g.dnsNames);
  same("emails", k.emailAddresses, g.emails);
  same("uris (count)", k.uris.length, g.uris.length);
  same("ips", k.ips.map(bytesToHex), g.ipsHex);
  same("signature", bytesToHex(k.signature), g.signatureHex);
  const goSig = GO_SIGNATURE_NAMES[k.signatureAlgorithm];
  if (goSig) same("signatureAlgorithm", goSig, g.signatureAlgorithm);
  const key = k.key;
  const gk = g.publicKey;
  switch (key.type) {
    case "rsa":
      same("publicKey", { type: "rsa", n: big(bytesToHex(key.modulus)), e: key.exponent <= BigInt(Number.MAX_SAFE_INTEGER) ? key.exponent : "big" },
        gk.type === "rsa" ? { type: "rsa", n: big(gk.nHex), e: key.exponent <= BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(gk.e) : "big" } : gk);
      break;
    case "ec": {
      const size = (key.point.length - 1) / 2;
      same("publicKey", { type: "ecdsa", curve: key.curve, x: big(bytesToHex(key.point.subarray(1, 1 + size))), y: big(bytesToHex(key.point.subarray(1 + size))) },
        gk.type === "ecdsa" ? { type: "ecdsa", curve: gk.curve, x: big(gk.xHex), y: big(gk.yHex) } : gk);
      break;
    }
    case "ed25519":
      same("publicKey", { type: "ed25519", key: bytesToHex(key.key) }, gk.type === "ed25519" ? { type: "ed25519", key: gk.keyHex } : gk);
      break;
    case "invalid":
      diffs.push(`publicKey: kpki reads an invalid ${key.algorithm} key (${key.reason}) that Go parsed as ${gk.type}`);
      break;
    case "other":
      if (gk.type !== "none" && gk.type !== "dsa") diffs.push(`publicKey: kpki reads algorithm ${key.oid} as unknown, Go as ${gk.type}`);
      break;
  }
  return diffs;
}

/** A short account of Go's answer, for failure messages. */
export function describeGo(g: GoCsrView): string {
  if (g.stage === "ok") return `ok (CN ${JSON.stringify(g.view.commonName)}, DNS ${JSON.stringify(g.view.dnsNames)}, IPs ${JSON.stringify(g.view.ipsHex)}, checkSignature ${JSON.stringify(g.view.checkSignature)})`;
  return `${g.stage}: ${g.error}`;
}
