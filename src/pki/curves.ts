import type { Bytes } from "./der.js";

/**
 * The NIST prime curves Go's crypto/x509 reads (namedCurveFromOID: P-224, P-256, P-384, P-521),
 * with the constants of FIPS 186-4 §D.1.2 (y² = x³ − 3x + b mod p) needed to check that a public
 * point lies on its curve without a crypto provider.
 */
export interface PrimeCurve {
  readonly name: "P-224" | "P-256" | "P-384" | "P-521";
  readonly oid: string;
  /** Bytes of one coordinate. */
  readonly size: number;
  readonly p: bigint;
  readonly b: bigint;
  /** The order of the base point. */
  readonly n: bigint;
}

export const PRIME_CURVES: readonly PrimeCurve[] = [
  {
    name: "P-224", oid: "1.3.132.0.33", size: 28,
    p: 0xffffffffffffffffffffffffffffffff000000000000000000000001n,
    b: 0xb4050a850c04b3abf54132565044b0b7d7bfd8ba270b39432355ffb4n,
    n: 0xffffffffffffffffffffffffffff16a2e0b8f03e13dd29455c5c2a3dn,
  },
  {
    name: "P-256", oid: "1.2.840.10045.3.1.7", size: 32,
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  },
  {
    name: "P-384", oid: "1.3.132.0.34", size: 48,
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  },
  {
    name: "P-521", oid: "1.3.132.0.35", size: 66,
    p: (1n << 521n) - 1n,
    b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
    n: 0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
  },
];

export const primeCurveByOid = (oid: string): PrimeCurve | undefined => PRIME_CURVES.find((c) => c.oid === oid);

/** Big-endian bytes as a bigint, 6 bytes (48 bits, exact in a double) at a time. */
function toBig(bytes: Bytes): bigint {
  let v = 0n;
  let i = bytes.length % 6;
  let head = 0;
  for (let j = 0; j < i; j++) head = head * 256 + bytes[j]!;
  if (i) v = BigInt(head);
  for (; i < bytes.length; i += 6) {
    const chunk = ((((bytes[i]! * 256 + bytes[i + 1]!) * 256 + bytes[i + 2]!) * 256 + bytes[i + 3]!) * 256 + bytes[i + 4]!) * 256 + bytes[i + 5]!;
    v = (v << 48n) | BigInt(chunk);
  }
  return v;
}

/** How an SEC 1 point is written (§2.3.3): 04‖X‖Y, 02/03‖X, or neither. */
export function pointForm(curve: PrimeCurve, point: Bytes): "uncompressed" | "compressed" | "invalid" {
  if (point[0] === 0x04 && point.length === 1 + 2 * curve.size) return "uncompressed";
  if ((point[0] === 0x02 || point[0] === 0x03) && point.length === 1 + curve.size) return "compressed";
  return "invalid";
}

/**
 * Whether an uncompressed point lies on the curve with both coordinates below p: what Go's
 * elliptic.Unmarshal (and so crypto/x509's parsePublicKey) requires of an ECDSA public key.
 */
export function isOnCurve(curve: PrimeCurve, point: Bytes): boolean {
  if (pointForm(curve, point) !== "uncompressed") return false;
  const x = toBig(point.subarray(1, 1 + curve.size));
  const y = toBig(point.subarray(1 + curve.size));
  const { p, b } = curve;
  if (x >= p || y >= p) return false;
  const rhs = ((((x * x) % p) * x - 3n * x + b) % p + p) % p;
  return (y * y) % p === rhs;
}
