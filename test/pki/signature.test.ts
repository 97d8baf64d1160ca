import { createPublicKey, verify as nodeVerify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateKeyPair, KEY_ALGORITHMS } from "../../src/pki/keys.js";
import { sign, signatureOidFor, verify, type VerifyKeyCache } from "../../src/pki/signature.js";
import { crypto } from "../helpers/clock.js";

const flipBit = (bytes: Uint8Array<ArrayBuffer>, at: number): Uint8Array<ArrayBuffer> => {
  const out = bytes.slice();
  out[at] = (out[at] ?? 0) ^ 1;
  return out;
};
const NODE_HASH: Record<string, string | null> = { "RSA-2048": "sha256", "RSA-3072": "sha256", "RSA-4096": "sha256", "ECDSA-P256": "sha256", "ECDSA-P384": "sha384", Ed25519: null };

/**
 * importVerifyKey takes the SPKI apart and imports RSA keys as JWK and EC/Ed25519 keys as raw
 * points (the fast forms). Each verdict is checked against OpenSSL reading the same SPKI whole.
 */
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
  });
});
