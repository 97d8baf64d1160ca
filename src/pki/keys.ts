import type { Bytes } from "./der.js";
import {
  base64UrlToBytes,
  bitString,
  children,
  concat,
  context,
  decodeOne,
  nullValue,
  octetString,
  oid,
  readOid,
  sequence,
  smallInteger,
  TAG,
} from "./der.js";
import { decodePem, encodePem, PemError } from "./pem.js";
import { PkiError } from "../errors.js";

/**
 * Key algorithms by kubeadm's `encryptionAlgorithm` names (v1beta4), plus
 * Ed25519, which kpki offers for standalone dev CAs only (kubeadm rejects it).
 */
export const KEY_ALGORITHMS = ["RSA-2048", "RSA-3072", "RSA-4096", "ECDSA-P256", "ECDSA-P384", "Ed25519"] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

/** The algorithms kubeadm accepts in `encryptionAlgorithm`. */
export const KUBEADM_KEY_ALGORITHMS = ["RSA-2048", "RSA-3072", "RSA-4096", "ECDSA-P256", "ECDSA-P384"] as const;

export const isKeyAlgorithm = (value: string): value is KeyAlgorithm =>
  (KEY_ALGORITHMS as readonly string[]).includes(value);

/** A private key with its public half and algorithm. */
export interface KeyPair {
  readonly algorithm: KeyAlgorithm;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
}

/** Raised for key material that cannot be read or is of an unsupported type. */
export class KeyError extends PkiError {
  override name = "KeyError";
  constructor(message: string) {
    super("invalid-input", message);
  }
}

/** SubjectPublicKeyInfo algorithm and named-curve OIDs. */
export const KEY_OIDS = {
  rsaEncryption: "1.2.840.113549.1.1.1",
  ecPublicKey: "1.2.840.10045.2.1",
  p256: "1.2.840.10045.3.1.7",
  p384: "1.3.132.0.34",
  p521: "1.3.132.0.35",
  ed25519: "1.3.101.112",
} as const;
const OID = KEY_OIDS;

/** WebCrypto's names of the NIST curves, by OID. */
export const NAMED_CURVES: Readonly<Record<string, string>> = { [OID.p256]: "P-256", [OID.p384]: "P-384", [OID.p521]: "P-521" };

const CURVES = {
  "P-256": { oid: OID.p256, algorithm: "ECDSA-P256", hash: "SHA-256" },
  "P-384": { oid: OID.p384, algorithm: "ECDSA-P384", hash: "SHA-384" },
} as const;
type Curve = keyof typeof CURVES;

function importParams(algorithm: KeyAlgorithm): RsaHashedImportParams | EcKeyImportParams | Algorithm {
  switch (algorithm) {
    case "RSA-2048":
    case "RSA-3072":
    case "RSA-4096":
      // Go signs with SHA-256 for every RSA size (crypto/x509 signingParamsForKey).
      return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    case "ECDSA-P256":
      return { name: "ECDSA", namedCurve: "P-256" };
    case "ECDSA-P384":
      return { name: "ECDSA", namedCurve: "P-384" };
    case "Ed25519":
      return { name: "Ed25519" };
  }
}

/** The WebCrypto signature parameters Go's crypto/x509 would use for a key of this algorithm. */
export function signingAlgorithm(algorithm: KeyAlgorithm): Algorithm | EcdsaParams | RsaHashedImportParams {
  switch (algorithm) {
    case "ECDSA-P256":
      return { name: "ECDSA", hash: "SHA-256" };
    case "ECDSA-P384":
      return { name: "ECDSA", hash: "SHA-384" };
    default:
      return importParams(algorithm);
  }
}

/** Generates a new extractable key pair. */
export async function generateKeyPair(algorithm: KeyAlgorithm, crypto: Crypto): Promise<KeyPair> {
  let params: RsaHashedKeyGenParams | EcKeyGenParams | Algorithm;
  if (algorithm.startsWith("RSA-")) {
    params = {
      name: "RSASSA-PKCS1-v1_5",
      hash: "SHA-256",
      modulusLength: Number(algorithm.slice(4)),
      publicExponent: Uint8Array.of(1, 0, 1),
    };
  } else {
    params = importParams(algorithm);
  }
  const pair = (await crypto.subtle.generateKey(params, true, ["sign", "verify"])) as CryptoKeyPair;
  return { algorithm, privateKey: pair.privateKey, publicKey: pair.publicKey };
}

