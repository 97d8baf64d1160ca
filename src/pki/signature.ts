import type { Bytes } from "./der.js";
import { bytesToBase64Url, bytesToHex, children, concat, decodeOne, nullValue, oid, readOid, readUnsigned, sequence, TAG, unsignedInteger } from "./der.js";
import { KEY_OIDS, NAMED_CURVES, type KeyAlgorithm } from "./keys.js";

/**
 * Signature algorithms by OID, with the WebCrypto parameters to use them.
 * kpki signs as Go's crypto/x509 does (signingParamsForKey): SHA-256 for every
 * RSA size, SHA-256/384 for P-256/P-384, pure Ed25519.
 */
export const SIGNATURE_ALGORITHMS = {
  "1.2.840.113549.1.1.5": { name: "sha1WithRSAEncryption", kind: "rsa", hash: "SHA-1" },
  "1.2.840.113549.1.1.11": { name: "sha256WithRSAEncryption", kind: "rsa", hash: "SHA-256" },
  "1.2.840.113549.1.1.12": { name: "sha384WithRSAEncryption", kind: "rsa", hash: "SHA-384" },
  "1.2.840.113549.1.1.13": { name: "sha512WithRSAEncryption", kind: "rsa", hash: "SHA-512" },
  "1.2.840.10045.4.3.2": { name: "ecdsa-with-SHA256", kind: "ecdsa", hash: "SHA-256" },
  "1.2.840.10045.4.3.3": { name: "ecdsa-with-SHA384", kind: "ecdsa", hash: "SHA-384" },
  "1.2.840.10045.4.3.4": { name: "ecdsa-with-SHA512", kind: "ecdsa", hash: "SHA-512" },
  "1.3.101.112": { name: "ED25519", kind: "ed25519", hash: undefined },
} as const;
type SignatureOid = keyof typeof SIGNATURE_ALGORITHMS;

/** The signature algorithm OID Go picks for a signer of this key algorithm. */
export function signatureOidFor(algorithm: KeyAlgorithm): SignatureOid {
  switch (algorithm) {
    case "ECDSA-P256":
      return "1.2.840.10045.4.3.2";
    case "ECDSA-P384":
      return "1.2.840.10045.4.3.3";
    case "Ed25519":
      return "1.3.101.112";
    default:
      return "1.2.840.113549.1.1.11";
  }
}

/** AlgorithmIdentifier DER: RSA with NULL parameters, ECDSA and Ed25519 with none (RFC 5758, RFC 8410). */
export function algorithmIdentifier(sigOid: SignatureOid): Bytes {
  return SIGNATURE_ALGORITHMS[sigOid].kind === "rsa" ? sequence(oid(sigOid), nullValue()) : sequence(oid(sigOid));
}

const CURVE_BYTES: Readonly<Record<string, number>> = { "P-256": 32, "P-384": 48, "P-521": 66 };
const curveBytes = (key: CryptoKey): number => CURVE_BYTES[(key.algorithm as EcKeyAlgorithm).namedCurve] ?? 32;

/** WebCrypto's ECDSA signature (r || s) as the DER SEQUENCE { r, s } X.509 uses. */
function ecdsaRawToDer(raw: Bytes): Bytes {
  const half = raw.length / 2;
  return sequence(unsignedInteger(raw.subarray(0, half)), unsignedInteger(raw.subarray(half)));
}

/** DER SEQUENCE { r, s } → r || s, each left-padded to the curve size. */
export function ecdsaDerToRaw(der: Bytes, size: number): Bytes {
  const [r, s] = children(decodeOne(der));
  if (!r || !s) throw new Error("malformed ECDSA signature");
  const pad = (v: Bytes): Bytes => {
    if (v.length > size) throw new Error("ECDSA signature value too long");
    const out = new Uint8Array(size);
    out.set(v, size - v.length);
    return out;
  };
  return concat([pad(readUnsigned(r)), pad(readUnsigned(s))]);
}

/** Signs `data` with `key` using the algorithm `sigOid` names; returns X.509 signature bytes. */
export async function sign(sigOid: SignatureOid, key: CryptoKey, data: Bytes, crypto: Crypto): Promise<Bytes> {
  const info = SIGNATURE_ALGORITHMS[sigOid];
  switch (info.kind) {
    case "rsa":
      return new Uint8Array(await crypto.subtle.sign({ name: "RSASSA-PKCS1-v1_5" }, key, data));
    case "ecdsa":
      return ecdsaRawToDer(new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: info.hash }, key, data)));
    case "ed25519":
      return new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, data));
  }
}


/**
 * A public key taken apart for one signature algorithm, in the forms verifiers import fastest:
 * RSA as a JWK (n, e); EC and Ed25519 as the raw point, and as a JWK where the point is
 * uncompressed.
 */
export interface VerifyKeyParts {
  readonly kind: "rsa" | "ecdsa" | "ed25519";
  /** The digest the signature algorithm names (none for Ed25519). */
  readonly hash: "SHA-1" | "SHA-256" | "SHA-384" | "SHA-512" | undefined;
  /** EC only: the curve, and the size in bytes of each of r and s. */
  readonly namedCurve?: string;
  readonly scalarBytes?: number;
  /** EC and Ed25519: the point as the SPKI carries it. */
  readonly point?: Bytes;
  /** Absent only for an EC point in compressed form. */
  readonly jwk?: JsonWebKey;
}

