import { isOnCurve, pointForm, primeCurveByOid } from "../pki/curves.js";
import {
  bigIntToBytes, bitString, bytesEqual, bytesToHex, compareBytes, concat, context, DerError, nullValue, oid, sequence, setOf, TAG, tlv,
  unsignedInteger, type Bytes,
} from "../pki/der.js";
import {
  derErrorAt, DerReader, readOnly, strictBoolean, strictNull, strictOctetAlignedBits, strictOid, strictPositive, strictSmallInteger,
  tagName, type StrictNode,
} from "../pki/der-strict.js";
import { encodeExtension, EXTENSION_OIDS, EXTENSION_REQUEST_OID } from "../pki/extensions.js";
import { KEY_OIDS } from "../pki/keys.js";
import { PemError, readCanonicalPem } from "../pki/pem.js";
import { PkiError } from "../errors.js";

/**
 * A kubelet-serving request read the one way Go's crypto/x509 reads it, or refused.
 *
 * kube-apiserver and kube-controller-manager read `spec.request` with pem.Decode and
 * x509.ParseCertificateRequest. Go's encoding/asn1 is lenient where an approver must not
 * be: it skips elements after the last field of a SEQUENCE (so an Extension
 * `{ OID, OCTET STRING a, OCTET STRING b }` means `a`), ignores attributes that do not
 * parse, and reads only the first value of an extensionRequest. Rather than copy those
 * rules, this reader accepts only the canonical DER of the PKCS#10 schema (RFC 2986) and
 * refuses everything else: every tag, length, BOOLEAN, INTEGER and OID is checked, no
 * element may follow the last one the schema defines, and the bytes rebuilt from what was
 * read must equal the input. What is left has one reading, which is Go's.
 * test/approver/differential.test.ts checks that claim against the real Go parser.
 */

/** One subject attribute: its type, its string type (tag) and its text, decoded as Go decodes that type. */
export interface SubjectAttribute {
  readonly oid: string;
  readonly tag: number;
  readonly value: string;
  /** The value's content bytes, as written. */
  readonly raw: Bytes;
}

export interface RequestExtension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Bytes;
  /** Where the value's bytes start in the request (for error offsets). */
  readonly valueOffset: number;
}

/** A CSR attribute (RFC 2986 §4.1): its type and the encoding of each value. */
export interface RequestAttribute {
  readonly oid: string;
  readonly values: readonly Bytes[];
  /** For an extensionRequest: the extensions its one value holds. */
  readonly extensions?: readonly RequestExtension[];
}

/** The public key, taken apart; the policy decides what is acceptable. */
export type RequestKey =
  | { readonly type: "rsa"; readonly bits: number; readonly modulus: Bytes; readonly exponent: bigint }
  | { readonly type: "ec"; readonly curveOid: string; readonly curve: string | undefined; readonly point: Bytes; readonly form: "uncompressed" | "compressed" | "invalid"; readonly onCurve: boolean }
  | { readonly type: "ed25519"; readonly key: Bytes }
  /** A key of a known algorithm that Go would refuse, with why. */
  | { readonly type: "invalid"; readonly algorithm: string; readonly reason: string }
  | { readonly type: "other"; readonly oid: string };

export interface StrictRequest {
  readonly der: Bytes;
  /** The CertificationRequestInfo: what the signature covers. */
  readonly info: Bytes;
  /** The subject's RDNs in order, each with its attributes. */
  readonly rdns: readonly (readonly SubjectAttribute[])[];
  readonly attributes: readonly RequestAttribute[];
  /** The requested extensions, from every extensionRequest attribute, in order. */
  readonly extensions: readonly RequestExtension[];
  readonly dnsNames: readonly string[];
  /** As written: 4 or 16 bytes. */
  readonly ips: readonly Bytes[];
  readonly emailAddresses: readonly string[];
  readonly uris: readonly string[];
  /** Tags of the other GeneralName kinds (otherName, directoryName, registeredID, ...). */
  readonly otherNames: readonly number[];
  readonly spki: Bytes;
  readonly spkiHex: string;
  readonly key: RequestKey;
  readonly signatureAlgorithm: string;
  /** The signature AlgorithmIdentifier's parameters, as encoded (absent when there are none). */
  readonly signatureParams: Bytes | undefined;
  readonly signature: Bytes;
}

