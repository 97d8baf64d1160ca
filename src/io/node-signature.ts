import { constants, createPublicKey, verify, type JsonWebKey as NodeJwk, type KeyObject, type VerifyKeyObjectInput } from "node:crypto";
import { ecdsaDerToRaw, verifyKeyParts, type SignatureVerifier, type VerifyKeyParts } from "../pki/signature.js";

const NODE_HASH = { "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512" } as const;

/**
 * A signature check on node:crypto's one-shot `verify`, on the calling thread: the cheapest check
 * in CPU. WebCrypto imports the key on the main thread and then hands the check to libuv's thread
 * pool, with much more work in JavaScript around it. On the 2-core `node` machine `npm run bench`
 * read and checked 4720 P-256 CSRs/s this way against 3536/s with WebCrypto (1.33x). Same verdicts
 * as webCryptoVerifier: the key is taken apart by verifyKeyParts (a JWK import still checks that an
 * EC point lies on its curve), and an ECDSA signature is read by the engine's strict DER reader
 * before OpenSSL sees it. `certs check-expiration --verify` uses this one.
 */
export const nodeSignatureVerifier: SignatureVerifier = async (sigOid, spki, signature, data) => {
  try {
    const [algorithm, key, sig] = verifyArguments(sigOid, spki, signature);
    return verify(algorithm, data, key, sig);
  } catch {
    return false;
  }
};

/**
 * The same check, with the key imported on the calling thread and the signature checked on libuv's
 * thread pool (`verify` with a callback), so that the main thread goes on reading and writing while
 * OpenSSL works: the approver's. Issuing a check costs 6–9 µs of the main thread against 107–114 µs
 * for the whole check (P-256, 2-core `node` machine); the CPU in all is the same. In the approver's
 * bursts of 200 CSRs on the real API server (`npm run bench`, 5 rounds), its main thread went from
 * 170 ms to 140 ms per burst.
 */
export const threadPoolSignatureVerifier: SignatureVerifier = async (sigOid, spki, signature, data) => {
  try {
    const [algorithm, key, sig] = verifyArguments(sigOid, spki, signature);
    return await new Promise<boolean>((resolve) => verify(algorithm, data, key, sig, (error, valid) => resolve(!error && valid)));
  } catch {
    return false;
  }
};

/** What node:crypto's `verify` takes for a signature made with `sigOid` by the key `spki`; throws when the key does not fit. */
function verifyArguments(sigOid: string, spki: Uint8Array<ArrayBuffer>, signature: Uint8Array<ArrayBuffer>): [string | null, KeyObject | VerifyKeyObjectInput, Uint8Array] {
  const { parts, key } = keyFor(spki, sigOid);
  switch (parts.kind) {
    case "rsa":
      return [NODE_HASH[parts.hash!], { key, padding: constants.RSA_PKCS1_PADDING }, signature];
    case "ecdsa":
      return [NODE_HASH[parts.hash!], { key, dsaEncoding: "ieee-p1363" }, ecdsaDerToRaw(signature, parts.scalarBytes!)];
    case "ed25519":
      return [null, key, signature];
  }
}

/**
 * KeyObjects by the SPKI byte array they were made from (the same array object, not equal bytes),
 * and the signature algorithm. `certs check-expiration --verify` passes one array per issuer key,
 * so each key is taken apart and imported once for all the certificates it signed; a CSR's key
 * (the approver) is a new array each time and is dropped with it.
 */
const KEYS = new WeakMap<Uint8Array, Map<string, { readonly parts: VerifyKeyParts; readonly key: KeyObject }>>();

function keyFor(spki: Uint8Array<ArrayBuffer>, sigOid: string): { readonly parts: VerifyKeyParts; readonly key: KeyObject } {
  let byAlgorithm = KEYS.get(spki);
  const known = byAlgorithm?.get(sigOid);
  if (known) return known;
  const parts = verifyKeyParts(spki, sigOid);
  // A compressed EC point has no JWK form; OpenSSL reads the whole SPKI then (slower, still exact).
  const key: KeyObject = parts.jwk ? createPublicKey({ key: parts.jwk as NodeJwk, format: "jwk" }) : createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  if (!byAlgorithm) KEYS.set(spki, (byAlgorithm = new Map()));
  byAlgorithm.set(sigOid, { parts, key });
  return { parts, key };
}
