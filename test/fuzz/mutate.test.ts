import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodePem } from "../../src/pki/pem.js";
import { generalNamesOf, openExtensionValues } from "./csr-tree.js";
import { bytesEqual, fromHex, hex, oidBody, oidText, parse, serialise, type Node } from "./der-tree.js";
import { familyOf, mutate, mutants, OP_FAMILIES, opId, OPS, requestDer, type Mutant, type MutateOptions } from "./mutate.js";
import { createRng } from "./rng.js";
import { kpkiSeeds, opensslSeeds, SIG_ALG_HASH, seedsFromJson, seedsToJson, type Seed } from "./seeds.js";
import { SIG_OIDS, type Hash } from "./signers.js";

let kpki: Seed[] = [];
let openssl: Seed[] = [];
let all: Seed[] = [];
let work = "";

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "kpki-fuzz-"));
  kpki = await kpkiSeeds();
  openssl = opensslSeeds(work);
  all = [...kpki, ...openssl];
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const seedNamed = (name: string): Seed => {
  const s = all.find((x) => x.name === name);
  if (!s) throw new Error(`no seed ${name}`);
  return s;
};

/** The hash a signature AlgorithmIdentifier names; null for Ed25519. */
function hashOfSigAlg(alg: Node | undefined): Hash | null {
  const o = alg?.children?.[0]?.content;
  const text = o ? oidText(o) : undefined;
  if (text === SIG_OIDS.ed25519) return null;
  for (const table of [SIG_OIDS.rsa, SIG_OIDS.ecdsa]) {
    for (const [h, oid] of Object.entries(table)) if (oid === text) return h as Hash;
  }
  throw new Error(`unknown signature algorithm ${text ?? "?"}`);
}

interface Opened {
  readonly info: Node;
  readonly tbs: Uint8Array;
  readonly alg: Node;
  readonly signature: Uint8Array;
  readonly spki: Uint8Array;
}

function open(m: Mutant): Opened {
  const der = requestDer(m.request);
  if (!der) throw new Error(`no PEM block in ${m.ops.join(" | ")}`);
  const [info, alg, bits] = parse(der).children ?? [];
  const spki = info?.children?.[2];
  if (!info || !alg || !bits?.content || !spki) throw new Error("not a CertificationRequest");
  return { info, tbs: serialise(info), alg, signature: bits.content.subarray(1), spki: serialise(spki) };
}

/** Whether the mutant's signature verifies with `key` (default: the SPKI in the mutant). */
function verifies(o: Opened, key?: KeyObject): boolean {
  const pub = key ?? createPublicKey({ key: Buffer.from(o.spki), format: "der", type: "spki" });
  return verify(hashOfSigAlg(o.alg), o.tbs, pub, o.signature);
}

describe("rng", () => {
  it("is deterministic per seed and differs between seeds", () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const seqA = Array.from({ length: 50 }, () => a.next());
    expect(Array.from({ length: 50 }, () => b.next())).toEqual(seqA);
    expect(Array.from({ length: 50 }, () => c.next())).not.toEqual(seqA);
    expect(hex(createRng("fuzz").bytes(16))).toBe(hex(createRng("fuzz").bytes(16)));
    expect(hex(createRng("fuzz").bytes(16))).not.toBe(hex(createRng("fuzz2").bytes(16)));
  });

  it("int(n) covers [0, n) and nothing else", () => {
    const r = createRng(7);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(r.int(7));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(() => r.pick([])).toThrow();
    expect(r.weighted([["a", 0], ["b", 1]])).toBe("b");
  });
});