/** Takes an SPKI apart for verifying `sigOid`; throws when the key is malformed or does not fit the algorithm. */
export function verifyKeyParts(spki: Bytes, sigOid: string): VerifyKeyParts {
  const info = SIGNATURE_ALGORITHMS[sigOid as SignatureOid];
  if (!info) throw new Error(`unsupported signature algorithm ${sigOid}`);
  const [algId, keyBits] = children(decodeOne(spki));
  const [keyOidNode, params] = algId ? children(algId) : [];
  const keyOid = keyOidNode ? readOid(keyOidNode) : "";
  if (keyBits?.tag !== TAG.bitString || keyBits.content[0] !== 0) throw new Error("malformed subjectPublicKey");
  const key = keyBits.content.subarray(1);
  if (info.kind === "rsa" && keyOid === KEY_OIDS.rsaEncryption) {
    const [n, e] = children(decodeOne(key));
    if (!n || !e) throw new Error("malformed RSA public key");
    return { kind: "rsa", hash: info.hash, jwk: { kty: "RSA", n: bytesToBase64Url(readUnsigned(n)), e: bytesToBase64Url(readUnsigned(e)) } };
  }
  if (info.kind === "ecdsa" && keyOid === KEY_OIDS.ecPublicKey && params?.tag === TAG.oid) {
    const namedCurve = NAMED_CURVES[readOid(params)];
    if (!namedCurve) throw new Error(`unsupported curve ${readOid(params)}`);
    const size = CURVE_BYTES[namedCurve] ?? 32;
    const uncompressed = key[0] === 4 && key.length === 1 + 2 * size;
    const jwk = uncompressed ? { kty: "EC", crv: namedCurve, x: bytesToBase64Url(key.subarray(1, 1 + size)), y: bytesToBase64Url(key.subarray(1 + size)) } : undefined;
    return { kind: "ecdsa", hash: info.hash, namedCurve, scalarBytes: size, point: key, ...(jwk ? { jwk } : {}) };
  }
  if (info.kind === "ed25519" && keyOid === KEY_OIDS.ed25519) {
    return { kind: "ed25519", hash: undefined, point: key, jwk: { kty: "OKP", crv: "Ed25519", x: bytesToBase64Url(key) } };
  }
  throw new Error(`signature algorithm ${info.name} does not fit a ${keyOid} key`);
}

/**
 * Imports an SPKI public key for verifying signatures made with `sigOid`, in the form WebCrypto
 * reads fastest (verifyKeyParts): on Node 20 (OpenSSL 3) a JWK or raw import is 3–6x cheaper than
 * an "spki" import, which goes through OpenSSL's generic decoders; the point is still checked to
 * lie on the curve. Where each CSR brings a new key (the approver), the import was half the cost
 * of a signature check.
 */
export async function importVerifyKey(spki: Bytes, sigOid: string, crypto: Crypto): Promise<CryptoKey> {
  const parts = verifyKeyParts(spki, sigOid);
  switch (parts.kind) {
    case "rsa":
      return crypto.subtle.importKey("jwk", parts.jwk!, { name: "RSASSA-PKCS1-v1_5", hash: parts.hash! }, false, ["verify"]);
    case "ecdsa":
      return crypto.subtle.importKey("raw", parts.point!, { name: "ECDSA", namedCurve: parts.namedCurve! }, false, ["verify"]);
    case "ed25519":
      return crypto.subtle.importKey("raw", parts.point!, { name: "Ed25519" }, false, ["verify"]);
  }
}

/**
 * One signature check, as the approver makes it for every request: `signature` as it appears in
 * a certificate or CSR, over `data`, by the key in `spki`. False for anything that does not
 * verify, never a throw. The engine's form is webCryptoVerifier; the I/O edge may pass a faster
 * one (src/io/node-signature.ts).
 */
export type SignatureVerifier = (sigOid: string, spki: Bytes, signature: Bytes, data: Bytes) => Promise<boolean>;

/** The SignatureVerifier on a WebCrypto implementation. */
export const webCryptoVerifier = (crypto: Crypto): SignatureVerifier => (sigOid, spki, signature, data) => verify(sigOid, spki, signature, data, crypto);

/** Imported verification keys by SPKI and algorithm, for checking many certificates against few issuers. */
export type VerifyKeyCache = Map<string, Promise<CryptoKey>>;

/** Verifies an X.509 signature (`signature` as it appears in the certificate or CSR). */
export async function verify(
  sigOid: string,
  spki: Bytes,
  signature: Bytes,
  data: Bytes,
  crypto: Crypto,
  cache?: VerifyKeyCache,
): Promise<boolean> {
  const info = SIGNATURE_ALGORITHMS[sigOid as SignatureOid];
  if (!info) return false;
  try {
    let keyPromise: Promise<CryptoKey>;
    if (cache) {
      const id = `${sigOid}:${bytesToHex(spki)}`;
      keyPromise = cache.get(id) ?? importVerifyKey(spki, sigOid, crypto);
      cache.set(id, keyPromise);
    } else {
      keyPromise = importVerifyKey(spki, sigOid, crypto);
    }
    const key = await keyPromise;
    switch (info.kind) {
      case "rsa":
        return await crypto.subtle.verify({ name: "RSASSA-PKCS1-v1_5" }, key, signature, data);
      case "ecdsa":
        return await crypto.subtle.verify({ name: "ECDSA", hash: info.hash }, key, ecdsaDerToRaw(signature, curveBytes(key)), data);
      case "ed25519":
        return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, data);
    }
  } catch {
    return false;
  }
}
