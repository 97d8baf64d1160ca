// Hand-built PKCS#10 requests for the approver's differential tests: every element can be
// replaced, so a test can write what no well-behaved library writes (a second OCTET STRING in an
// Extension, a BOOLEAN 0x01, a non-minimal OID) and still sign it with the right key.
import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { bitString, concat, context, nullValue, octetString, oid, sequence, setOf, smallInteger, tlv, type Bytes } from "../../src/pki/der.js";
import { EXTENSION_OIDS, EXTENSION_REQUEST_OID } from "../../src/pki/extensions.js";
import { NAME_OIDS } from "../../src/pki/name.js";
import { encodePem } from "../../src/pki/pem.js";
import { signatureOidFor } from "../../src/pki/signature.js";

export const OIDS = {
  cn: NAME_OIDS.commonName, o: NAME_OIDS.organization, extensionRequest: EXTENSION_REQUEST_OID, san: EXTENSION_OIDS.subjectAltName,
  sha256WithRSA: signatureOidFor("RSA-2048"), ecdsaWithSha256: signatureOidFor("ECDSA-P256"), ed25519: signatureOidFor("Ed25519"),
} as const;

const text = new TextEncoder();
export const utf8 = (s: string): Bytes => text.encode(s);

/** A key and what its requests are signed with. */
export interface TestKey {
  readonly key: KeyObject;
  readonly spki: Bytes;
  readonly algorithm: Bytes;
  /** The digest node:crypto's sign() is given (null for Ed25519). */
  readonly hash: string | null;
}

export function testKey(type: "ec" | "rsa" | "ed25519", curve = "prime256v1"): TestKey {
  const { privateKey } = type === "ec" ? generateKeyPairSync("ec", { namedCurve: curve }) : type === "rsa" ? generateKeyPairSync("rsa", { modulusLength: 2048 }) : generateKeyPairSync("ed25519");
  return fromPrivateKey(privateKey);
}

export function fromPrivateKey(privateKey: KeyObject): TestKey {
  const spki = new Uint8Array(createPublicKey(privateKey).export({ type: "spki", format: "der" }));
  const type = privateKey.asymmetricKeyType;
  const algorithm = type === "rsa" ? sequence(oid(OIDS.sha256WithRSA), nullValue()) : type === "ec" ? sequence(oid(OIDS.ecdsaWithSha256)) : sequence(oid(OIDS.ed25519));
  return { key: privateKey, spki, algorithm, hash: type === "ed25519" ? null : "sha256" };
}

/** An AttributeTypeAndValue in its own RDN. */
export const rdn = (attrOid: Bytes | string, value: Bytes): Bytes => setOf([sequence(typeof attrOid === "string" ? oid(attrOid) : attrOid, value)]);
/** A string value: UTF8String unless another tag is given. */
export const str = (s: string, tag = 0x0c): Bytes => tlv(tag, utf8(s));
/** BMPString (UTF-16BE). */
export const bmp = (s: string): Bytes => tlv(0x1e, Uint8Array.from([...s].flatMap((c) => [c.charCodeAt(0) >> 8, c.charCodeAt(0) & 0xff])));

/** The subject kubelets write: O=system:nodes, CN=system:node:<node>. */
export const nodeSubject = (node = "n1"): Bytes => sequence(rdn(OIDS.o, str("system:nodes", 0x13)), rdn(OIDS.cn, str(`system:node:${node}`, 0x13)));

export const dnsName = (name: string): Bytes => tlv(0x82, utf8(name));
export const ipAddress = (bytes: readonly number[]): Bytes => tlv(0x87, Uint8Array.from(bytes));
export const sanValue = (...names: Bytes[]): Bytes => sequence(...names);
/** An Extension { OID, [critical], OCTET STRING value }; `rest` replaces everything after the OID. */
export const extension = (extOid: Bytes | string, ...rest: Bytes[]): Bytes => sequence(typeof extOid === "string" ? oid(extOid) : extOid, ...rest);
export const sanExtension = (...names: Bytes[]): Bytes => extension(OIDS.san, octetString(sanValue(...names)));
/** The [0] attributes holding one extensionRequest with these extensions. */
export const extensionRequest = (...extensions: Bytes[]): Bytes => context(0, sequence(oid(OIDS.extensionRequest), setOf([sequence(...extensions)])), true);

export interface CsrParts {
  readonly version?: Bytes;
  readonly subject?: Bytes;
  readonly spki?: Bytes;
  /** The whole [0] attributes element. */
  readonly attributes?: Bytes;
  /** Elements after the attributes inside the CertificationRequestInfo. */
  readonly trailing?: readonly Bytes[];
}

/** The CertificationRequestInfo, signed with `k`; returns the DER and PEM of the request. */
export function buildCsr(k: TestKey, parts: CsrParts = {}): { der: Bytes; pem: string } {
  const info = sequence(
    parts.version ?? smallInteger(0),
    parts.subject ?? nodeSubject(),
    parts.spki ?? k.spki,
    parts.attributes ?? extensionRequest(sanExtension(dnsName("n1"), ipAddress([10, 0, 0, 11]))),
    ...(parts.trailing ?? []),
  );
  const signature = new Uint8Array(sign(k.hash, info, k.key));
  const der = sequence(info, k.algorithm, bitString(signature));
  return { der, pem: encodePem("CERTIFICATE REQUEST", der) };
}

/** Raw bytes of an OID body with the given arcs already encoded, for non-minimal forms. */
export const rawOid = (...body: number[]): Bytes => tlv(0x06, Uint8Array.from(body));

export { concat };