describe("der-tree", () => {
  it("writes each length form as specified (X.690 §8.1.3)", () => {
    const five = { tag: 0x04, content: fromHex("0102030405") };
    expect(hex(serialise(five))).toBe("04050102030405");
    expect(hex(serialise({ ...five, lengthForm: "long" }))).toBe("0482000501020304 05".replace(" ", ""));
    expect(hex(serialise({ ...five, lengthForm: { longBytes: 1 } }))).toBe("04810501020304 05".replace(" ", ""));
    expect(hex(serialise({ ...five, lengthForm: { delta: 1 } }))).toBe("04060102030405");
    expect(hex(serialise({ tag: 0x30, children: [five], lengthForm: "indefinite" }))).toBe("30800405010203040500 00".replace(" ", ""));
    const big = { tag: 0x04, content: new Uint8Array(300) };
    expect(hex(serialise(big)).slice(0, 8)).toBe("0482012c");
    expect(hex(serialise({ ...big, lengthForm: "long" })).slice(0, 10)).toBe("048300012c");
  });

  it("parses BER length forms back into the same bytes", () => {
    for (const h of ["30820005 0403010203", "3081050403010203", "30800403010203 0000", "3084000000050403010203", "31 00", "a0 03 020100"]) {
      const bytes = fromHex(h);
      expect(hex(serialise(parse(bytes)))).toBe(hex(bytes));
    }
  });

  it("encodes OIDs minimally, non-minimally and dangling (X.690 §8.19)", () => {
    expect(hex(oidBody("2.5.29.17"))).toBe("551d11");
    expect(hex(oidBody("2.5.29.17", { nonMinimalArcs: [2] }))).toBe("551d8011");
    expect(hex(oidBody("2.5.29.17", { nonMinimalArcs: [0] }))).toBe("80551d11");
    expect(hex(oidBody("2.5.29.17", { dangling: true }))).toBe("551d91");
    expect(hex(oidBody("1.2.840.113549.1.9.14"))).toBe("2a864886f70d01090e");
    expect(oidText(fromHex("551d8011"))).toBe("2.5.29.17");
    expect(oidText(fromHex("551d91"))).toBeUndefined();
  });

  it("round-trips every seed's DER exactly", () => {
    expect(all.length).toBe(7);
    for (const s of all) expect(hex(serialise(parse(s.der))), s.name).toBe(hex(s.der));
  });
});

describe("seeds", () => {
  it("describe node n1 and carry valid self-signatures", () => {
    for (const s of all) {
      const m: Mutant = { seed: s.name, ops: [], request: new TextEncoder().encode(encodePem("CERTIFICATE REQUEST", Uint8Array.from(s.der))) };
      const o = open(m);
      expect(verifies(o, createPublicKey(s.key)), s.name).toBe(true);
      expect(hashOfSigAlg(o.alg), s.name).toBe(SIG_ALG_HASH[s.sigAlg] ?? null);
      const text = Buffer.from(o.tbs).toString("latin1");
      expect(text, s.name).toContain("system:node:n1");
      expect(text, s.name).toContain("system:nodes");
      const names = generalNamesOf(openExtensionValues(o.info))?.children ?? [];
      expect(names.some((n) => n.tag === 0x82 && Buffer.from(n.content ?? []).toString() === "n1"), s.name).toBe(true);
      expect(names.some((n) => n.tag === 0x87 && hex(n.content ?? new Uint8Array(0)) === "0a00000b"), s.name).toBe(true);
    }
  });
});

describe("seed files", () => {
  it("round-trip through JSON, so that a mutant stream replays in another process", () => {
    const again = seedsFromJson(seedsToJson(all));
    expect(again.map((s) => s.name)).toEqual(all.map((s) => s.name));
    const a = [...mutants(all, createRng("json"), 50)];
    const b = [...mutants(again, createRng("json"), 50)];
    for (let i = 0; i < a.length; i++) expect(bytesEqual(a[i]!.request, b[i]!.request), a[i]!.ops.join(" | ")).toBe(true);
  });
});

