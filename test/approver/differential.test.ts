/**
 * One reading: every request the approver approves must be read by Go's crypto/x509 (what
 * kube-apiserver and kube-controller-manager run) exactly as kpki reads it. Go's reading comes
 * from testdata/go-csr-twin; each named case below is a request an adversarial review or the
 * differential fuzzer found read two ways, kept as a regression test.
 */
import { createHash, generateKeyPairSync, type KeyObject } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decideCsr, DEFAULT_POLICY, type CsrObject, type Decision, type NodeObject, type PolicyConfig } from "../../src/approver/policy.js";
import { readRequest, RequestError, type StrictRequest } from "../../src/approver/request.js";
import { nodeSignatureVerifier } from "../../src/io/node-signature.js";
import { bitString, compareBytes, concat, context, octetString, oid, sequence, setOf, smallInteger, tlv, unsignedInteger, type Bytes } from "../../src/pki/der.js";
import { encodePem } from "../../src/pki/pem.js";
import {
  bmp, buildCsr, dnsName, extension, extensionRequest, ipAddress, nodeSubject, OIDS, rawOid, rdn, sanExtension, sanValue, str, testKey, utf8, type TestKey,
} from "../helpers/csr-builder.js";
import { describeGo, viewDifferences } from "../helpers/csr-views.js";
import { startGoCsrTwin, type GoCsrTwin, type GoCsrView } from "../helpers/go-twin.js";
import { missingBinaries } from "../helpers/testenv.js";

const skip = missingBinaries("go");
const NOW = new Date(Date.UTC(2026, 10, 26, 12, 0, 0));
const NODES: NodeObject[] = [
  { metadata: { name: "n1", creationTimestamp: "2026-11-01T00:00:00Z" }, status: { addresses: [
    { type: "Hostname", address: "n1" }, { type: "InternalIP", address: "10.0.0.11" }, { type: "InternalIP", address: "fd00::11" },
    { type: "InternalDNS", address: "n1.int.example.com" }] } },
  { metadata: { name: "n2", creationTimestamp: "2026-11-01T00:00:00Z" }, status: { addresses: [{ type: "Hostname", address: "n2" }, { type: "InternalIP", address: "10.0.0.12" }] } },
];
const CFG: PolicyConfig = { ...DEFAULT_POLICY, apiServerAddresses: ["192.0.2.100"], podCidrs: ["10.244.0.0/16"] };

const object = (request: Bytes, rsa: boolean): CsrObject => ({
  metadata: { name: "csr-x", creationTimestamp: "2026-11-26T11:59:00Z" },
  spec: {
    request: Buffer.from(request).toString("base64"), signerName: "kubernetes.io/kubelet-serving", username: "system:node:n1",
    groups: ["system:nodes", "system:authenticated"], usages: rsa ? ["digital signature", "key encipherment", "server auth"] : ["digital signature", "server auth"],
  },
});

/** Members in descending order of their encodings: the reverse of what DER (X.690 §11.6) requires of a SET OF. */
const unsortedConcat = (...members: Bytes[]): Bytes => {
  const sorted = [...members].sort(compareBytes);
  if (compareBytes(sorted[0]!, sorted[sorted.length - 1]!) === 0) throw new Error("members must differ");
  return concat(sorted.reverse());
};
const unsortedSet = (...members: Bytes[]): Bytes => tlv(0x31, unsortedConcat(...members));
const CHALLENGE_PASSWORD = "1.2.840.113549.1.9.7";
const challengePassword = (value: Bytes): Bytes => sequence(oid(CHALLENGE_PASSWORD), setOf([value]));
const extensionRequestAttribute = (...extensions: Bytes[]): Bytes => sequence(oid(OIDS.extensionRequest), setOf([sequence(...extensions)]));

interface Reading {
  readonly decision: Decision;
  readonly kpki: StrictRequest | RequestError;
  readonly go: GoCsrView;
}

