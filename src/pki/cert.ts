import type { Bytes } from "./der.js";
import { bytesEqual, bytesToHex, children, decodeOne, readOid, TAG, type DerNode } from "./der.js";
import {
  authorityKeyIdentifierValue,
  basicConstraintsValue,
  EXT_KEY_USAGE_OIDS,
  EXTENSION_OIDS,
  extKeyUsageValue,
  KEY_USAGE_BITS,
  keyUsageValue,
  subjectAltNameValue,
  subjectKeyIdentifierValue,
  type ExtKeyUsage,
  type KeyUsage,
  type RawExtension,
} from "./extensions.js";
import { formatIp, normalizeIp } from "./ip.js";
import { signingAlgorithm, spkiOf, subjectPublicKeyBits, type KeyAlgorithm, type KeyPair } from "./keys.js";
import { encodeSubject, type Subject } from "./name.js";
import { decodePem, encodePem, PemError } from "./pem.js";
import { Extension, Name, X509Certificate, X509CertificateGenerator } from "./x509.js";

/** What to put into a certificate; everything else follows kubeadm's template (§1.4). */
export interface CertificateSpec {
  readonly subject: Subject;
  readonly serial: bigint;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa: boolean;
  readonly keyUsages: readonly KeyUsage[];
  readonly extKeyUsages: readonly ExtKeyUsage[];
  readonly dnsNames: readonly string[];
  /** 4-byte IPv4 or 16-byte IPv6 addresses, in order. */
  readonly ips: readonly Bytes[];
}

/** The signer of a certificate: a CA's parsed certificate and private key. */
export interface Issuer {
  readonly certificate: ParsedCertificate;
  readonly key: KeyPair;
}

/** A certificate with the facts kpki reads from it. */
export interface ParsedCertificate {
  readonly der: Bytes;
  readonly pem: string;
  readonly serialHex: string;
  readonly subject: Subject;
  readonly subjectDer: Bytes;
  readonly issuerDer: Bytes;
  readonly commonName: string;
  readonly organizations: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa: boolean;
  readonly keyUsages: readonly KeyUsage[];
  readonly extKeyUsages: readonly ExtKeyUsage[];
  /** OIDs of ExtKeyUsage purposes kpki has no name for. */
  readonly unknownExtKeyUsages: readonly string[];
  readonly dnsNames: readonly string[];
  readonly ips: readonly Bytes[];
  readonly emailAddresses: readonly string[];
  readonly uris: readonly string[];
  readonly subjectKeyId: Bytes | undefined;
  readonly authorityKeyId: Bytes | undefined;
  readonly spki: Bytes;
  /** The library object, for signature checks. */
  readonly x509: X509Certificate;
}

/** Raised when bytes are not a certificate kpki can read. */
export class CertificateError extends Error {
  override name = "CertificateError";
}

/**
 * Builds the extension list in the order Go's crypto/x509 writes it:
 * KeyUsage (critical), ExtKeyUsage, BasicConstraints (critical), SKI (CAs
 * only), AKI (when issued by another name), SubjectAltName (when non-empty).
 */
function templateExtensions(spec: CertificateSpec, ski: Bytes | undefined, aki: Bytes | undefined): RawExtension[] {
  const exts: RawExtension[] = [];
  if (spec.keyUsages.length) exts.push({ oid: EXTENSION_OIDS.keyUsage, critical: true, value: keyUsageValue(spec.keyUsages) });
  if (spec.extKeyUsages.length) {
    exts.push({ oid: EXTENSION_OIDS.extKeyUsage, critical: false, value: extKeyUsageValue(spec.extKeyUsages) });
  }
  exts.push({ oid: EXTENSION_OIDS.basicConstraints, critical: true, value: basicConstraintsValue(spec.isCa) });
  if (ski) exts.push({ oid: EXTENSION_OIDS.subjectKeyIdentifier, critical: false, value: subjectKeyIdentifierValue(ski) });
  if (aki) exts.push({ oid: EXTENSION_OIDS.authorityKeyIdentifier, critical: false, value: authorityKeyIdentifierValue(aki) });
  if (spec.dnsNames.length || spec.ips.length) {
    exts.push({ oid: EXTENSION_OIDS.subjectAltName, critical: false, value: subjectAltNameValue(spec.dnsNames, spec.ips) });
  }
  return exts;
}

/** SHA-1 of the subjectPublicKey bits: Go ≤1.24's SubjectKeyId, which kubeadm ≤1.34 writes on CA certs. */
export async function keyIdOf(publicKey: CryptoKey, crypto: Crypto): Promise<Bytes> {
  const bits = subjectPublicKeyBits(await spkiOf(publicKey, crypto));
  return new Uint8Array(await crypto.subtle.digest("SHA-1", bits));
}

