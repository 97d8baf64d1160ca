/**
 * Seed CSRs for the mutator: kubelet-serving requests for node n1, each with its private key,
 * made by kpki itself (createCsr) and by the openssl CLI. Seeds from other producers (Go) come in
 * through `seedFromDer`.
 */
import { execFileSync } from "node:child_process";
import { createPrivateKey, KeyObject, verify } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createCsr } from "../../src/pki/csr.js";
import { parseIp } from "../../src/pki/ip.js";
import { generateKeyPair, type KeyAlgorithm } from "../../src/pki/keys.js";
import { NODE } from "./csr-tree.js";
import { bytesEqual, parse, serialise, TAGS } from "./der-tree.js";
import type { Hash } from "./signers.js";

export type SigAlg = "sha256-rsa" | "sha384-rsa" | "ecdsa-sha256" | "ecdsa-sha384" | "ed25519";

export interface Seed {
  readonly name: string;
  /** The CSR (CertificationRequest, RFC 2986 §4.2), DER. */
  readonly der: Uint8Array;
  /** The private key that signed it; mutants are re-signed with it. */
  readonly key: KeyObject;
  readonly sigAlg: SigAlg;
}

/** The digest each signature algorithm uses (undefined: Ed25519 signs the message itself). */
export const SIG_ALG_HASH: Readonly<Record<SigAlg, Hash | undefined>> = {
  "sha256-rsa": "sha256",
  "sha384-rsa": "sha384",
  "ecdsa-sha256": "sha256",
  "ecdsa-sha384": "sha384",
  ed25519: undefined,
};

export class SeedError extends Error {
  override name = "SeedError";
}

/**
 * A seed from DER made elsewhere. Throws SeedError unless the DER parses into the TLV tree and
 * serialises back byte for byte, and its self-signature verifies with `key` under `sigAlg`.
 */
export function seedFromDer(name: string, der: Uint8Array, key: KeyObject, sigAlg: SigAlg): Seed {
  if (key.type !== "private") throw new SeedError(`${name}: a private key is required`);
  let tree;
  try {
    tree = parse(der);
  } catch (error) {
    throw new SeedError(`${name}: not a TLV structure: ${(error as Error).message}`);
  }
  if (!bytesEqual(serialise(tree), der)) throw new SeedError(`${name}: the TLV tree does not round-trip`);
  const [info, , sig] = tree.children ?? [];
  if (!info || !sig?.content || sig.tag !== TAGS.bitString) throw new SeedError(`${name}: not a CertificationRequest`);
  const ok = verify(SIG_ALG_HASH[sigAlg] ?? null, serialise(info), key, sig.content.subarray(1));
  if (!ok) throw new SeedError(`${name}: the self-signature does not verify with the key under ${sigAlg}`);
  return { name, der: Uint8Array.from(der), key, sigAlg };
}

/** Seeds as JSON (DER and PKCS #8 PEM key), so that a mutant stream can be replayed in another process. */
export function seedsToJson(seeds: readonly Seed[]): string {
  return JSON.stringify(
    seeds.map((s) => ({
      name: s.name,
      sigAlg: s.sigAlg,
      der: Buffer.from(s.der).toString("base64"),
      key: s.key.export({ format: "pem", type: "pkcs8" }).toString(),
    })),
    null,
    2,
  );
}

/** The inverse of seedsToJson; every seed is checked as seedFromDer does. */
export function seedsFromJson(text: string): Seed[] {
  const items = JSON.parse(text) as unknown;
  if (!Array.isArray(items)) throw new SeedError("seed JSON must be an array");
  return items.map((item: unknown) => {
    const { name, sigAlg, der, key } = (item ?? {}) as Record<string, unknown>;
    if (typeof name !== "string" || typeof der !== "string" || typeof key !== "string" || typeof sigAlg !== "string" || !(sigAlg in SIG_ALG_HASH)) {
      throw new SeedError("malformed seed entry");
    }
    return seedFromDer(name, new Uint8Array(Buffer.from(der, "base64")), createPrivateKey(key), sigAlg as SigAlg);
  });
}

