/**
 * Signing for mutants: every signature is a deterministic function of (key, data, hash), so a
 * mutant stream replays byte for byte from its PRNG seed.
 *
 * - RSA: PKCS #1 v1.5 (RFC 8017 §8.2), deterministic by construction; node:crypto signs.
 * - Ed25519: deterministic by construction (RFC 8032 §5.1.6); node:crypto signs.
 * - ECDSA: node:crypto draws a random nonce, so ECDSA is done here with ONE FIXED NONCE per key
 *   (k derived from the private scalar): s = k⁻¹(z + r·d) mod n (SEC 1 v2 §4.1.3) with r = x(k·G)
 *   computed once through ECDH. The signatures are valid; reusing k across messages reveals d to
 *   anyone holding two of them, which is of no consequence for throwaway fuzzing keys and is what
 *   makes signing both reproducible and fast (measured with OpenSSL 3.0 on a 2-core VM: P-256
 *   about 11 µs here vs 33 µs in node:crypto, P-384 about 13 µs vs 950 µs).
 */
import { createECDH, createHash, createHmac, createPrivateKey, createPublicKey, sign as nodeSign, type KeyObject } from "node:crypto";
import {
  bigToBytes,
  bytesToBig,
  clone,
  concatBytes,
  fromHex,
  nullNode,
  oidNode,
  parse,
  prim,
  seq,
  serialise,
  TAGS,
  uintNode,
  type Node,
} from "./der-tree.js";

export type Hash = "md5" | "sha1" | "sha256" | "sha384" | "sha512";
export type KeyKind = "rsa" | "ecdsa" | "ed25519";

export const KEY_OIDS = {
  rsaEncryption: "1.2.840.113549.1.1.1",
  ecPublicKey: "1.2.840.10045.2.1",
  ed25519: "1.3.101.112",
} as const;

/** Signature algorithm OIDs: RFC 8017 App. C / RFC 4055 (RSA), RFC 5758 / X9.62 (ECDSA), RFC 8410 (Ed25519). */
export const SIG_OIDS = {
  rsa: {
    md5: "1.2.840.113549.1.1.4",
    sha1: "1.2.840.113549.1.1.5",
    sha256: "1.2.840.113549.1.1.11",
    sha384: "1.2.840.113549.1.1.12",
    sha512: "1.2.840.113549.1.1.13",
  },
  ecdsa: {
    sha1: "1.2.840.10045.4.1",
    sha256: "1.2.840.10045.4.3.2",
    sha384: "1.2.840.10045.4.3.3",
    sha512: "1.2.840.10045.4.3.4",
  },
  ed25519: "1.3.101.112",
} as const;

export type CurveName = "P-192" | "P-224" | "P-256" | "P-384" | "P-521" | "secp256k1";

export interface Curve {
  readonly name: CurveName;
  readonly oid: string;
  /** The OpenSSL name node:crypto's createECDH takes. */
  readonly ecdh: string;
  /** Group order n (SEC 2 v2 §2). */
  readonly order: bigint;
  /** Field element size in bytes. */
  readonly size: number;
}

const curve = (name: CurveName, oid: string, ecdh: string, order: string, size: number): Curve => ({
  name,
  oid,
  ecdh,
  order: BigInt(`0x${order}`),
  size,
});