/** The kubeadm algorithm name of a WebCrypto key. */
export function algorithmOfKey(key: CryptoKey): KeyAlgorithm {
  const alg = key.algorithm as KeyAlgorithm & { name: string; modulusLength?: number; namedCurve?: string };
  if (alg.name === "RSASSA-PKCS1-v1_5" || alg.name === "RSA-PSS" || alg.name === "RSA-OAEP") {
    const name = `RSA-${alg.modulusLength ?? 0}`;
    if (isKeyAlgorithm(name)) return name;
    throw new KeyError(`unsupported RSA key size ${alg.modulusLength ?? "?"} (kpki supports 2048, 3072 and 4096)`);
  }
  if (alg.name === "ECDSA" && alg.namedCurve && alg.namedCurve in CURVES) {
    return CURVES[alg.namedCurve as Curve].algorithm;
  }
  if (alg.name === "Ed25519") return "Ed25519";
  throw new KeyError(`unsupported key type ${alg.name}${alg.namedCurve ? ` ${alg.namedCurve}` : ""}`);
}

const pkcs8 = (algorithmIdentifier: Bytes, inner: Bytes): Bytes =>
  sequence(smallInteger(0), algorithmIdentifier, octetString(inner));

/** The public half of a private key (WebCrypto has no direct call for it). */
async function publicFromPrivate(privateKey: CryptoKey, algorithm: KeyAlgorithm, crypto: Crypto): Promise<CryptoKey> {
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  const pub: JsonWebKey = jwk.kty === undefined ? {} : { kty: jwk.kty };
  for (const field of ["crv", "x", "y", "n", "e"] as const) {
    const value = jwk[field];
    if (value !== undefined) pub[field] = value;
  }
  return crypto.subtle.importKey("jwk", pub, importParams(algorithm), true, ["verify"]);
}

function algorithmOfPkcs8(der: Bytes): KeyAlgorithm | Curve | "RSA" {
  const [, algId] = children(decodeOne(der));
  if (!algId) throw new KeyError("PKCS#8 key has no algorithm identifier");
  const [algOid, params] = children(algId);
  if (!algOid) throw new KeyError("PKCS#8 key has no algorithm identifier");
  const alg = readOid(algOid);
  if (alg === OID.rsaEncryption) return "RSA";
  if (alg === OID.ed25519) return "Ed25519";
  if (alg === OID.ecPublicKey && params?.tag === TAG.oid) {
    const curveOid = readOid(params);
    for (const [curve, info] of Object.entries(CURVES)) if (info.oid === curveOid) return curve as Curve;
    throw new KeyError(`unsupported elliptic curve ${curveOid} (kpki supports P-256 and P-384)`);
  }
  throw new KeyError(`unsupported private key algorithm ${alg}`);
}

/** Imports a PKCS#8 DER private key and derives its algorithm and public key. */
export async function importPkcs8(der: Bytes, crypto: Crypto): Promise<KeyPair> {
  const kind = algorithmOfPkcs8(der);
  let params: RsaHashedImportParams | EcKeyImportParams | Algorithm;
  if (kind === "RSA") params = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  else if (kind === "P-256" || kind === "P-384") params = { name: "ECDSA", namedCurve: kind };
  else params = { name: "Ed25519" };
  let privateKey: CryptoKey;
  try {
    privateKey = await crypto.subtle.importKey("pkcs8", der, params, true, ["sign"]);
  } catch (error) {
    throw new KeyError(`private key could not be imported: ${(error as Error).message}`);
  }
  const algorithm = algorithmOfKey(privateKey);
  return { algorithm, privateKey, publicKey: await publicFromPrivate(privateKey, algorithm, crypto) };
}

/** PKCS#1 RSAPrivateKey → PKCS#8. */
export const pkcs1ToPkcs8 = (der: Bytes): Bytes =>
  pkcs8(sequence(oid(OID.rsaEncryption), nullValue()), der);