/** Raised for a request that is not the canonical encoding of the schema; the message names the offset. */
export class RequestError extends PkiError {
  override name = "RequestError";
  constructor(message: string) {
    super("invalid-input", message);
  }
}

// ---------------------------------------------------------------------------------------------
// Strings, as Go's encoding/asn1 decodes each type into a string (asn1.go parse*String).

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?*&]*$/; // Go's isPrintable, with the '*' and '&' it tolerates when parsing
// ignoreBOM keeps a leading U+FEFF as a character, as Go's string conversion does (TextDecoder drops it by default).
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const ascii = (bytes: Bytes): string => String.fromCharCode(...bytes);

/** The text of a subject attribute value; only the string types Go decodes, each the way Go decodes it. */
function directoryString(node: StrictNode): string {
  const c = node.content;
  const refuse = (why: string): never => {
    throw derErrorAt(node.offset, `a subject value ${why}`);
  };
  switch (node.tag) {
    case TAG.printableString: {
      const text = ascii(c);
      if (c.some((b) => b >= 0x80) || !PRINTABLE.test(text)) refuse("in PrintableString with a character outside its set");
      return text;
    }
    case TAG.utf8String:
      try {
        return utf8.decode(c);
      } catch {
        return refuse("in UTF8String that is not valid UTF-8");
      }
    case TAG.ia5String:
      if (c.some((b) => b >= 0x80)) refuse("in IA5String with a byte above 0x7f");
      return ascii(c);
    case 0x12: // NumericString
      if (c.some((b) => b !== 0x20 && (b < 0x30 || b > 0x39))) refuse("in NumericString with a character that is not a digit or space");
      return ascii(c);
    case 0x14: // T61String: Go keeps the bytes as they are; only ASCII reads the same in every decoding
      if (c.some((b) => b >= 0x80)) refuse("in T61String with a byte above 0x7f (no single decoding)");
      return ascii(c);
    case 0x1e: {
      // BMPString: Go strips a trailing 00 00 and turns unpaired surrogates into U+FFFD; neither is accepted here.
      if (c.length % 2) refuse("in BMPString of odd length");
      if (c.length >= 2 && c[c.length - 1] === 0 && c[c.length - 2] === 0) refuse("in BMPString ending in a 00 00 terminator");
      const units: number[] = [];
      for (let i = 0; i < c.length; i += 2) units.push((c[i]! << 8) | c[i + 1]!);
      for (let i = 0; i < units.length; i++) {
        const u = units[i]!;
        if (u >= 0xd800 && u <= 0xdbff && units[i + 1] !== undefined && units[i + 1]! >= 0xdc00 && units[i + 1]! <= 0xdfff) i++;
        else if (u >= 0xd800 && u <= 0xdfff) refuse("in BMPString with an unpaired surrogate");
      }
      return String.fromCharCode(...units);
    }
    default:
      return refuse(`of type ${tagName(node.tag)}, which is not a string type Go decodes`);
  }
}

/** IA5String content (rfc822Name, dNSName, URI): Go's isIA5String refuses anything above 0x7f. */
function ia5(node: StrictNode, what: string): string {
  if (node.content.some((b) => b >= 0x80)) throw derErrorAt(node.offset, `a ${what} with a byte above 0x7f (not IA5)`);
  return ascii(node.content);
}

// ---------------------------------------------------------------------------------------------
// The public key.