describe.skipIf(skip)("the approver reads a request as Go's crypto/x509 does", () => {
  let go: GoCsrTwin;
  let ec: TestKey;
  let rsa: TestKey;
  beforeAll(async () => {
    go = await startGoCsrTwin();
    ec = testKey("ec");
    rsa = testKey("rsa");
  }, 120_000);
  afterAll(async () => go?.close());

  async function read(request: Bytes | string, isRsa = false): Promise<Reading> {
    const bytes = typeof request === "string" ? utf8(request) : request;
    const decision = await decideCsr(object(bytes, isRsa), NODES, CFG, NOW, nodeSignatureVerifier);
    let kpki: StrictRequest | RequestError;
    try {
      kpki = readRequest(bytes);
    } catch (error) {
      if (!(error instanceof RequestError)) throw error;
      kpki = error;
    }
    const [g] = await go.parse([bytes]);
    return { decision, kpki, go: g! };
  }

  /** Where both read the request, they read the same; what kpki approves, Go reads and its signature verifies. */
  function expectOneReading(r: Reading): void {
    if (r.go.stage === "ok" && !(r.kpki instanceof RequestError)) expect(viewDifferences(r.kpki, r.go.derHex, r.go.view)).toEqual([]);
    if (r.decision.decision === "approve") {
      expect(r.go.stage, describeGo(r.go)).toBe("ok");
      if (r.go.stage === "ok") expect(r.go.view.checkSignature).toBe("");
    }
  }

  it("approves what Go's kubelet template makes (client-go MakeCSRFromTemplate), for every key type, and reads it as Go does", async () => {
    const keys: [string, KeyObject, boolean][] = [
      ["ECDSA P-256", generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey, false],
      ["ECDSA P-384", generateKeyPairSync("ec", { namedCurve: "secp384r1" }).privateKey, false],
      ["ECDSA P-521", generateKeyPairSync("ec", { namedCurve: "secp521r1" }).privateKey, false],
      ["RSA-2048", generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey, true],
      ["Ed25519", generateKeyPairSync("ed25519").privateKey, false],
    ];
    const pems = await go.create(keys.map(([, key]) => ({
      keyPem: key.export({ type: "pkcs8", format: "pem" }).toString(), commonName: "system:node:n1", organization: ["system:nodes"],
      dnsNames: ["n1", "n1.int.example.com"], ips: ["10.0.0.11", "fd00::11"],
    })));
    for (const [i, [name, , isRsa]] of keys.entries()) {
      const r = await read(pems[i]!, isRsa);
      expect([name, r.decision.decision, r.decision.reason], r.decision.message).toEqual([name, "approve", "NodeAddressesVerified"]);
      expect(r.go.stage).toBe("ok");
      expectOneReading(r);
    }
  });

  // Each: a request, what kpki must decide, and (where it shows the danger) what Go reads from it.
  const evil = sanValue(dnsName("kubernetes.default.svc.cluster.local"), dnsName("n2"), ipAddress([10, 96, 0, 1]), ipAddress([10, 0, 0, 12]));
  const good = sanValue(dnsName("n1"), ipAddress([10, 0, 0, 11]));
  const cases: { name: string; make: () => Bytes | string; reason: string; decision?: string; message?: RegExp; rsa?: boolean; go?: (g: GoCsrView) => void }[] = [
    {
      name: "SAN smuggling: Extension { OID, OCTET STRING (evil SANs), OCTET STRING (the node's own) } — Go reads the first",
      make: () => buildCsr(ec, { attributes: extensionRequest(extension(OIDS.san, octetString(evil), octetString(good))) }).pem,
      reason: "MalformedRequest",
      go: (g) => expect(g.stage === "ok" && g.view.dnsNames).toEqual(["kubernetes.default.svc.cluster.local", "n2"]),
    },
    {
      name: "SAN smuggling, the other order: Extension { OID, OCTET STRING (own), OCTET STRING (evil) }",
      make: () => buildCsr(ec, { attributes: extensionRequest(extension(OIDS.san, octetString(good), octetString(evil))) }).pem,
      reason: "MalformedRequest",
    },
    {
      name: "bytes after the GeneralNames SEQUENCE inside the SAN value (Go's forEachSAN skips them)",
      make: () => buildCsr(ec, { attributes: extensionRequest(extension(OIDS.san, octetString(concat([good, dnsName("n2")])))) }).pem,
      reason: "MalformedRequest",
    },
    {
      name: "a SET where the extensionRequest's SEQUENCE belongs (Go ignores the attribute: no SANs)",
      make: () => buildCsr(ec, { attributes: context(0, sequence(oid(OIDS.extensionRequest), setOf([tlv(0x31, sanExtension(dnsName("n1")))])), true) }).pem,
      reason: "MalformedRequest",
    },
    {
      name: "an attribute tagged [0] instead of SEQUENCE",
      make: () => buildCsr(ec, { attributes: context(0, tlv(0xa0, concat([oid(OIDS.extensionRequest), setOf([sequence(sanExtension(dnsName("n1")))])])), true) }).pem,
      reason: "MalformedRequest",
    },
    {
      name: "critical encoded as BOOLEAN 0x01",
      make: () => buildCsr(ec, { attributes: extensionRequest(extension(OIDS.san, tlv(0x01, Uint8Array.of(1)), octetString(good))) }).pem,
      reason: "MalformedRequest",
    },
    {
      name: "critical FALSE written out (DER omits the default)",
      make: () => buildCsr(ec, { attributes: extensionRequest(extension(OIDS.san, tlv(0x01, Uint8Array.of(0)), octetString(good))) }).pem,
      reason: "MalformedRequest",
    },
    {
      name: "a non-minimal subjectAltName OID (2.5.29.17 with a 0x80 pad)",
      make: () => buildCsr(ec, { attributes: extensionRequest(extension(rawOid(0x55, 0x1d, 0x80, 0x11), octetString(good))) }).pem,
      reason: "MalformedRequest",
    },
    {
      name: "a non-minimal extensionRequest OID",
      make: () => buildCsr(ec, { attributes: context(0, sequence(rawOid(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x80, 0x0e), setOf([sequence(sanExtension(dnsName("n1")))])), true) }).pem,
      reason: "MalformedRequest",
    },
    {
      name: "a non-minimal CN OID",
      make: () => buildCsr(ec, { subject: sequence(rdn(OIDS.o, str("system:nodes")), rdn(rawOid(0x55, 0x04, 0x80, 0x03), str("system:node:n1"))) }).pem,
      reason: "MalformedRequest",
    },
    {
      name: "an OID ending in a continuation byte",
      make: () => buildCsr(ec, { subject: sequence(rdn(OIDS.o, str("system:nodes")), rdn(rawOid(0x55, 0x04, 0x83), str("system:node:n1"))) }).pem,
      reason: "MalformedRequest",
    },
    {
      name: "an extra element in the CertificationRequestInfo (Go skips it)",
      make: () => buildCsr(ec, { trailing: [octetString(evil)] }).pem,
      reason: "MalformedRequest",
    },
    {
      name: "a second value in the extensionRequest SET (Go reads only the first)",
      make: () => buildCsr(ec, { attributes: context(0, sequence(oid(OIDS.extensionRequest), setOf([sequence(sanExtension(dnsName("n1"))), sequence(extension(OIDS.san, octetString(evil)))])), true) }).pem,
      reason: "MalformedRequest",
    },
    {
      name: "a subject attribute with a trailing element (Go reads the first value)",
      make: () => buildCsr(ec, { subject: sequence(rdn(OIDS.o, str("system:nodes")), setOf([sequence(oid(OIDS.cn), str("system:node:n2"), str("system:node:n1"))])) }).pem,
      reason: "MalformedRequest",
    },
    {
      name: "a UTF-8 BOM before -----BEGIN (Go's pem.Decode finds no block)",
      make: () => `\ufeff${buildCsr(ec).pem}`,
      reason: "MalformedRequest",
      go: (g) => expect(g.stage).toBe("pem"),
    },
    { name: "a space before -----BEGIN", make: () => ` ${buildCsr(ec).pem}`, reason: "MalformedRequest" },
    { name: "a text line before the block (Go skips it)", make: () => `hello\n${buildCsr(ec).pem}`, reason: "MalformedRequest" },
    { name: "a PEM header line", make: () => buildCsr(ec).pem.replace("-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n"), reason: "MalformedRequest" },
    {
      name: "a second block after the first (Go reads only the first)",
      make: () => buildCsr(ec).pem + buildCsr(ec, { attributes: extensionRequest(extension(OIDS.san, octetString(evil))) }).pem,
      reason: "MalformedRequest",
    },
    { name: "a CN as OCTET STRING (Go: not a string, so no CN at all)", make: () => buildCsr(ec, { subject: sequence(rdn(OIDS.o, str("system:nodes")), rdn(OIDS.cn, octetString(utf8("system:node:n1")))) }).pem, reason: "MalformedRequest" },
    { name: "a CN as UniversalString (Go does not decode it)", make: () => buildCsr(ec, { subject: sequence(rdn(OIDS.o, str("system:nodes")), rdn(OIDS.cn, tlv(0x1c, Uint8Array.from([..."system:node:n1"].flatMap((c) => [0, 0, 0, c.charCodeAt(0)]))))) }).pem, reason: "MalformedRequest" },
    { name: "an O as T61String with bytes above 0x7f (Go keeps the raw bytes)", make: () => buildCsr(ec, { subject: sequence(rdn(OIDS.o, tlv(0x14, Uint8Array.from([...utf8("system:nodes"), 0xe9]))), rdn(OIDS.cn, str("system:node:n1"))) }).pem, reason: "MalformedRequest" },
    { name: "a BMPString CN with a 00 00 terminator (Go strips it)", make: () => buildCsr(ec, { subject: sequence(rdn(OIDS.o, str("system:nodes")), rdn(OIDS.cn, tlv(0x1e, concat([bmp("system:node:n1").subarray(2), Uint8Array.of(0, 0)])))) }).pem, reason: "MalformedRequest" },
    {
      name: "a correct UTF-16 BMPString CN is read as Go reads it, and approved",
      make: () => buildCsr(ec, { subject: sequence(rdn(OIDS.o, bmp("system:nodes")), rdn(OIDS.cn, bmp("system:node:n1"))) }).pem,
      decision: "approve", reason: "NodeAddressesVerified",
    },
    {
      // Found by the differential fuzzer: TextDecoder drops a leading BOM unless told not to; Go keeps it.
      name: "fuzz: a UTF8String O that starts with a BOM (U+FEFF) is not system:nodes, as Go reads it",
      make: () => buildCsr(ec, { subject: sequence(rdn(OIDS.o, tlv(0x0c, concat([Uint8Array.of(0xef, 0xbb, 0xbf), utf8("system:nodes")]))), rdn(OIDS.cn, str("system:node:n1"))) }).pem,
      reason: "OrganizationMismatch",
      go: (g) => expect(g.stage === "ok" && g.view.organizationHex).toEqual(["efbbbf73797374656d3a6e6f646573"]),
    },
    {
      // Found by the differential fuzzer: Go 1.19's cryptobyte reads a named-curve OID with a 0x80 pad as the curve.
      name: "fuzz: a non-minimal named-curve OID in the key is not canonical DER",
      make: () => buildCsr(ec, { spki: sequence(sequence(oid("1.2.840.10045.2.1"), rawOid(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x80, 0x07)), bitString(ec.spki.subarray(ec.spki.length - 65))) }).pem,
      reason: "MalformedRequest",
      go: (g) => expect(g.stage === "ok" && g.view.publicKey.type).toBe("ecdsa"),
    },
    {
      // Found by `npm run fuzz` (seed 202c28cd9e1c): Go's cryptobyte reads N and E and ignores the rest of the RSAPublicKey.
      name: "fuzz: bytes after the exponent inside the RSA public key are not canonical DER",
      make: () => buildCsr(rsa, { spki: rsaSpkiWithTrailer(rsa) }).pem,
      reason: "MalformedRequest",
      rsa: true,
      go: (g) => expect(g.stage === "ok" && g.view.publicKey.type).toBe("rsa"),
    },
    {
      name: "a subject RDN with two attributes out of DER order (SET OF) is not canonical DER",
      make: () => buildCsr(ec, { subject: sequence(unsortedSet(sequence(oid(OIDS.o), str("system:nodes", 0x13)), sequence(oid(OIDS.cn), str("system:node:n1", 0x13)))) }).pem,
      reason: "MalformedRequest",
      message: /not the canonical DER of the request \(an unsorted SET OF/,
      go: (g) => expect(g.stage).toBe("ok"), // Go reads it all the same: its parser does not check the order of a SET OF
    },
    {
      name: "attributes out of DER order in [0] are not canonical DER",
      make: () => buildCsr(ec, { attributes: context(0, unsortedConcat(challengePassword(str("a", 0x13)), extensionRequestAttribute(sanExtension(dnsName("n1")))), true) }).pem,
      reason: "MalformedRequest",
      message: /not the canonical DER of the request \(an unsorted SET OF/,
      go: (g) => expect(g.stage).toBe("ok"), // Go reads it all the same: its parser does not check the order of a SET OF
    },
    {
      name: "an attribute's values out of DER order (SET OF) are not canonical DER",
      make: () => buildCsr(ec, { attributes: context(0, concat([extensionRequestAttribute(sanExtension(dnsName("n1"))), sequence(oid(CHALLENGE_PASSWORD), unsortedSet(str("a", 0x13), str("b", 0x13)))].sort(compareBytes)), true) }).pem,
      reason: "MalformedRequest",
      message: /not the canonical DER of the request \(an unsorted SET OF/,
      go: (g) => expect(g.stage).toBe("ok"), // Go reads it all the same: its parser does not check the order of a SET OF
    },
    { name: "a DNS SAN that is an IP literal (10.0.0.12, node n2's address)", make: () => buildCsr(ec, { attributes: extensionRequest(sanExtension(dnsName("10.0.0.12"))) }).pem, reason: "DNSNameIsIPAddress" },
    { name: "a DNS SAN that inet_aton reads as an IP (0x0a00000c)", make: () => buildCsr(ec, { attributes: extensionRequest(sanExtension(dnsName("0x0a00000c"))) }).pem, reason: "DNSNameIsIPAddress" },
    { name: "NAT64 form of the kubernetes service IP (64:ff9b::10.96.0.1)", make: () => buildCsr(ec, { attributes: extensionRequest(sanExtension(ipAddress([0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 10, 96, 0, 1]))) }).pem, reason: "ReservedIP" },
    { name: "6to4 form of the API server's address (2002:c000:0264::)", make: () => buildCsr(ec, { attributes: extensionRequest(sanExtension(ipAddress([0x20, 0x02, 192, 0, 2, 100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]))) }).pem, reason: "ReservedIP" },
    { name: "IPv4-compatible form of loopback (::127.0.0.1)", make: () => buildCsr(ec, { attributes: extensionRequest(sanExtension(ipAddress([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 127, 0, 0, 1]))) }).pem, reason: "ReservedIP" },
    { name: "IPv4-mapped form of a pod IP (::ffff:10.244.1.1)", make: () => buildCsr(ec, { attributes: extensionRequest(sanExtension(ipAddress([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 244, 1, 1]))) }).pem, reason: "ReservedIP" },
    {
      name: "RSA with public exponent 1: a signature anyone can forge, which Go accepts",
      make: () => forgedExponentOne(),
      reason: "WeakKey",
      rsa: true,
      go: (g) => expect(g.stage === "ok" && g.view.checkSignature).toBe(""),
    },
    {
      name: "a compressed P-256 point (Go refuses the key): a key reason, not BadSignature",
      make: () => buildCsr(ec, { spki: compressedSpki(ec) }).pem,
      reason: "UnsupportedKey",
      go: (g) => expect(g.stage).toBe("parse"),
    },
    { name: "secp256k1, which Go does not read: a key reason, not BadSignature", make: () => buildCsr(testKey("ec", "secp256k1")).pem, reason: "UnsupportedKey" },
    { name: "P-224: a weak curve", make: () => buildCsr(testKey("ec", "secp224r1")).pem, reason: "WeakKey" },
    {
      name: "a request signed with SHA-1 (Go accepts SHA-1 for requests; kpki does not)",
      make: () => sha1Signed(),
      reason: "UnsupportedSignatureAlgorithm",
      rsa: true,
    },
  ];

  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const r = await read(c.make(), c.rsa);
    expect([r.decision.decision, r.decision.reason], `${r.decision.message}\nGo: ${describeGo(r.go)}`).toEqual([c.decision ?? "deny", c.reason]);
    expect(r.decision.message.length).toBeGreaterThan(5);
    if (c.message) expect(r.decision.message).toMatch(c.message);
    c.go?.(r.go);
    expectOneReading(r);
  });

  it("the refusal names the offset: a BOOLEAN 0x01 is reported at its byte", async () => {
    const { der, pem } = buildCsr(ec, { attributes: extensionRequest(extension(OIDS.san, tlv(0x01, Uint8Array.of(1)), octetString(good))) });
    const r = await read(pem);
    const at = Number(/at byte (\d+)/.exec(r.decision.message)?.[1]);
    expect(der[at]).toBe(0x01); // the BOOLEAN's tag
    expect(r.decision.message).toMatch(/BOOLEAN must be one byte, 0x00 or 0xff/);
  });

  function forgedExponentOne(): Bytes {
    // n: any 2048-bit odd number; e = 1, so "verification" computes sig^1 mod n = sig: the
    // signature is the PKCS#1 v1.5 encoding of the digest itself, made without any private key.
    const n = new Uint8Array(256).fill(0xc5);
    n[255] = 0xc7;
    const spki = sequence(sequence(oid("1.2.840.113549.1.1.1"), tlv(0x05, new Uint8Array(0))), bitString(sequence(tlv(0x02, concat([Uint8Array.of(0), n])), smallInteger(1))));
    const info = sequence(smallInteger(0), nodeSubject(), spki, extensionRequest(sanExtension(dnsName("n1"), ipAddress([10, 0, 0, 11]))));
    const digestInfo = concat([Uint8Array.from([0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20]), sha256(info)]);
    const em = concat([Uint8Array.of(0, 1), new Uint8Array(256 - 3 - digestInfo.length).fill(0xff), Uint8Array.of(0), digestInfo]);
    const der = sequence(info, sequence(oid(OIDS.sha256WithRSA), tlv(0x05, new Uint8Array(0))), bitString(em));
    return utf8(encodePem("CERTIFICATE REQUEST", der));
  }

  function rsaSpkiWithTrailer(k: TestKey): Bytes {
    // SPKI = SEQUENCE { AlgorithmIdentifier, BIT STRING { RSAPublicKey } }, with a NULL after e in the RSAPublicKey.
    const jwk = k.key.export({ format: "jwk" });
    const int = (b64url: string | undefined) => unsignedInteger(new Uint8Array(Buffer.from(b64url ?? "", "base64url")));
    return sequence(sequence(oid("1.2.840.113549.1.1.1"), tlv(0x05, new Uint8Array(0))), bitString(sequence(int(jwk.n), int(jwk.e), tlv(0x05, new Uint8Array(0)))));
  }

  function compressedSpki(k: TestKey): Bytes {
    const point = k.spki.subarray(k.spki.length - 65);
    const compressed = concat([Uint8Array.of(point[64]! & 1 ? 0x03 : 0x02), point.subarray(1, 33)]);
    return sequence(sequence(oid("1.2.840.10045.2.1"), oid("1.2.840.10045.3.1.7")), bitString(compressed));
  }

  function sha1Signed(): string {
    return buildCsr({ ...rsa, algorithm: sequence(oid("1.2.840.113549.1.1.5"), tlv(0x05, new Uint8Array(0))), hash: "sha1" }).pem;
  }
});

const sha256 = (data: Bytes): Bytes => new Uint8Array(createHash("sha256").update(data).digest());
