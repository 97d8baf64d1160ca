import type { Bytes } from "./der.js";
import {
  bitString,
  bytesEqual,
  bytesToHex,
  children,
  context,
  decodeOne,
  readOid,
  readTime,
  sequence,
  TAG,
  time,
  unsignedInteger,
  type DerNode,
} from "./der.js";
import {
  authorityKeyIdentifierValue,
  basicConstraintsValue,
  encodeExtension,
  EXT_KEY_USAGE_OIDS,
  EXTENSION_OIDS,
  extKeyUsageValue,
  KEY_USAGE_BITS,
  keyUsageValue,
  readGeneralNames,
  subjectAltNameValue,
  subjectKeyIdentifierValue,
  type ExtKeyUsage,
  type KeyUsage,
  type RawExtension,
} from "./extensions.js";
import { formatIp } from "./ip.js";
import { spkiOf, subjectPublicKeyBits, type KeyAlgorithm, type KeyPair } from "./keys.js";
import { encodeSubject, readName, type Subject } from "./name.js";
import { decodePem, encodePem, PemError } from "./pem.js";
import { algorithmIdentifier, sign, signatureOidFor, SIGNATURE_ALGORITHMS, verify, type VerifyKeyCache } from "./signature.js";
import { PkiError } from "../errors.js";

/** What to put into a certificate; everything else follows kubeadm's template (cmd/kubeadm/app/util/pkiutil/pki_helpers.go). */
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
  /** The issuer's CN and O. */
  readonly issuer: Subject;
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
  /** The signed TBSCertificate, the signature algorithm OID and the signature bits. */
  readonly tbsDer: Bytes;
  readonly signatureOid: string;
  /** The signature algorithm's name as openssl prints it, e.g. sha256WithRSAEncryption. */
  readonly signatureAlgorithm: string;
  readonly signature: Bytes;
}