const bitLength = (magnitude: Bytes): number => {
  let bits = magnitude.length * 8;
  for (let b = magnitude[0] ?? 0; bits > 0 && !(b & 0x80); b <<= 1) bits--;
  return bits;
};
const toBigInt = (magnitude: Bytes): bigint => BigInt(`0x${bytesToHex(magnitude) || "0"}`);

/**
 * SEQUENCE { INTEGER, INTEGER }, both positive, minimal, and nothing else: an RSA public key
 * (RFC 8017 §A.1.1) or an ECDSA signature (RFC 5480 §2.2.3).
 */
function positivePair(bytes: Bytes, what: string, first: string, second: string): [Bytes, Bytes] {
  const r = DerReader.inside(readOnly(bytes, TAG.sequence, what), what);
  const a = strictPositive(r.read(TAG.integer, first), first);
  const b = strictPositive(r.read(TAG.integer, second), second);
  r.finish();
  return [a, b];
}

/** Reads the key inside a SubjectPublicKeyInfo whose structure is already checked. */
function readKey(algorithm: string, params: StrictNode | undefined, keyBits: Bytes): RequestKey {
  const invalid = (name: string, reason: string): RequestKey => ({ type: "invalid", algorithm: name, reason });
  switch (algorithm) {
    case KEY_OIDS.rsaEncryption: {
      // RFC 3279 §2.3.1: the parameters are NULL; Go's parsePublicKey requires them.
      if (!params || params.tag !== TAG.null || params.content.length) return invalid("RSA", "the key's parameters are not NULL");
      // Not canonical DER (Go's cryptobyte reads N and E and skips what follows): the request is refused.
      const [n, e] = positivePair(keyBits, "the RSA public key", "the modulus", "the public exponent");
      return { type: "rsa", bits: bitLength(n), modulus: n, exponent: toBigInt(e) };
    }
    case KEY_OIDS.ecPublicKey: {
      if (!params || params.tag !== TAG.oid) return invalid("ECDSA", "the key's parameters are not a named curve");
      const curveOid = strictOid(params); // a non-minimal curve OID is not canonical DER: the request is refused
      const curve = primeCurveByOid(curveOid);
      if (!curve) return { type: "ec", curveOid, curve: undefined, point: keyBits, form: "invalid", onCurve: false };
      const form = pointForm(curve, keyBits);
      return { type: "ec", curveOid, curve: curve.name, point: keyBits, form, onCurve: form === "uncompressed" && isOnCurve(curve, keyBits) };
    }
    case KEY_OIDS.ed25519:
      // RFC 8410 §3: the parameters are absent.
      if (params) return invalid("Ed25519", "the key has parameters, which RFC 8410 forbids");
      if (keyBits.length !== 32) return invalid("Ed25519", `an Ed25519 key of ${keyBits.length} bytes, not 32`);
      return { type: "ed25519", key: keyBits };
    default:
      return { type: "other", oid: algorithm };
  }
}

/** The canonical SubjectPublicKeyInfo for a key read by readKey; undefined when the input's bytes stand. */
function encodeKey(key: RequestKey): Bytes | undefined {
  switch (key.type) {
    case "rsa":
      return sequence(sequence(oid(KEY_OIDS.rsaEncryption), nullValue()), bitString(sequence(unsignedInteger(key.modulus), unsignedInteger(bigIntToBytes(key.exponent)))));
    case "ec":
      return sequence(sequence(oid(KEY_OIDS.ecPublicKey), oid(key.curveOid)), bitString(key.point));
    case "ed25519":
      return sequence(sequence(oid(KEY_OIDS.ed25519)), bitString(key.key));
    default:
      return undefined; // refused by the policy whatever its bytes
  }
}

// ---------------------------------------------------------------------------------------------
// The request.

/** Signature algorithms whose AlgorithmIdentifier carries NULL parameters (RFC 4055 §5); the rest we know carry none (RFC 5758 §3.2, RFC 8410 §3). */
const NULL_PARAM_SIGNATURES = new Set(["1.2.840.113549.1.1.4", "1.2.840.113549.1.1.5", "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13", "1.2.840.113549.1.1.14"]);
const NO_PARAM_SIGNATURES = new Set(["1.2.840.10045.4.1", "1.2.840.10045.4.3.1", "1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4", "1.3.101.112"]);