/** Hex serial for @peculiar/x509 (which encodes it as a minimal positive INTEGER). */
function serialHex(serial: bigint): string {
  if (serial <= 0n) throw new RangeError("serial must be positive");
  const hex = serial.toString(16);
  return hex.length % 2 ? `0${hex}` : hex;
}

/**
 * Issues a certificate for `publicKey`. With no issuer it is self-signed (a
 * root CA); otherwise it is signed by the issuer's key with the issuer's
 * subject as the issuer name and the issuer's SKI as AKI.
 */
export async function createCertificate(
  spec: CertificateSpec,
  publicKey: CryptoKey,
  issuer: Issuer | { readonly selfSigned: KeyPair },
  crypto: Crypto,
): Promise<ParsedCertificate> {
  const subjectDer = encodeSubject(spec.subject);
  const selfSigned = "selfSigned" in issuer;
  const signer = selfSigned ? issuer.selfSigned : issuer.key;
  const issuerDer = selfSigned ? subjectDer : issuer.certificate.subjectDer;
  const ski = spec.isCa ? await keyIdOf(publicKey, crypto) : undefined;
  // Go sets AKI from the parent's SKI only when issuer and subject names differ.
  const aki = !selfSigned && !bytesEqual(issuerDer, subjectDer) ? issuer.certificate.subjectKeyId : undefined;
  const cert = await X509CertificateGenerator.create(
    {
      serialNumber: serialHex(spec.serial),
      subject: new Name(subjectDer),
      issuer: new Name(issuerDer),
      notBefore: spec.notBefore,
      notAfter: spec.notAfter,
      publicKey,
      signingKey: signer.privateKey,
      signingAlgorithm: signingAlgorithm(signer.algorithm),
      extensions: templateExtensions(spec, ski, aki).map((e) => new Extension(e.oid, e.critical, e.value)),
    },
    crypto,
  );
  return parseCertificateDer(new Uint8Array(cert.rawData));
}

/** A random serial uniform in [1, 2^63 - 1], as kubeadm's `rand.Int(MaxInt64-1) + 1`. */
export function randomSerial(crypto: Crypto): bigint {
  const max = (1n << 63n) - 2n; // values 0 .. MaxInt64-2, then +1
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    bytes[0] = (bytes[0] ?? 0) & 0x7f;
    const v = BigInt(`0x${bytesToHex(bytes)}`);
    if (v <= max) return v + 1n;
  }
}

function parseSan(value: Bytes): Pick<ParsedCertificate, "dnsNames" | "ips" | "emailAddresses" | "uris"> {
  const dnsNames: string[] = [];
  const ips: Bytes[] = [];
  const emailAddresses: string[] = [];
  const uris: string[] = [];
  const text = new TextDecoder();
  for (const gn of children(decodeOne(value))) {
    switch (gn.tag) {
      case 0x81:
        emailAddresses.push(text.decode(gn.content));
        break;
      case 0x82:
        dnsNames.push(text.decode(gn.content));
        break;
      case 0x86:
        uris.push(text.decode(gn.content));
        break;
      case 0x87:
        ips.push(normalizeIp(gn.content.slice()));
        break;
      default:
        break;
    }
  }
  return { dnsNames, ips, emailAddresses, uris };
}

