import { bytesToHex, children, decodeOne, readOid, readUnsigned, TAG, type Bytes, type DerNode } from "../pki/der.js";
import { EXTENSION_OIDS, EXTENSION_REQUEST_OID, readGeneralNames } from "../pki/extensions.js";
import { KEY_OIDS, NAMED_CURVES } from "../pki/keys.js";
import { decodePem } from "../pki/pem.js";
import type { SignatureVerifier } from "../pki/signature.js";

/**
 * A PKCS#10 request read the strict way, for an approver: everything a
 * parser differential could hide is exposed (each subject attribute, each
 * CSR attribute, each requested extension, PEM blocks) so the policy can refuse
 * anything ambiguous. Decoding is ours (strict DER), not a library's.
 */
export interface StrictRequest {
  readonly subjectAttributes: readonly { readonly oid: string; readonly value: string; readonly tag: number }[];
  /** Number of attributes in each RDN (a multi-valued RDN has more than one). */
  readonly rdnSizes: readonly number[];
  readonly attributeOids: readonly string[];
  readonly extensionOids: readonly string[];
  readonly dnsNames: readonly string[];
  readonly ips: readonly Bytes[];
  readonly emailAddresses: readonly string[];
  readonly uris: readonly string[];
  /** Other GeneralName kinds (otherName, directoryName, registeredID ...), by tag. */
  readonly otherNames: readonly number[];
  readonly key: { readonly type: "rsa"; readonly bits: number } | { readonly type: "ec"; readonly curve: string } | { readonly type: "ed25519" } | { readonly type: "other"; readonly oid: string };
  readonly signatureValid: boolean;
  readonly spkiHex: string;
}

export class RequestError extends Error {
  override name = "RequestError";
}

// The weak curves are named too, so a denial can say which one was asked for.
const CURVES: Readonly<Record<string, string>> = { ...NAMED_CURVES, "1.2.840.10045.3.1.1": "P-192", "1.3.132.0.33": "P-224" };

function keyOf(spki: DerNode): StrictRequest["key"] {
  const [algId, bits] = children(spki);
  if (!algId || !bits || bits.tag !== TAG.bitString) throw new RequestError("malformed SubjectPublicKeyInfo");
  const [oidNode, params] = children(algId);
  const oid = oidNode ? readOid(oidNode) : "";
  if (oid === KEY_OIDS.rsaEncryption) {
    const [n] = children(decodeOne(bits.content.subarray(1)));
    if (!n) throw new RequestError("malformed RSA public key");
    const mag = readUnsigned(n);
    let bitsLen = mag.length * 8;
    for (let b = mag[0] ?? 0; bitsLen > 0 && !(b & 0x80); b <<= 1) bitsLen--;
    return { type: "rsa", bits: bitsLen };
  }
  if (oid === KEY_OIDS.ecPublicKey) return { type: "ec", curve: params?.tag === TAG.oid ? (CURVES[readOid(params)] ?? readOid(params)) : "implicit" };
  if (oid === KEY_OIDS.ed25519) return { type: "ed25519" };
  return { type: "other", oid };
}

/** Parses the `spec.request` bytes (PEM text) of a CertificateSigningRequest strictly. */
export async function parseStrictRequest(pemText: string, verify: SignatureVerifier): Promise<StrictRequest> {
  let blocks;
  try {
    blocks = decodePem(pemText);
  } catch (error) {
    throw new RequestError((error as Error).message);
  }
  if (blocks.length !== 1) throw new RequestError(`expected exactly one PEM block, found ${blocks.length}`);
  const block = blocks[0]!;
  if (block.label !== "CERTIFICATE REQUEST") throw new RequestError(`PEM block is "${block.label}", not "CERTIFICATE REQUEST"`);
  const outside = pemText.replace(/-----BEGIN CERTIFICATE REQUEST-----[\s\S]*?-----END CERTIFICATE REQUEST-----/, "").trim();
  if (outside !== "") throw new RequestError("text outside the PEM block");
  try {
    const [info, sigAlg, sig] = children(decodeOne(block.der));
    if (!info || !sigAlg || !sig || sig.tag !== TAG.bitString) throw new RequestError("truncated request");
    const [version, subject, spki, attrs, ...rest] = children(info);
    if (!version || version.tag !== TAG.integer || bytesToHex(version.content) !== "00") throw new RequestError("unsupported request version");
    if (!subject || subject.tag !== TAG.sequence || !spki || spki.tag !== TAG.sequence || !attrs || attrs.tag !== 0xa0 || rest.length) {
      throw new RequestError("malformed CertificationRequestInfo");
    }
    const subjectAttributes: { oid: string; value: string; tag: number }[] = [];
    const rdnSizes: number[] = [];
    const text = new TextDecoder("utf-8", { fatal: true });
    for (const rdn of children(subject)) {
      if (rdn.tag !== TAG.set) throw new RequestError("malformed subject RDN");
      const atvs = children(rdn);
      rdnSizes.push(atvs.length);
      for (const atv of atvs) {
        const [type, value, ...more] = children(atv);
        if (!type || !value || more.length) throw new RequestError("malformed subject attribute");
        subjectAttributes.push({ oid: readOid(type), value: text.decode(value.content), tag: value.tag });
      }
    }
    const attributeOids: string[] = [];
    const extensionOids: string[] = [];
    const dnsNames: string[] = [];
    const ips: Bytes[] = [];
    const emailAddresses: string[] = [];
    const uris: string[] = [];
    const otherNames: number[] = [];
    for (const attr of children(attrs)) {
      const [type, values] = children(attr);
      if (!type || !values || values.tag !== TAG.set) throw new RequestError("malformed CSR attribute");
      const oid = readOid(type);
      attributeOids.push(oid);
      if (oid !== EXTENSION_REQUEST_OID) continue;
      const valueList = children(values);
      if (valueList.length !== 1) throw new RequestError("extensionRequest must hold exactly one value");
      for (const ext of children(valueList[0]!)) {
        const fields = children(ext);
        const extOid = fields[0] ? readOid(fields[0]) : "";
        extensionOids.push(extOid);
        const value = fields[fields.length - 1];
        if (!value || value.tag !== TAG.octetString) throw new RequestError(`extension ${extOid} has no value`);
        if (extOid !== EXTENSION_OIDS.subjectAltName) continue;
        const names = readGeneralNames(value.content, { fatal: true });
        if (names.badIpLengths.length) throw new RequestError(`IP SAN of ${names.badIpLengths[0]} bytes`);
        dnsNames.push(...names.dnsNames);
        ips.push(...names.ips);
        emailAddresses.push(...names.emailAddresses);
        uris.push(...names.uris);
        otherNames.push(...names.otherTags);
      }
    }
    const algOid = children(sigAlg)[0];
    if (!algOid) throw new RequestError("no signature algorithm");
    const signatureValid = await verify(readOid(algOid), spki.encoded, sig.content.subarray(1), info.encoded);
    return {
      subjectAttributes, rdnSizes, attributeOids, extensionOids, dnsNames, ips, emailAddresses, uris, otherNames,
      key: keyOf(spki), signatureValid, spkiHex: bytesToHex(spki.encoded),
    };
  } catch (error) {
    if (error instanceof RequestError) throw error;
    throw new RequestError(`not a valid PKCS#10 request: ${(error as Error).message}`);
  }
}