const GN = { otherName: 0xa0, rfc822Name: 0x81, dNSName: 0x82, x400Address: 0xa3, directoryName: 0xa4, ediPartyName: 0xa5, uri: 0x86, iPAddress: 0x87, registeredID: 0x88 } as const;
const OTHER_GENERAL_NAMES: ReadonlySet<number> = new Set([GN.otherName, GN.x400Address, GN.directoryName, GN.ediPartyName, GN.registeredID]);

function readAlgorithmIdentifier(node: StrictNode, what: string): { readonly oid: string; readonly params: StrictNode | undefined } {
  const r = DerReader.inside(node, what);
  const algorithm = strictOid(r.read(TAG.oid, `${what}'s algorithm`));
  const params = r.atEnd ? undefined : r.readAny(`${what}'s parameters`);
  r.finish();
  return { oid: algorithm, params };
}

function readSubject(node: StrictNode): SubjectAttribute[][] {
  const rdns: SubjectAttribute[][] = [];
  const r = DerReader.inside(node, "the subject");
  while (!r.atEnd) {
    const set = r.read(TAG.set, "a subject RDN");
    const rr = DerReader.inside(set, "a subject RDN");
    const rdn: SubjectAttribute[] = [];
    while (!rr.atEnd) {
      const atv = DerReader.inside(rr.read(TAG.sequence, "a subject attribute"), "a subject attribute");
      const type = strictOid(atv.read(TAG.oid, "the attribute type"));
      const value = atv.readAny("the attribute value");
      atv.finish();
      rdn.push({ oid: type, tag: value.tag, value: directoryString(value), raw: value.content });
    }
    if (!rdn.length) throw derErrorAt(set.offset, "an empty RDN");
    rdns.push(rdn);
  }
  return rdns;
}

function readExtensions(value: StrictNode): RequestExtension[] {
  const out: RequestExtension[] = [];
  const r = DerReader.inside(value, "the extensionRequest value");
  while (!r.atEnd) {
    const ext = DerReader.inside(r.read(TAG.sequence, "an Extension"), "an Extension");
    const extOid = strictOid(ext.read(TAG.oid, "the extension's OID"));
    const criticalNode = ext.optional(TAG.boolean, "the extension's critical flag");
    // DER omits a DEFAULT value (X.690 §11.5): critical is present only when TRUE.
    if (criticalNode && !strictBoolean(criticalNode)) throw derErrorAt(criticalNode.offset, "critical FALSE is written out (DER omits the default)");
    const octets = ext.read(TAG.octetString, "the extension's value");
    ext.finish();
    if (out.some((e) => e.oid === extOid)) throw derErrorAt(octets.offset, `the extension ${extOid} is requested twice`);
    out.push({ oid: extOid, critical: criticalNode !== undefined, value: octets.content, valueOffset: octets.contentOffset });
  }
  return out;
}

/** The GeneralNames of a subjectAltName value; `offset` is where the value's bytes start in the request. */
function readGeneralNames(value: Bytes, offset: number): StrictNode[] {
  const seq = new DerReader(value, "the subjectAltName value", offset);
  const r = DerReader.inside(seq.read(TAG.sequence, "the GeneralNames"), "the GeneralNames");
  if (!seq.atEnd) throw derErrorAt(seq.offset, "trailing data after the GeneralNames in the subjectAltName value");
  const names: StrictNode[] = [];
  while (!r.atEnd) {
    const gn = r.readAny("a GeneralName");
    const known = gn.tag === GN.dNSName || gn.tag === GN.iPAddress || gn.tag === GN.rfc822Name || gn.tag === GN.uri || OTHER_GENERAL_NAMES.has(gn.tag);
    if (!known) throw derErrorAt(gn.offset, `a GeneralName tagged ${tagName(gn.tag)}`);
    if (gn.tag === GN.iPAddress && gn.content.length !== 4 && gn.content.length !== 16) {
      throw derErrorAt(gn.offset, `an iPAddress of ${gn.content.length} bytes (4 or 16 are allowed)`);
    }
    names.push(gn);
  }
  return names;
}