function parseKeyUsage(value: Bytes): KeyUsage[] {
  const node = decodeOne(value);
  if (node.tag !== TAG.bitString) throw new CertificateError("malformed KeyUsage");
  const bytes = node.content.subarray(1);
  const out: KeyUsage[] = [];
  for (const [name, bit] of Object.entries(KEY_USAGE_BITS)) {
    if (((bytes[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1) out.push(name as KeyUsage);
  }
  return out;
}

function parseAttributes(name: DerNode): { commonName: string; organizations: string[] } {
  const text = new TextDecoder();
  let commonName = "";
  const organizations: string[] = [];
  for (const rdn of children(name)) {
    for (const atv of children(rdn)) {
      const [type, value] = children(atv);
      if (!type || !value) continue;
      const oid = readOid(type);
      if (oid === "2.5.4.3") commonName = text.decode(value.content);
      if (oid === "2.5.4.10") organizations.push(text.decode(value.content));
    }
  }
  return { commonName, organizations };
}

/** Parses one DER certificate. */
export function parseCertificateDer(der: Bytes): ParsedCertificate {
  let cert: X509Certificate;
  let tbs: DerNode[];
  try {
    const top = children(decodeOne(der));
    const tbsNode = top[0];
    if (!tbsNode || tbsNode.tag !== TAG.sequence) throw new Error("no TBSCertificate");
    tbs = children(tbsNode);
    cert = new X509Certificate(der);
  } catch (error) {
    throw new CertificateError(`not a valid X.509 certificate: ${(error as Error).message}`);
  }
  // TBSCertificate: [0] version, serial, signature, issuer, validity, subject, spki, ...
  const offset = tbs[0]?.tag === 0xa0 ? 1 : 0;
  const issuerNode = tbs[offset + 2];
  const subjectNode = tbs[offset + 4];
  const spkiNode = tbs[offset + 5];
  if (!issuerNode || !subjectNode || !spkiNode) throw new CertificateError("truncated TBSCertificate");
  const { commonName, organizations } = parseAttributes(subjectNode);

  let isCa = false;
  let keyUsages: KeyUsage[] = [];
  const extKeyUsages: ExtKeyUsage[] = [];
  const unknownExtKeyUsages: string[] = [];
  let san: ReturnType<typeof parseSan> = { dnsNames: [], ips: [], emailAddresses: [], uris: [] };
  let subjectKeyId: Bytes | undefined;
  let authorityKeyId: Bytes | undefined;
  for (const ext of cert.extensions) {
    const value = new Uint8Array(ext.value);
    switch (ext.type) {
      case EXTENSION_OIDS.basicConstraints: {
        const first = children(decodeOne(value))[0];
        isCa = first?.tag === TAG.boolean && first.content[0] !== 0;
        break;
      }
      case EXTENSION_OIDS.keyUsage:
        keyUsages = parseKeyUsage(value);
        break;
      case EXTENSION_OIDS.extKeyUsage:
        for (const node of children(decodeOne(value))) {
          const oid = readOid(node);
          const known = Object.entries(EXT_KEY_USAGE_OIDS).find(([, o]) => o === oid);
          if (known) extKeyUsages.push(known[0] as ExtKeyUsage);
          else unknownExtKeyUsages.push(oid);
        }
        break;
      case EXTENSION_OIDS.subjectAltName:
        san = parseSan(value);
        break;
      case EXTENSION_OIDS.subjectKeyIdentifier:
        subjectKeyId = decodeOne(value).content.slice();
        break;
      case EXTENSION_OIDS.authorityKeyIdentifier: {
        const keyId = children(decodeOne(value)).find((n) => n.tag === 0x80);
        authorityKeyId = keyId?.content.slice();
        break;
      }
      default:
        break;
    }
  }
  return {
    der,
    pem: encodePem("CERTIFICATE", der),
    serialHex: cert.serialNumber.toLowerCase(),
    subject: organizations.length ? { commonName, organizations } : { commonName },
    subjectDer: subjectNode.encoded.slice(),
    issuerDer: issuerNode.encoded.slice(),
    commonName,
    organizations,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    isCa,
    keyUsages,
    extKeyUsages,
    unknownExtKeyUsages,
    ...san,
    subjectKeyId,
    authorityKeyId,
    spki: spkiNode.encoded.slice(),
    x509: cert,
  };
}

/** All certificates in PEM text, in order (other blocks are skipped). */
export function parseCertificatesPem(text: string): ParsedCertificate[] {
  return decodePem(text)
    .filter((b) => b.label === "CERTIFICATE")
    .map((b) => parseCertificateDer(b.der));
}

/** The first certificate in PEM text, as kubeadm's TryLoadCertFromDisk reads a .crt file. */
export function parseCertificatePem(text: string): ParsedCertificate {
  const [first] = parseCertificatesPem(text);
  if (!first) throw new PemError("no CERTIFICATE block found");
  return first;
}

/** True when `cert` carries a valid signature by `issuer`'s key and names it as issuer. */
export async function isSignedBy(cert: ParsedCertificate, issuer: ParsedCertificate, crypto: Crypto): Promise<boolean> {
  if (!bytesEqual(cert.issuerDer, issuer.subjectDer)) return false;
  try {
    return await cert.x509.verify({ publicKey: issuer.x509.publicKey, signatureOnly: true }, crypto);
  } catch {
    return false;
  }
}

/** True when the private key belongs to the certificate's public key. */
export async function keyMatchesCertificate(cert: ParsedCertificate, key: KeyPair, crypto: Crypto): Promise<boolean> {
  return bytesEqual(await spkiOf(key.publicKey, crypto), cert.spki);
}

/** The IPs of a certificate as Go prints them. */
export const ipStrings = (cert: Pick<ParsedCertificate, "ips">): string[] => cert.ips.map(formatIp);

export type { KeyAlgorithm };