/** Curve parameters from SEC 2 v2 (secp192r1 = P-192, secp224r1 = P-224, ...) and FIPS 186-4 App. D. */
export const CURVES: Readonly<Record<CurveName, Curve>> = {
  "P-192": curve("P-192", "1.2.840.10045.3.1.1", "prime192v1", "ffffffffffffffffffffffff99def836146bc9b1b4d22831", 24),
  "P-224": curve("P-224", "1.3.132.0.33", "secp224r1", "ffffffffffffffffffffffffffff16a2e0b8f03e13dd29455c5c2a3d", 28),
  "P-256": curve("P-256", "1.2.840.10045.3.1.7", "prime256v1", "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 32),
  "P-384": curve(
    "P-384",
    "1.3.132.0.34",
    "secp384r1",
    "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
    48,
  ),
  "P-521": curve(
    "P-521",
    "1.3.132.0.35",
    "secp521r1",
    "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409",
    66,
  ),
  secp256k1: curve("secp256k1", "1.3.132.0.10", "secp256k1", "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 32),
};

const CURVE_BY_OPENSSL_NAME: Readonly<Record<string, CurveName>> = Object.fromEntries(
  Object.values(CURVES).map((c) => [c.ecdh, c.name]),
);

/** DigestInfo prefixes for EMSA-PKCS1-v1_5 (RFC 8017 §9.2, note 1). */
export const DIGEST_INFO_PREFIX: Readonly<Record<Hash, Uint8Array<ArrayBuffer>>> = {
  md5: fromHex("3020300c06082a864886f70d020505000410"),
  sha1: fromHex("3021300906052b0e03021a05000414"),
  sha256: fromHex("3031300d060960864801650304020105000420"),
  sha384: fromHex("3041300d060960864801650304020205000430"),
  sha512: fromHex("3051300d060960864801650304020305000440"),
};

export const digest = (hash: Hash, data: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(createHash(hash).update(data).digest());

// ---------------------------------------------------------------------------------------------
// Arithmetic

export function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

export function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [mod(a, m), m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new RangeError("not invertible");
  return mod(oldS, m);
}

export function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let result = 1n;
  let b = mod(base, m);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return result;
}

const bitLength = (v: bigint): number => v.toString(2).length;
const byteLength = (v: bigint): number => Math.ceil(bitLength(v) / 8);

// ---------------------------------------------------------------------------------------------
// Structures

/** AlgorithmIdentifier for a signature: RSA with NULL parameters (RFC 8017 App. C), ECDSA and Ed25519 with none (RFC 5758 §3.2, RFC 8410 §3). */
export function sigAlgId(kind: KeyKind, hash: Hash): Node {
  if (kind === "ed25519") return seq(oidNode(SIG_OIDS.ed25519));
  if (kind === "rsa") return seq(oidNode(SIG_OIDS.rsa[hash]), nullNode());
  if (hash === "md5") throw new RangeError("no ECDSA-with-MD5 OID");
  return seq(oidNode(SIG_OIDS.ecdsa[hash]));
}

/** RSA SubjectPublicKeyInfo (RFC 8017 App. A.1.1): `e` is the exponent INTEGER's raw content octets. */
export function rsaSpki(n: Uint8Array, eContent: Uint8Array): Node {
  const rsaPublicKey = serialise(seq(uintNode(n), prim(TAGS.integer, eContent)));
  return seq(seq(oidNode(KEY_OIDS.rsaEncryption), nullNode()), prim(TAGS.bitString, concatBytes([Uint8Array.of(0), rsaPublicKey])));
}

/** EC SubjectPublicKeyInfo (RFC 5480 §2): named-curve parameters and the point octets. */
export function ecSpki(curveOid: string, point: Uint8Array): Node {
  return seq(seq(oidNode(KEY_OIDS.ecPublicKey), oidNode(curveOid)), prim(TAGS.bitString, concatBytes([Uint8Array.of(0), point])));
}

/** ECDSA-Sig-Value (RFC 5480 §2.2 / RFC 3279 §2.2.3): SEQUENCE { r, s } with minimal INTEGERs. */
export const ecdsaSigDer = (r: bigint, s: bigint): Uint8Array<ArrayBuffer> => serialise(seq(uintNode(bigToBytes(r)), uintNode(bigToBytes(s))));

/**
 * A forged PKCS #1 v1.5 signature for an RSA key with public exponent 1: EM = 00 01 FF..FF 00 ||
 * DigestInfo(H(data)) (RFC 8017 §9.2) with the length of n. Since s^1 mod n = s when s < n, EM
 * itself verifies; no private key is involved.
 */
export function forgeRsaE1(n: bigint, data: Uint8Array, hash: Hash = "sha256"): Uint8Array<ArrayBuffer> {
  const k = byteLength(n);
  const t = concatBytes([DIGEST_INFO_PREFIX[hash], digest(hash, data)]);
  if (k < t.length + 11) throw new RangeError("modulus too short for EMSA-PKCS1-v1_5");
  const em = new Uint8Array(k);
  em[1] = 0x01;
  em.fill(0xff, 2, k - t.length - 1);
  em[k - t.length - 1] = 0x00;
  em.set(t, k - t.length);
  return em;
}

// ---------------------------------------------------------------------------------------------
// Keys

export interface SigningKey {
  readonly kind: KeyKind;
  /** A short description, e.g. "P-256", "RSA-2048 e=3". */
  readonly label: string;
  /** The hash the key signs with by default. */
  readonly hash: Hash;
  /** A fresh SubjectPublicKeyInfo node. */
  spki(): Node;
  /** A signature over `data`; `hash` is ignored for Ed25519. */
  sign(data: Uint8Array, hash: Hash): Uint8Array<ArrayBuffer>;
  readonly curve?: Curve;
  /** RSA modulus. */
  readonly modulus?: bigint;
}

/** ECDSA with one fixed nonce per key (see the file comment). */
export class FixedNonceEcdsa {
  readonly curve: Curve;
  readonly r: bigint;
  readonly #kInv: bigint;
  readonly #rd: bigint;
  readonly #nBits: number;

  constructor(curveInfo: Curve, d: bigint) {
    this.curve = curveInfo;
    const n = curveInfo.order;
    const dBytes = bigToBytes(d, curveInfo.size);
    // k from the private scalar: HMAC-SHA512 output, two blocks for P-521, reduced into [1, n-1].
    const h1 = createHmac("sha512", dBytes).update("kpki fuzz ECDSA nonce 1").digest();
    const h2 = createHmac("sha512", dBytes).update("kpki fuzz ECDSA nonce 2").digest();
    const k = mod(bytesToBig(concatBytes([h1, h2])), n - 1n) + 1n;
    const ecdh = createECDH(curveInfo.ecdh);
    ecdh.setPrivateKey(bigToBytes(k, curveInfo.size));
    const point = ecdh.getPublicKey(); // 04 || X || Y
    this.r = mod(bytesToBig(point.subarray(1, 1 + curveInfo.size)), n);
    if (this.r === 0n) throw new RangeError("degenerate nonce");
    this.#kInv = modInverse(k, n);
    this.#rd = mod(this.r * d, n);
    this.#nBits = bitLength(n);
  }

  /** (r, s) for data hashed with `hash` (FIPS 186-4 §6.4: z is the leftmost min(N, outlen) bits of the digest). */
  signRaw(data: Uint8Array, hash: Hash): { r: bigint; s: bigint } {
    const h = digest(hash, data);
    let z = bytesToBig(h);
    const hBits = h.length * 8;
    if (hBits > this.#nBits) z >>= BigInt(hBits - this.#nBits);
    const s = mod(this.#kInv * (z + this.#rd), this.curve.order);
    if (s === 0n) throw new RangeError("s = 0");
    return { r: this.r, s };
  }

  sign(data: Uint8Array, hash: Hash): Uint8Array<ArrayBuffer> {
    const { r, s } = this.signRaw(data, hash);
    return ecdsaSigDer(r, s);
  }
}

function spkiNodeOf(key: KeyObject): Node {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return parse(new Uint8Array(pub.export({ type: "spki", format: "der" })));
}

const jwkBig = (value: string | undefined): bigint => {
  if (!value) throw new RangeError("JWK member missing");
  return bytesToBig(new Uint8Array(Buffer.from(value, "base64url")));
};

/** A signing key for a node:crypto private key (RSA, EC on a curve in CURVES, or Ed25519). */
export function signingKeyOf(key: KeyObject, hash: Hash): SigningKey {
  if (key.type !== "private") throw new TypeError("a private key is required");
  const spki = spkiNodeOf(key);
  const kind = key.asymmetricKeyType;
  if (kind === "rsa") {
    const jwk = key.export({ format: "jwk" });
    const modulus = jwkBig(jwk.n);
    return {
      kind: "rsa",
      label: `RSA-${bitLength(modulus)}`,
      hash,
      modulus,
      spki: () => clone(spki),
      sign: (data, h) => new Uint8Array(nodeSign(h, data, key)),
    };
  }
  if (kind === "ed25519") {
    return { kind: "ed25519", label: "Ed25519", hash, spki: () => clone(spki), sign: (data) => new Uint8Array(nodeSign(null, data, key)) };
  }
  if (kind === "ec") {
    const opensslName = key.asymmetricKeyDetails?.namedCurve ?? "";
    const name = CURVE_BY_OPENSSL_NAME[opensslName];
    if (!name) throw new RangeError(`unsupported curve ${opensslName}`);
    const ecdsa = new FixedNonceEcdsa(CURVES[name], jwkBig(key.export({ format: "jwk" }).d));
    return {
      kind: "ecdsa",
      label: name,
      hash,
      curve: CURVES[name],
      spki: () => clone(spki),
      sign: (data, h) => ecdsa.sign(data, h),
    };
  }
  throw new RangeError(`unsupported key type ${kind ?? "?"}`);
}

const foreignEcCache = new Map<CurveName, SigningKey>();

/** A fixed EC key on `name` (private scalar derived from the curve name), for re-keying mutants. */
export function fixedEcKey(name: CurveName): SigningKey {
  const cached = foreignEcCache.get(name);
  if (cached) return cached;
  const c = CURVES[name];
  const d = mod(bytesToBig(createHash("sha512").update(`kpki fuzz fixed key ${name}`).digest()), c.order - 1n) + 1n;
  const ecdh = createECDH(c.ecdh);
  ecdh.setPrivateKey(bigToBytes(d, c.size));
  const point = new Uint8Array(ecdh.getPublicKey());
  const ecdsa = new FixedNonceEcdsa(c, d);
  const key: SigningKey = {
    kind: "ecdsa",
    label: name,
    hash: name === "P-384" ? "sha384" : name === "P-521" ? "sha512" : "sha256",
    curve: c,
    spki: () => ecSpki(c.oid, point),
    sign: (data, h) => ecdsa.sign(data, h),
  };
  foreignEcCache.set(name, key);
  return key;
}

// Two fixed 1024-bit primes (generated once with `openssl genpkey -algorithm RSA -pkeyopt
// rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:3`), so that the e = 3 key is the same on every run.
const E3_P = BigInt(
  "0xdcad0068b0560069bd1154b64b01aefa8a9fececf4217cf0c1695b9c9172391b6ee2eaf7f090117d8a88aa65e15dcd9302fd57590d299f871e82b04707f0d618db39433090898d1a70e7eb8fc3c236831765cd2d3a83586b872d19e686710695a90a0c160c8ec61d5232c78fd1130b43d2a8c658c3989a5e688638622dd83053",
);
const E3_Q = BigInt(
  "0xd86dde428943ac582ad580167f4c0bd6be22266cfbaa73de31b9b1cbcd196d0a00380a5b6fdee3e4422cc3f2a633334375461f0885371db9d319806f3f24ac034f1bb7b99240ff448ce3f6c4fafe3f97ed355fdd1485af9866be1a94cc2ebf6bff79c4e5b51dcdc01fa3308485f1e9fede10e977b9eb3a03b4cbb9d8bc86f4a9",
);

/** The fixed 2048-bit modulus shared by the e = 3 key and forged e = 1 keys of non-RSA seeds. */
export const FIXED_RSA_MODULUS = E3_P * E3_Q;

let e3Key: SigningKey | undefined;

/** A fixed RSA-2048 key with public exponent 3 (valid PKCS #1 v1.5 signatures). */
export function rsaE3Key(): SigningKey {
  if (e3Key) return e3Key;
  const e = 3n;
  const lambda = ((E3_P - 1n) * (E3_Q - 1n)) / gcd(E3_P - 1n, E3_Q - 1n);
  const d = modInverse(e, lambda);
  const b64 = (v: bigint): string => Buffer.from(bigToBytes(v)).toString("base64url");
  const key = createPrivateKey({
    format: "jwk",
    key: {
      kty: "RSA",
      n: b64(FIXED_RSA_MODULUS),
      e: b64(e),
      d: b64(d),
      p: b64(E3_P),
      q: b64(E3_Q),
      dp: b64(d % (E3_P - 1n)),
      dq: b64(d % (E3_Q - 1n)),
      qi: b64(modInverse(E3_Q, E3_P)),
    },
  });
  e3Key = { ...signingKeyOf(key, "sha256"), label: "RSA-2048 e=3" };
  return e3Key;
}

function gcd(a: bigint, b: bigint): bigint {
  let [x, y] = [a, b];
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

export { byteLength as bigByteLength };