/** Rebuilds the DER of what was read; the input is accepted only if it is byte for byte this. */
function encode(req: Omit<StrictRequest, "der" | "info" | "spkiHex">, spkiAsRead: Bytes): Bytes {
  const subject = sequence(...req.rdns.map((rdn) => setOf(rdn.map((a) => sequence(oid(a.oid), tlv(a.tag, a.raw))))));
  const attributes = req.attributes.map((a) => sequence(oid(a.oid), setOf(a.extensions ? [encodeExtensions(a.extensions)] : a.values)));
  const info = sequence(tlv(TAG.integer, Uint8Array.of(0)), subject, encodeKey(req.key) ?? spkiAsRead, context(0, concat(attributes.sort(compareBytes)), true));
  const algorithm = sequence(oid(req.signatureAlgorithm), ...(req.signatureParams ? [req.signatureParams] : []));
  return sequence(info, algorithm, bitString(req.signature));
}
const encodeExtensions = (exts: readonly RequestExtension[]): Bytes => sequence(...exts.map(encodeExtension));

/** Reads the DER of a PKCS#10 request strictly (see the module comment). */
export function readRequestDer(der: Bytes): StrictRequest {
  const top = readOnly(der, TAG.sequence, "the CertificationRequest");
  const outer = DerReader.inside(top, "the CertificationRequest");
  const infoNode = outer.read(TAG.sequence, "the CertificationRequestInfo");
  const sigAlg = readAlgorithmIdentifier(outer.read(TAG.sequence, "the signature algorithm"), "the signature algorithm");
  const signature = strictOctetAlignedBits(outer.read(TAG.bitString, "the signature"), "the signature");
  outer.finish();
  if (NULL_PARAM_SIGNATURES.has(sigAlg.oid)) {
    if (!sigAlg.params) throw derErrorAt(infoNode.offset + infoNode.encoded.length, `the signature algorithm ${sigAlg.oid} must carry NULL parameters`);
    strictNull(sigAlg.params);
  } else if (NO_PARAM_SIGNATURES.has(sigAlg.oid) && sigAlg.params) {
    throw derErrorAt(sigAlg.params.offset, `the signature algorithm ${sigAlg.oid} must have no parameters`);
  }

  const info = DerReader.inside(infoNode, "the CertificationRequestInfo");
  const versionNode = info.read(TAG.integer, "the version");
  if (strictSmallInteger(versionNode) !== 0) throw derErrorAt(versionNode.offset, "the version must be 0 (v1)");
  const rdns = readSubject(info.read(TAG.sequence, "the subject"));
  const spkiNode = info.read(TAG.sequence, "the SubjectPublicKeyInfo");
  const attrsNode = info.read(0xa0, "the attributes [0]");
  info.finish();

  const spkiReader = DerReader.inside(spkiNode, "the SubjectPublicKeyInfo");
  const keyAlg = readAlgorithmIdentifier(spkiReader.read(TAG.sequence, "the key algorithm"), "the key algorithm");
  const keyBits = strictOctetAlignedBits(spkiReader.read(TAG.bitString, "the public key"), "the public key");
  spkiReader.finish();
  const key = readKey(keyAlg.oid, keyAlg.params, keyBits);

  const attributes: RequestAttribute[] = [];
  const extensions: RequestExtension[] = [];
  const ar = DerReader.inside(attrsNode, "the attributes");
  while (!ar.atEnd) {
    const attrNode = ar.read(TAG.sequence, "an attribute");
    const attr = DerReader.inside(attrNode, "an attribute");
    const attrOid = strictOid(attr.read(TAG.oid, "the attribute type"));
    const valuesNode = attr.read(TAG.set, "the attribute values");
    attr.finish();
    const vr = DerReader.inside(valuesNode, "the attribute values");
    const values: StrictNode[] = [];
    while (!vr.atEnd) values.push(vr.readAny("an attribute value"));
    if (!values.length) throw derErrorAt(valuesNode.offset, `the attribute ${attrOid} has no value`);
    if (attrOid === EXTENSION_REQUEST_OID) {
      // Go reads only the first value of an extensionRequest; a second one would be unread.
      if (values.length !== 1) throw derErrorAt(valuesNode.offset, `the extensionRequest attribute has ${values.length} values; exactly one is allowed`);
      const value = values[0]!;
      if (value.tag !== TAG.sequence) throw derErrorAt(value.offset, `the extensionRequest value must be SEQUENCE, not ${tagName(value.tag)}`);
      const own = readExtensions(value);
      for (const ext of own) {
        // Go refuses a request that repeats an extension across its extensionRequest attributes.
        if (extensions.some((e) => e.oid === ext.oid)) throw derErrorAt(value.offset, `the extension ${ext.oid} is requested twice`);
        extensions.push(ext);
      }
      attributes.push({ oid: attrOid, values: [value.encoded], extensions: own });
    } else {
      attributes.push({ oid: attrOid, values: values.map((v) => v.encoded) });
    }
  }

  const san = extensions.find((e) => e.oid === EXTENSION_OIDS.subjectAltName);
  const gnNodes = san ? readGeneralNames(san.value, san.valueOffset) : [];
  const dnsNames: string[] = [];
  const ips: Bytes[] = [];
  const emailAddresses: string[] = [];
  const uris: string[] = [];
  const otherNames: number[] = [];
  for (const gn of gnNodes) {
    if (gn.tag === GN.dNSName) dnsNames.push(ia5(gn, "dNSName"));
    else if (gn.tag === GN.iPAddress) ips.push(gn.content);
    else if (gn.tag === GN.rfc822Name) emailAddresses.push(ia5(gn, "rfc822Name"));
    else if (gn.tag === GN.uri) uris.push(ia5(gn, "URI"));
    else otherNames.push(gn.tag);
  }

  const request = {
    rdns, attributes, extensions, dnsNames, ips, emailAddresses, uris, otherNames,
    spki: spkiNode.encoded, key, signatureAlgorithm: sigAlg.oid, signatureParams: sigAlg.params?.encoded, signature,
  };
  const rebuilt = encode(request, spkiNode.encoded);
  if (!bytesEqual(rebuilt, der)) {
    let at = 0;
    while (at < der.length && rebuilt[at] === der[at]) at++;
    throw new DerError(`at byte ${at}: not the canonical DER of the request (an unsorted SET OF, or a key not in its one encoding)`, at);
  }
  return { ...request, der, info: infoNode.encoded, spkiHex: bytesToHex(spkiNode.encoded) };
}

/** Reads `spec.request`: the PEM text bytes of exactly one CERTIFICATE REQUEST, strictly. */
export function readRequest(pemBytes: Bytes): StrictRequest {
  try {
    return readRequestDer(readCanonicalPem(pemBytes, "CERTIFICATE REQUEST"));
  } catch (error) {
    if (error instanceof DerError || error instanceof PemError) throw new RequestError(error.message);
    throw error;
  }
}

/** The INTEGER r and s of an ECDSA signature in strict DER, or undefined (Go's ecdsa.VerifyASN1 refuses the rest). */
export function strictEcdsaSignature(signature: Bytes): { readonly r: Bytes; readonly s: Bytes } | undefined {
  try {
    const [r, s] = positivePair(signature, "the ECDSA signature", "r", "s");
    return { r, s };
  } catch {
    return undefined;
  }
}