describe("mutate", () => {
  it("never throws: a seed it cannot read comes back as a noop", () => {
    const bad: Seed = { ...all[0]!, name: "bad", der: Uint8Array.of(0x30, 0x03, 0x02, 0x01) };
    const m = mutate(bad, createRng(1));
    expect(m.ops).toEqual(["noop"]);
    expect(m.seed).toBe("bad");
  });

  it("replays the same mutants from the same PRNG seed, byte for byte", () => {
    const run = (seed: number): Mutant[] => [...mutants(all, createRng(seed), 200)];
    const a = run(1234);
    const b = run(1234);
    expect(b.map((m) => m.ops)).toEqual(a.map((m) => m.ops));
    for (let i = 0; i < a.length; i++) expect(bytesEqual(b[i]!.request, a[i]!.request), `mutant ${i}`).toBe(true);
    const c = run(1235);
    expect(c.filter((m, i) => bytesEqual(m.request, a[i]!.request)).length).toBeLessThan(20);
  });

  it("with no ops, re-signs the seed through the tree: identical DER for RSA and Ed25519, same TBS for ECDSA", () => {
    for (const s of all) {
      const m = mutate(s, createRng(1), { minOps: 0, maxOps: 0 });
      expect(m.ops).toEqual(["noop"]);
      const seedPem = encodePem("CERTIFICATE REQUEST", Uint8Array.from(s.der));
      const o = open(m);
      const [seedInfo] = parse(s.der).children ?? [];
      expect(hex(o.tbs), s.name).toBe(hex(serialise(seedInfo!)));
      expect(verifies(o, createPublicKey(s.key)), s.name).toBe(true);
      if (!s.sigAlg.startsWith("ecdsa")) expect(new TextDecoder().decode(m.request), s.name).toBe(seedPem);
    }
  });

  it("uses every op family and every op in 20,000 mutants, never falling back to noop", () => {
    const byFamily = new Map<string, number>();
    const byOp = new Map<string, number>();
    const errors: string[] = [];
    const options: MutateOptions = { onError: (e, op) => errors.push(`${op}: ${(e as Error).message}`) };
    const seeds = [...kpki, seedNamed("openssl-p256")];
    let opCount = 0;
    for (const m of mutants(seeds, createRng(99), 20_000, options)) {
      expect(m.ops.length).toBeGreaterThan(0);
      for (const name of m.ops) {
        opCount++;
        byOp.set(opId(name), (byOp.get(opId(name)) ?? 0) + 1);
        const f = familyOf(name) ?? name;
        byFamily.set(f, (byFamily.get(f) ?? 0) + 1);
      }
    }
    expect(errors).toEqual([]);
    expect(byOp.get("noop") ?? 0).toBe(0);
    for (const f of OP_FAMILIES) expect(byFamily.get(f) ?? 0, f).toBeGreaterThan(0);
    for (const { id } of OPS) expect(byOp.get(id) ?? 0, id).toBeGreaterThan(0);
    const bytesShare = (byFamily.get("bytes") ?? 0) / opCount;
    expect(bytesShare).toBeGreaterThan(0.02);
    expect(bytesShare).toBeLessThan(0.08);
    console.log(`ops per family in 20,000 mutants (${opCount} ops):`, Object.fromEntries([...byFamily].sort((a, b) => b[1] - a[1])));
  });

  it("re-signs a mutant whose TBS only changed in its SANs: it verifies with the seed's public key", () => {
    const sanOnly = ["san-inject", "san-replace", "san-dup", "san-remove", "san-reorder", "san-other-type", "dns-to-ip", "ip-to-dns", "ip-length", "ip-v6-form", "dns-ip-literal"];
    for (const s of all) {
      const [seedInfo] = parse(s.der).children ?? [];
      const seedParts = (seedInfo?.children ?? []).slice(0, 3).map((n) => hex(serialise(n)));
      let changed = 0;
      for (const m of mutants([s], createRng(`san ${s.name}`), 30, { only: sanOnly })) {
        for (const name of m.ops) expect(sanOnly, name).toContain(opId(name));
        const o = open(m);
        expect((o.info.children ?? []).slice(0, 3).map((n) => hex(serialise(n))), m.ops.join(" | ")).toEqual(seedParts);
        if (!bytesEqual(o.tbs, serialise(seedInfo!))) changed++;
        expect(verifies(o, createPublicKey(s.key)), `${s.name}: ${m.ops.join(" | ")}`).toBe(true);
      }
      expect(changed, s.name).toBeGreaterThan(20);
    }
  });

  it("forges an RSA e = 1 signature that node:crypto (OpenSSL) accepts, for RSA and non-RSA seeds", () => {
    for (const name of ["kpki-rsa-2048", "kpki-ecdsa-p256", "kpki-ed25519"]) {
      const m = mutate(seedNamed(name), createRng(3), { only: ["rsa-e1-forged"], maxOps: 1 });
      expect(m.ops[0]).toMatch(/^rsa-e1-forged\(/);
      const o = open(m);
      // OpenSSL loads RSA keys with e = 1 (it checks 1 < n and e's size, not e > 1) and verifies: s^1 mod n = s = EM.
      const pub = createPublicKey({ key: Buffer.from(o.spki), format: "der", type: "spki" });
      expect(pub.asymmetricKeyDetails?.publicExponent).toBe(1n);
      expect(hex(o.signature.subarray(0, 3))).toBe("0001ff");
      expect(verifies(o, pub), name).toBe(true);
      expect(hashOfSigAlg(o.alg)).toBe("sha256");
    }
  });

  it("keeps signatures valid for the ops that re-sign with a valid (if unusual) key or encoding", () => {
    // "seed": verify with the seed's key, because OpenSSL will not load the mutant's SPKI: it refuses
    // Ed25519 AlgorithmIdentifier parameters (RFC 8410 §3 says they MUST be absent) with a decode error.
    const cases: readonly (readonly [string, string, RegExp, "seed"?])[] = [
      ["kpki-ecdsa-p256", "rekey-ec", /./],
      ["kpki-rsa-2048", "rekey-ec", /./],
      ["kpki-ecdsa-p384", "rekey-rsa-e3", /./],
      ["kpki-ecdsa-p256", "ec-point-form", /compressed|hybrid/],
      ["kpki-ecdsa-p384", "ec-point-form", /compressed/],
      ["kpki-ed25519", "key-params", /parameters added/, "seed"],
      ["kpki-ecdsa-p256", "sig-alg-hash", /./],
      ["kpki-ecdsa-p384", "sig-alg-hash", /./],
      ["openssl-rsa2048", "sig-alg-hash", /./],
      ["kpki-ecdsa-p256", "ecdsa-sig", /n−s/],
      ["kpki-ecdsa-p384", "ecdsa-sig", /n−s/],
      ["kpki-rsa-2048", "dup-ext-value", /./],
      ["kpki-ed25519", "confusable", /./],
    ];
    const curves = new Set<string>();
    for (const [seed, op, detail, verifyWith] of cases) {
      let checked = 0;
      for (const m of mutants([seedNamed(seed)], createRng(`${seed} ${op}`), 40, { only: [op], maxOps: 1 })) {
        if (!detail.test(m.ops[0] ?? "")) continue;
        checked++;
        if (op === "rekey-ec") curves.add(m.ops[0] ?? "");
        const key = verifyWith === "seed" ? createPublicKey(seedNamed(seed).key) : undefined;
        expect(verifies(open(m), key), `${seed}: ${m.ops.join(" | ")}`).toBe(true);
      }
      expect(checked, `${seed} ${op}`).toBeGreaterThan(0);
    }
    // Fixed-nonce ECDSA verified on every foreign curve (P-192, P-224, secp256k1, P-521, ...).
    expect([...curves].map((c) => c.replace(/^rekey-ec\((\S+),.*$/, "$1")).sort()).toEqual(
      expect.arrayContaining(["P-192", "P-224", "P-521", "secp256k1"]),
    );
  });

  it("PEM and outer ops do what their names say", () => {
    const s = seedNamed("kpki-ecdsa-p256");
    const text = (op: string, seed = "x"): [string, string] => {
      const m = mutate(s, createRng(seed), { only: [op], maxOps: 1 });
      return [m.ops[0] ?? "", Buffer.from(m.request).toString("latin1")];
    };
    expect(text("pem-bom")[1].startsWith("\xef\xbb\xbf-----BEGIN CERTIFICATE REQUEST-----\n")).toBe(true);
    const [eolOp, eol] = text("pem-eol");
    expect(eol).toContain(eolOp.includes("CRLF") ? "-----\r\n" : "-----\r");
    expect(text("pem-header")[1]).toMatch(/-----\n[A-Za-z-]+: .*\n/);
    expect(text("pem-no-final-newline")[1].endsWith("-----END CERTIFICATE REQUEST-----")).toBe(true);
    expect(text("pem-second-block")[1].match(/-----BEGIN /g)?.length).toBe(2);
    const [lead, leading] = text("pem-leading");
    expect(leading.startsWith("-----BEGIN"), lead).toBe(false);
    const trailing = mutate(s, createRng("t"), { only: ["trailing-bytes"], maxOps: 1 });
    const der = requestDer(trailing.request);
    expect(() => parse(der ?? new Uint8Array(0)), trailing.ops[0]).toThrow(/trailing/);
    const dup = mutate(s, createRng("d"), { only: ["dup-ext-value"], maxOps: 1 });
    const sanExt = parse(requestDer(dup.request) ?? new Uint8Array(0)).children?.[0]?.children?.[3]?.children?.[0]?.children?.[1]?.children?.[0]?.children?.[0];
    expect(sanExt?.children?.filter((c) => c.tag === 0x04).length, dup.ops[0]).toBe(2);
    expect(hex(sanExt?.children?.[0]?.content ?? new Uint8Array(0))).toBe(hex(oidBody("2.5.29.17")));
  });

  it("leaves a valid self-signature on most mutants (printed)", () => {
    let parsed = 0;
    let valid = 0;
    for (const m of mutants(kpki, createRng(11), 2_000)) {
      let o: Opened;
      try {
        o = open(m);
      } catch {
        continue;
      }
      parsed++;
      try {
        if (verifies(o)) valid++;
      } catch {
        // unreadable key or signature algorithm
      }
    }
    console.log(`self-signature: ${parsed} of 2000 mutants open as a TLV CSR, ${valid} verify under their own SPKI (node:crypto)`);
    expect(valid / 2000).toBeGreaterThan(0.5);
  });
});