/** Raised when bytes are not a certificate kpki can read. */
export class CertificateError extends PkiError {
  override name = "CertificateError";
  constructor(message: string) {
    super("invalid-input", message);
  }
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

/**
 * Issues a certificate for `publicKey`. With no issuer it is self-signed (a
 * root CA); otherwise it is signed by the issuer's key with the issuer's
 * subject as the issuer name and the issuer's SKI as AKI. The TBSCertificate is
 * assembled here, field by field, as Go's x509.CreateCertificate writes it.
 */
export async function createCertificate(
  spec: CertificateSpec,
  publicKey: CryptoKey,
  issuer: Issuer | { readonly selfSigned: KeyPair },
  crypto: Crypto,
): Promise<ParsedCertificate> {
  if (spec.serial <= 0n) throw new RangeError("serial must be positive");
  const subjectDer = encodeSubject(spec.subject);
  const selfSigned = "selfSigned" in issuer;
  const signer = selfSigned ? issuer.selfSigned : issuer.key;
  const issuerDer = selfSigned ? subjectDer : issuer.certificate.subjectDer;
  const ski = spec.isCa ? await keyIdOf(publicKey, crypto) : undefined;
  // Go sets AKI from the parent's SKI only when issuer and subject names differ.
  const aki = !selfSigned && !bytesEqual(issuerDer, subjectDer) ? issuer.certificate.subjectKeyId : undefined;
  const sigOid = signatureOidFor(signer.algorithm);
  const sigAlg = algorithmIdentifier(sigOid);
  const hex = spec.serial.toString(16);
  const tbs = sequence(
    context(0, unsignedInteger(Uint8Array.of(2)), true), // v3
    unsignedInteger(Uint8Array.from((hex.length % 2 ? `0${hex}` : hex).match(/../g) ?? [], (h) => parseInt(h, 16))),
    sigAlg,
    issuerDer,
    sequence(time(spec.notBefore), time(spec.notAfter)),
    subjectDer,
    await spkiOf(publicKey, crypto),
    context(3, sequence(...templateExtensions(spec, ski, aki).map(encodeExtension)), true),
  );
  const signature = await sign(sigOid, signer.privateKey, tbs, crypto);
  return parseCertificateDer(sequence(tbs, sigAlg, bitString(signature)));
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
  const { dnsNames, ips, emailAddresses, uris } = readGeneralNames(value);
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

const fail = (message: string): never => {
  throw new CertificateError(`not a valid X.509 certificate: ${message}`);
};

/** Parses one DER certificate (strict DER; unknown extensions are kept out of the facts, not refused). */
export function parseCertificateDer(der: Bytes): ParsedCertificate {
  let top: DerNode[];
  let tbs: DerNode[];
  try {
    top = children(decodeOne(der));
    tbs = top[0]?.tag === TAG.sequence ? children(top[0]) : [];
  } catch (error) {
    return fail((error as Error).message);
  }
  const [tbsNode, sigAlgNode, sigNode] = top;
  if (!tbsNode || !sigAlgNode || !sigNode || sigNode.tag !== TAG.bitString || tbs.length < 6) return fail("truncated certificate");
  // TBSCertificate: [0] version, serial, signature, issuer, validity, subject, spki, [1] [2] unique ids, [3] extensions
  const offset = tbs[0]?.tag === 0xa0 ? 1 : 0;
  const [serialNode, , issuerNode, validityNode, subjectNode, spkiNode] = tbs.slice(offset);
  if (!serialNode || serialNode.tag !== TAG.integer || !issuerNode || !validityNode || !subjectNode || !spkiNode) {
    return fail("truncated TBSCertificate");
  }
  let notBefore: Date;
  let notAfter: Date;
  let commonName: string;
  let organizations: string[];
  let signatureOid: string;
  let issuerName: { commonName: string; organizations: string[] };
  try {
    const [nb, na] = children(validityNode);
    if (!nb || !na) return fail("incomplete validity");
    notBefore = readTime(nb);
    notAfter = readTime(na);
    ({ commonName, organizations } = readName(subjectNode));
    issuerName = readName(issuerNode);
    const algOid = children(sigAlgNode)[0];
    if (!algOid) return fail("no signature algorithm");
    signatureOid = readOid(algOid);
  } catch (error) {
    return fail((error as Error).message);
  }

  let isCa = false;
  let keyUsages: KeyUsage[] = [];
  const extKeyUsages: ExtKeyUsage[] = [];
  const unknownExtKeyUsages: string[] = [];
  let san: ReturnType<typeof parseSan> = { dnsNames: [], ips: [], emailAddresses: [], uris: [] };
  let subjectKeyId: Bytes | undefined;
  let authorityKeyId: Bytes | undefined;
  const extsNode = tbs.find((n) => n.tag === 0xa3);
  try {
    const exts = extsNode ? children(children(extsNode)[0] ?? fail("empty extensions")) : [];
    for (const ext of exts) {
      const fields = children(ext);
      const type = fields[0] ? readOid(fields[0]) : "";
      const valueNode = fields[fields.length - 1];
      if (!valueNode || valueNode.tag !== TAG.octetString) return fail(`extension ${type} has no value`);
      const value = valueNode.content;
      switch (type) {
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
            const o = readOid(node);
            const known = Object.entries(EXT_KEY_USAGE_OIDS).find(([, v]) => v === o);
            if (known) extKeyUsages.push(known[0] as ExtKeyUsage);
            else unknownExtKeyUsages.push(o);
          }
          break;
        case EXTENSION_OIDS.subjectAltName:
          san = parseSan(value);
          break;
        case EXTENSION_OIDS.subjectKeyIdentifier:
          subjectKeyId = decodeOne(value).content.slice();
          break;
        case EXTENSION_OIDS.authorityKeyIdentifier:
          authorityKeyId = children(decodeOne(value)).find((n) => n.tag === 0x80)?.content.slice();
          break;
        default:
          break;
      }
    }
  } catch (error) {
    if (error instanceof CertificateError) throw error;
    return fail(`malformed extension: ${(error as Error).message}`);
  }
  const magnitude = serialNode.content;
  return {
    der,
    // Encoded on first use: a scan of thousands of files never needs it.
    get pem(): string {
      return encodePem("CERTIFICATE", der);
    },
    serialHex: bytesToHex(magnitude[0] === 0 && magnitude.length > 1 ? magnitude.subarray(1) : magnitude),
    subject: organizations.length ? { commonName, organizations } : { commonName },
    subjectDer: subjectNode.encoded.slice(),
    issuerDer: issuerNode.encoded.slice(),
    issuer: issuerName.organizations.length ? issuerName : { commonName: issuerName.commonName },
    commonName,
    organizations,
    notBefore,
    notAfter,
    isCa,
    keyUsages,
    extKeyUsages,
    unknownExtKeyUsages,
    ...san,
    subjectKeyId,
    authorityKeyId,
    spki: spkiNode.encoded.slice(),
    tbsDer: tbsNode.encoded.slice(),
    signatureOid,
    signatureAlgorithm: SIGNATURE_ALGORITHMS[signatureOid as keyof typeof SIGNATURE_ALGORITHMS]?.name ?? signatureOid,
    signature: sigNode.content.slice(1),
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

/**
 * True when `cert` carries a valid signature by `issuer`'s key and names it as
 * issuer. Pass a cache when checking many certificates against a few issuers.
 */
export async function isSignedBy(cert: ParsedCertificate, issuer: ParsedCertificate, crypto: Crypto, cache?: VerifyKeyCache): Promise<boolean> {
  if (!bytesEqual(cert.issuerDer, issuer.subjectDer)) return false;
  return verify(cert.signatureOid, issuer.spki, cert.signature, cert.tbsDer, crypto, cache);
}

/** True when the private key belongs to the certificate's public key. */
export async function keyMatchesCertificate(cert: ParsedCertificate, key: KeyPair, crypto: Crypto): Promise<boolean> {
  return bytesEqual(await spkiOf(key.publicKey, crypto), cert.spki);
}

/** The IPs of a certificate as Go prints them. */
export const ipStrings = (cert: Pick<ParsedCertificate, "ips">): string[] => cert.ips.map(formatIp);

export type { KeyAlgorithm };
