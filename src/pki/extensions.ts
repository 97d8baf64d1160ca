import type { Bytes } from "./der.js";
import { bitString, boolean, children, context, decodeOne, octetString, oid, sequence } from "./der.js";
import { normalizeIp } from "./ip.js";

/**
 * Extension values with the exact bytes Go's crypto/x509 writes (crypto/x509/x509.go
 * marshalKeyUsage, marshalBasicConstraints, marshalSANs): KeyUsage as a minimal named BIT STRING, empty
 * BasicConstraints for leaves, DNS SANs before IP SANs.
 */

export const EXTENSION_OIDS = {
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
} as const;

/** PKCS #9 extensionRequest: the CSR attribute that carries the requested extensions. */
export const EXTENSION_REQUEST_OID = "1.2.840.113549.1.9.14";

/** KeyUsage bits by RFC 5280 position. */
export const KEY_USAGE_BITS = {
  digitalSignature: 0,
  contentCommitment: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
} as const;
export type KeyUsage = keyof typeof KEY_USAGE_BITS;

/** ExtKeyUsage purposes kpki issues, with their OIDs. */
export const EXT_KEY_USAGE_OIDS = {
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  codeSigning: "1.3.6.1.5.5.7.3.3",
  emailProtection: "1.3.6.1.5.5.7.3.4",
} as const;
export type ExtKeyUsage = keyof typeof EXT_KEY_USAGE_OIDS;

/** One certificate extension: OID, criticality and DER value. */
export interface RawExtension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Bytes;
}

/** The Extension SEQUENCE (criticality omitted when false, as DER requires). */
export const encodeExtension = (ext: RawExtension): Bytes =>
  sequence(oid(ext.oid), ...(ext.critical ? [boolean(true)] : []), octetString(ext.value));

/** KeyUsage BIT STRING: trailing zero bits dropped, unused-bit count set (Go asn1 BitString). */
export function keyUsageValue(usages: readonly KeyUsage[]): Bytes {
  let bits = 0;
  let highest = -1;
  for (const u of usages) {
    const b = KEY_USAGE_BITS[u];
    bits |= 1 << (15 - b);
    highest = Math.max(highest, b);
  }
  if (highest < 0) return bitString(new Uint8Array(0), 0);
  const length = highest < 8 ? 1 : 2;
  const bytes = length === 1 ? Uint8Array.of(bits >> 8) : Uint8Array.of(bits >> 8, bits & 0xff);
  return bitString(bytes, length * 8 - 1 - highest);
}

export const extKeyUsageValue = (usages: readonly ExtKeyUsage[]): Bytes =>
  sequence(...usages.map((u) => oid(EXT_KEY_USAGE_OIDS[u])));

/** BasicConstraints: `30 03 01 01 FF` for a CA, `30 00` for a leaf; no path length. */
export const basicConstraintsValue = (isCa: boolean): Bytes => (isCa ? sequence(boolean(true)) : sequence());

export const subjectKeyIdentifierValue = (keyId: Bytes): Bytes => octetString(keyId);

/** AuthorityKeyIdentifier with only keyIdentifier [0], as Go writes it. */
export const authorityKeyIdentifierValue = (keyId: Bytes): Bytes => sequence(context(0, keyId, false));

const ascii = new TextEncoder();

/** SubjectAltName: dNSName [2] entries first, then iPAddress [7] (Go marshalSANs order). */
export function subjectAltNameValue(dnsNames: readonly string[], ips: readonly Bytes[]): Bytes {
  return sequence(
    ...dnsNames.map((d) => context(2, ascii.encode(d), false)),
    ...ips.map((ip) => context(7, ip, false)),
  );
}


/** The names in a SubjectAltName value, by kind; the inverse of subjectAltNameValue. */
export interface GeneralNames {
  readonly dnsNames: string[];
  /** Normalised (IPv4-mapped IPv6 as 4 bytes). */
  readonly ips: Bytes[];
  readonly emailAddresses: string[];
  readonly uris: string[];
  /** Tags of the other GeneralName kinds (otherName, directoryName, registeredID, ...). */
  readonly otherTags: number[];
  /** Lengths of iPAddress entries that are neither 4 nor 16 bytes (they are in `ips` unchanged). */
  readonly badIpLengths: number[];
}

/** Decodes a SubjectAltName extension value. `fatal` refuses text that is not valid UTF-8. */
export function readGeneralNames(value: Bytes, { fatal = false }: { fatal?: boolean } = {}): GeneralNames {
  const text = new TextDecoder("utf-8", { fatal });
  const out: GeneralNames = { dnsNames: [], ips: [], emailAddresses: [], uris: [], otherTags: [], badIpLengths: [] };
  for (const gn of children(decodeOne(value))) {
    if (gn.tag === 0x82) out.dnsNames.push(text.decode(gn.content));
    else if (gn.tag === 0x87) {
      if (gn.content.length !== 4 && gn.content.length !== 16) out.badIpLengths.push(gn.content.length);
      out.ips.push(normalizeIp(gn.content.slice()));
    } else if (gn.tag === 0x81) out.emailAddresses.push(text.decode(gn.content));
    else if (gn.tag === 0x86) out.uris.push(text.decode(gn.content));
    else out.otherTags.push(gn.tag);
  }
  return out;
}