const ip = (text: string): Uint8Array<ArrayBuffer> => {
  const b = parseIp(text);
  if (!b) throw new SeedError(`bad IP ${text}`);
  return b;
};

const KPKI_SEEDS: readonly (readonly [KeyAlgorithm, SigAlg])[] = [
  ["ECDSA-P256", "ecdsa-sha256"],
  ["ECDSA-P384", "ecdsa-sha384"],
  ["RSA-2048", "sha256-rsa"],
  ["Ed25519", "ed25519"],
];

/** Seeds made by kpki's createCsr: ECDSA P-256, ECDSA P-384, RSA-2048 and Ed25519 (names "kpki-<algorithm>"). */
export async function kpkiSeeds(crypto: Crypto = globalThis.crypto): Promise<Seed[]> {
  const spec = {
    subject: { commonName: NODE.commonName, organizations: [NODE.organization] },
    dnsNames: [...NODE.dnsNames],
    ips: NODE.ips.map(ip),
  };
  const seeds: Seed[] = [];
  for (const [algorithm, sigAlg] of KPKI_SEEDS) {
    const pair = await generateKeyPair(algorithm, crypto);
    const csr = await createCsr(spec, pair, crypto);
    // node's KeyObject.from takes its own webcrypto.CryptoKey type, the same objects as the global CryptoKey.
    const key = KeyObject.from(pair.privateKey as Parameters<typeof KeyObject.from>[0]);
    seeds.push(seedFromDer(`kpki-${algorithm.toLowerCase()}`, csr.der, key, sigAlg));
  }
  return seeds;
}

const OPENSSL_CONFIG = "[req]\ndistinguished_name = dn\nstring_mask = utf8only\n[dn]\n";

/**
 * Seeds made by the openssl CLI in `workDir` (which must exist): P-256 (SHA-256), RSA-2048
 * (SHA-256) and the same RSA key signing with SHA-384. Subject "/O=system:nodes/CN=system:node:n1"
 * (UTF8String, openssl's utf8only mask) and all four SANs.
 */
export function opensslSeeds(workDir: string): Seed[] {
  const run = (args: readonly string[]): void => {
    execFileSync("openssl", args, { cwd: workDir, stdio: ["ignore", "pipe", "pipe"] });
  };
  writeFileSync(join(workDir, "openssl.cnf"), OPENSSL_CONFIG);
  const san = `subjectAltName=${[...NODE.dnsNames.map((d) => `DNS:${d}`), ...NODE.ips.map((a) => `IP:${a}`)].join(",")}`;
  const subject = `/O=${NODE.organization}/CN=${NODE.commonName}`;
  const make = (name: string, keyArgs: readonly string[], digestArg: string, sigAlg: SigAlg, reuseKey?: string): Seed => {
    const keyFile = reuseKey ?? `${name}.key`;
    if (!reuseKey) run(["genpkey", ...keyArgs, "-out", keyFile]);
    const csrFile = `${name}.csr.der`;
    run(["req", "-new", "-batch", "-config", "openssl.cnf", "-key", keyFile, digestArg, "-subj", subject, "-addext", san, "-outform", "DER", "-out", csrFile]);
    const key = createPrivateKey(readFileSync(join(workDir, keyFile)));
    return seedFromDer(name, new Uint8Array(readFileSync(join(workDir, csrFile))), key, sigAlg);
  };
  const p256 = make("openssl-p256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], "-sha256", "ecdsa-sha256");
  const rsa = make("openssl-rsa2048", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], "-sha256", "sha256-rsa");
  const rsa384 = make("openssl-rsa2048-sha384", [], "-sha384", "sha384-rsa", "openssl-rsa2048.key");
  return [p256, rsa, rsa384];
}