/** SEC1 ECPrivateKey → PKCS#8 (the curve comes from the SEC1 parameters field). */
export function sec1ToPkcs8(der: Bytes): Bytes {
  const fields = children(decodeOne(der));
  const params = fields.find((f) => f.tag === 0xa0);
  const curveNode = params ? children(params)[0] : undefined;
  if (!curveNode) throw new KeyError("EC private key does not name its curve");
  return pkcs8(sequence(oid(OID.ecPublicKey), oid(readOid(curveNode))), der);
}

/**
 * Reads the first private key in PEM text: PKCS#1 (`RSA PRIVATE KEY`), SEC1
 * (`EC PRIVATE KEY`, with or without a leading `EC PARAMETERS` block) or PKCS#8
 * (`PRIVATE KEY`). Other blocks are skipped, like keyutil.ParsePrivateKeyPEM.
 */
export async function parsePrivateKeyPem(text: string, crypto: Crypto): Promise<KeyPair> {
  const blocks = decodePem(text);
  for (const block of blocks) {
    try {
      if (block.label === "RSA PRIVATE KEY") return await importPkcs8(pkcs1ToPkcs8(block.der), crypto);
      if (block.label === "EC PRIVATE KEY") return await importPkcs8(sec1ToPkcs8(block.der), crypto);
      if (block.label === "PRIVATE KEY") return await importPkcs8(block.der, crypto);
    } catch (error) {
      if (error instanceof KeyError) throw error;
      throw new KeyError(`malformed ${block.label}: ${(error as Error).message}`);
    }
    if (block.label === "ENCRYPTED PRIVATE KEY") throw new KeyError("encrypted private keys are not supported");
  }
  throw new PemError(blocks.length ? "no private key block in PEM data" : "no PEM data found");
}

/**
 * The private key in kubeadm's on-disk format: PKCS#1 `RSA PRIVATE KEY`, SEC1
 * `EC PRIVATE KEY` (with curve and public key, as Go's MarshalECPrivateKey), and
 * PKCS#8 `PRIVATE KEY` for Ed25519 (Go's MarshalPKCS8PrivateKey).
 */
export async function privateKeyToPem(pair: KeyPair, crypto: Crypto): Promise<string> {
  if (pair.algorithm.startsWith("RSA-")) {
    const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
    const inner = children(decodeOne(der))[2];
    if (!inner || inner.tag !== TAG.octetString) throw new KeyError("unexpected PKCS#8 layout from the crypto provider");
    return encodePem("RSA PRIVATE KEY", inner.content);
  }
  if (pair.algorithm === "Ed25519") {
    return encodePem("PRIVATE KEY", new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey)));
  }
  const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  const curve = CURVES[jwk.crv as Curve];
  if (!curve || !jwk.d || !jwk.x || !jwk.y) throw new KeyError("unexpected EC JWK from the crypto provider");
  const sec1 = sequence(
    smallInteger(1),
    octetString(base64UrlToBytes(jwk.d)),
    context(0, oid(curve.oid), true),
    context(1, bitString(concat([Uint8Array.of(4), base64UrlToBytes(jwk.x), base64UrlToBytes(jwk.y)])), true),
  );
  return encodePem("EC PRIVATE KEY", sec1);
}

/** SubjectPublicKeyInfo DER of a public key. */
export async function spkiOf(publicKey: CryptoKey, crypto: Crypto): Promise<Bytes> {
  return new Uint8Array(await crypto.subtle.exportKey("spki", publicKey));
}

/** `PUBLIC KEY` PEM (PKIX), as kubeadm writes sa.pub. */
export async function publicKeyToPem(publicKey: CryptoKey, crypto: Crypto): Promise<string> {
  return encodePem("PUBLIC KEY", await spkiOf(publicKey, crypto));
}

/** The subjectPublicKey bits of an SPKI (what Go hashes for the SubjectKeyIdentifier). */
export function subjectPublicKeyBits(spki: Bytes): Bytes {
  const [, bits] = children(decodeOne(spki));
  if (!bits || bits.tag !== TAG.bitString) throw new KeyError("malformed SubjectPublicKeyInfo");
  return bits.content.subarray(1);
}
