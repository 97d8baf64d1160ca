import { createPublicKey, ECDH, generateKeyPairSync, sign as nodeSign, verify as nodeVerify, type KeyObject } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateKeyPair, KEY_ALGORITHMS } from "../../src/pki/keys.js";
import { nodeSignatureVerifier, threadPoolSignatureVerifier } from "../../src/io/node-signature.js";
import { sign, signatureOidFor, verify, webCryptoVerifier, type SignatureVerifier, type VerifyKeyCache } from "../../src/pki/signature.js";
import { crypto } from "../helpers/clock.js";

const flipBit = (bytes: Uint8Array<ArrayBuffer>, at: number): Uint8Array<ArrayBuffer> => {
  const out = bytes.slice();
  out[at] = (out[at] ?? 0) ^ 1;
  return out;
};
/** The uncompressed point (04 || x || y) of an EC public key. */
const uncompressedPoint = (key: KeyObject): Uint8Array => {
  const jwk = key.export({ format: "jwk" });
  return new Uint8Array([4, ...Buffer.from(jwk.x!, "base64url"), ...Buffer.from(jwk.y!, "base64url")]);
};
const NODE_HASH: Record<string, string | null> = { "RSA-2048": "sha256", "RSA-3072": "sha256", "RSA-4096": "sha256", "ECDSA-P256": "sha256", "ECDSA-P384": "sha384", Ed25519: null };

/**
 * verifyKeyParts takes the SPKI apart; WebCrypto imports RSA keys as JWK and EC/Ed25519 keys as
 * raw points, node:crypto imports JWKs, on the calling thread (--verify) or with the check on the
 * thread pool (the approver's). Each verdict of all three is checked against OpenSSL reading the
 * same SPKI whole.
 */
const VERIFIERS: [string, SignatureVerifier][] = [["WebCrypto", webCryptoVerifier(crypto)], ["node:crypto", nodeSignatureVerifier], ["node:crypto, thread pool", threadPoolSignatureVerifier]];

describe("signature verification", () => {
  it.each(KEY_ALGORITHMS.filter((a) => a !== "RSA-4096"))("%s: agrees with node:crypto on good, tampered and foreign signatures", async (algorithm) => {
    const pair = await generateKeyPair(algorithm, crypto);
    const other = await generateKeyPair(algorithm, crypto);
    const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
    const otherSpki = new Uint8Array(await crypto.subtle.exportKey("spki", other.publicKey));
    const oid = signatureOidFor(algorithm);
    const data = new TextEncoder().encode(`to be signed by ${algorithm}`);
    const signature = await sign(oid, pair.privateKey, data, crypto);
    const tamperedData = flipBit(data, 0);
    const tamperedSig = flipBit(signature, signature.length - 1);
    const cases: [Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>, boolean][] = [
      [spki, signature, data, true],
      [spki, signature, tamperedData, false],
      [spki, tamperedSig, data, false],
      [otherSpki, signature, data, false],
    ];
    for (const [key, sig, msg, expected] of cases) {
      const openssl = nodeVerify(NODE_HASH[algorithm]!, msg, createPublicKey({ key: Buffer.from(key), format: "der", type: "spki" }), sig);
      expect(openssl).toBe(expected);
      expect(await verify(oid, key, sig, msg, crypto)).toBe(expected);
      for (const [name, check] of VERIFIERS) expect(await check(oid, key, sig, msg), name).toBe(expected);
      const cache: VerifyKeyCache = new Map();
      expect(await verify(oid, key, sig, msg, crypto, cache)).toBe(expected);
      expect(await verify(oid, key, sig, msg, crypto, cache)).toBe(expected);
    }
  });

  it("refuses an EC point that is not on the curve, and a key that does not fit the algorithm", async () => {
    const pair = await generateKeyPair("ECDSA-P256", crypto);
    const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
    const data = new TextEncoder().encode("x");
    const signature = await sign("1.2.840.10045.4.3.2", pair.privateKey, data, crypto);
    const offCurve = flipBit(spki, spki.length - 1); // y no longer solves the curve equation for x
    expect(() => createPublicKey({ key: Buffer.from(offCurve), format: "der", type: "spki" })).toThrow();
    expect(await verify("1.2.840.10045.4.3.2", offCurve, signature, data, crypto)).toBe(false);
    // An ECDSA signature checked as RSA, and a truncated key: false, never a throw.
    expect(await verify("1.2.840.113549.1.1.11", spki, signature, data, crypto)).toBe(false);
    expect(await verify("1.2.840.10045.4.3.2", spki.subarray(0, spki.length - 5), signature, data, crypto)).toBe(false);
    for (const [name, check] of VERIFIERS) {
      expect(await check("1.2.840.10045.4.3.2", spki, signature, data), name).toBe(true);
      expect(await check("1.2.840.10045.4.3.2", offCurve, signature, data), name).toBe(false);
      expect(await check("1.2.840.113549.1.1.11", spki, signature, data), name).toBe(false);
      expect(await check("1.2.840.10045.4.3.2", spki.subarray(0, spki.length - 5), signature, data), name).toBe(false);
      expect(await check("1.2.3.4", spki, signature, data), name).toBe(false);
    }
  });

  it("reads an EC key whose point is compressed (no JWK form) as OpenSSL does", async () => {
    const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const point = ECDH.convertKey(uncompressedPoint(pair.publicKey), "prime256v1", undefined, undefined, "compressed") as Buffer;
    // SubjectPublicKeyInfo { AlgorithmIdentifier { ecPublicKey, prime256v1 }, BIT STRING { 00, point } }
    const algId = [0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const spki = new Uint8Array([0x30, algId.length + 2 + 1 + point.length, ...algId, 0x03, 1 + point.length, 0x00, ...point]);
    expect(point[0] === 2 || point[0] === 3).toBe(true);
    expect(createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" }).asymmetricKeyType).toBe("ec");
    const data = new TextEncoder().encode("compressed");
    const signature = new Uint8Array(nodeSign("sha256", data, pair.privateKey));
    for (const [name, check] of VERIFIERS) {
      expect(await check("1.2.840.10045.4.3.2", spki, signature, data), name).toBe(true);
      expect(await check("1.2.840.10045.4.3.2", spki, signature, flipBit(data, 0)), name).toBe(false);
    }
  });
});
