import { execFileSync, spawnSync } from "node:child_process";
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildGoTool, startGoCsrTwin, type GoCsrTwin, type GoCsrView, type GoCsrViewOk, type GoParseResult } from "../helpers/go-twin.js";
import { missingBinaries } from "../helpers/testenv.js";

const skip = missingBinaries("go");
const noOpenssl = missingBinaries("openssl");

// ---- a minimal DER writer, so hand-built CSRs depend on nothing under src/ ----
const bytes = (...parts: (Uint8Array | readonly number[])[]): Uint8Array => Buffer.concat(parts.map((p) => Uint8Array.from(p)));
function tlv(tag: number, ...content: (Uint8Array | readonly number[])[]): Uint8Array {
  const body = bytes(...content);
  const n = body.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return bytes([tag], length, body);
}
const seq = (...c: Uint8Array[]): Uint8Array => tlv(0x30, ...c);
const set = (...c: Uint8Array[]): Uint8Array => tlv(0x31, ...c);
const octets = (c: Uint8Array): Uint8Array => tlv(0x04, c);
const ascii = (s: string): Uint8Array => Buffer.from(s, "latin1");
function oid(dotted: string): Uint8Array {
  const [a = 0, b = 0, ...rest] = dotted.split(".").map(Number);
  const out = [40 * a + b];
  for (const arc of rest) {
    const septets = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) septets.unshift((v & 0x7f) | 0x80);
    out.push(...septets);
  }
  return tlv(0x06, out);
}
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const dns = (name: string): Uint8Array => tlv(0x82, ascii(name));

const OID = { cn: "2.5.4.3", o: "2.5.4.10", san: "2.5.29.17", extReq: "1.2.840.113549.1.9.14", ecdsaSha256: "1.2.840.10045.4.3.2" };

function pemOf(type: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN ${type}-----\n${b64}\n-----END ${type}-----\n`;
}
const derOf = (pem: string): Buffer => Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");

const p256 = (): { privateKey: KeyObject; publicKey: KeyObject } => generateKeyPairSync("ec", { namedCurve: "P-256" });
const pkcs8 = (key: KeyObject): string => key.export({ type: "pkcs8", format: "pem" }).toString();

/**
 * A CSR assembled byte by byte and signed with ECDSA-SHA256 over P-256:
 * subject O=system:nodes, CN=system:node:n1 (PrintableString) and one
 * extensionRequest attribute whose SET holds `extensions` (a SEQUENCE OF).
 */
function handCsr(extensions: Uint8Array, attributes: Uint8Array[] = [seq(oid(OID.extReq), set(extensions))]): string {
  const { privateKey, publicKey } = p256();
  const subject = seq(set(seq(oid(OID.o), tlv(0x13, ascii("system:nodes")))), set(seq(oid(OID.cn), tlv(0x13, ascii("system:node:n1")))));
  const tbs = seq(tlv(0x02, [0]), subject, publicKey.export({ type: "spki", format: "der" }), tlv(0xa0, ...attributes));
  const signature = sign("sha256", tbs, privateKey);
  return pemOf("CERTIFICATE REQUEST", seq(tbs, seq(oid(OID.ecdsaSha256)), tlv(0x03, [0], signature)));
}

const utf8 = (s: string): Uint8Array => Buffer.from(s, "utf8");
function ok(v: GoCsrView | undefined): GoParseResult {
  expect(v?.stage, JSON.stringify(v)).toBe("ok");
  return (v as GoCsrViewOk).view;
}
const base64UrlToHex = (s: string | undefined): string => Buffer.from(s ?? "", "base64url").toString("hex");
/** A hex number as Go's big.Int prints it (`%x`, Text(16)): no leading zeros, not even a single nibble. */
const bigHex = (hex: string): string => BigInt(`0x${hex}`).toString(16);

describe.skipIf(skip)("go-csr-twin: Go's crypto/x509 reading of spec.request, as kube-apiserver reads it", () => {
  let twin: GoCsrTwin;
  const work = mkdtempSync(join(tmpdir(), "kpki-go-csr-twin-"));
  beforeAll(async () => {
    twin = await startGoCsrTwin();
  });
  afterAll(async () => {
    await twin?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("create makes the kubelet's CSR; Go reads back its subject, SANs and key, and the signature verifies", async () => {
    const ec = p256();
    const [pem] = await twin.create([{ keyPem: pkcs8(ec.privateKey), commonName: "system:node:n1", organization: ["system:nodes"], dnsNames: ["n1"], ips: ["10.0.0.11", "fd00::11"] }]);
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n[\s\S]+\n-----END CERTIFICATE REQUEST-----\n$/);
    const [got] = await twin.parse([utf8(pem!)]);
    const v = ok(got);
    expect(v.checkSignature).toBe("");
    expect(v.commonName).toBe("system:node:n1");
    expect(v.commonNameHex).toBe(hex(utf8("system:node:n1")));
    expect(v.organization).toEqual(["system:nodes"]);
    expect(v.dnsNames).toEqual(["n1"]);
    expect(v.emails).toEqual([]);
    expect(v.uris).toEqual([]);
    // An IPv4 SAN is 4 bytes on the wire (x509 marshalSANs uses To4) and Go keeps it that way.
    expect(v.ipsHex).toEqual(["0a00000b", "fd000000000000000000000000000011"]);
    expect(v.extensions.map((e) => [e.oid, e.critical])).toEqual([[OID.san, false]]);
    expect(v.publicKeyAlgorithm).toBe("ECDSA");
    expect(v.signatureAlgorithm).toBe("ECDSA-SHA256");
    const jwk = ec.publicKey.export({ format: "jwk" });
    expect(v.publicKey).toEqual({ type: "ecdsa", curve: "P-256", xHex: bigHex(base64UrlToHex(jwk.x)), yHex: bigHex(base64UrlToHex(jwk.y)) });
    // pkix.Name.ToRDNSequence writes O before CN, each as a PrintableString (tag 19) in its own RDN.
    expect(v.rdns.map((rdn) => rdn.map((a) => [a.oid, a.class, a.tag, a.compound, a.kind, a.value]))).toEqual([
      [[OID.o, 0, 19, false, "string", "system:nodes"]],
      [[OID.cn, 0, 19, false, "string", "system:node:n1"]],
    ]);
    expect(v.rdnsError).toBe("");
    expect(v.names.map((n) => n.value)).toEqual(["system:nodes", "system:node:n1"]);
    expect(v.attributesCount).toBe(1);
    expect(got?.stage === "ok" && got.derHex).toBe(hex(derOf(pem!)));
    expect(v.rawSpkiHex).toBe(hex(ec.publicKey.export({ type: "spki", format: "der" })));
    expect(v.rawTbsHex).toContain(v.rawSubjectHex);
    expect(v.rawTbsHex).toContain(v.rawSpkiHex);
    // CertificationRequest ::= SEQUENCE (30 82 LL LL) { tbs, algorithm, BIT STRING signature }
    const derHex = hex(derOf(pem!));
    expect(derHex.indexOf(v.rawTbsHex)).toBe(8);
    expect(derHex.endsWith(v.signatureHex)).toBe(true);
  });

  it("create follows client-go's sigType: RSA by key size, ECDSA and Ed25519 by key type", async () => {
    const rsa2048 = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const rsa3072 = generateKeyPairSync("rsa", { modulusLength: 3072 });
    const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" });
    const ed = generateKeyPairSync("ed25519");
    const keys = [rsa2048, rsa3072, p384, ed];
    const pems = await twin.create(keys.map((k) => ({ keyPem: pkcs8(k.privateKey), commonName: "system:node:n1", organization: ["system:nodes"] })));
    const views = (await twin.parse(pems.map(utf8))).map(ok);
    expect(views.map((v) => [v.signatureAlgorithm, v.publicKeyAlgorithm, v.checkSignature, v.extensions.length])).toEqual([
      ["SHA256-RSA", "RSA", "", 0], ["SHA384-RSA", "RSA", "", 0], ["ECDSA-SHA384", "ECDSA", "", 0], ["Ed25519", "Ed25519", "", 0],
    ]);
    expect(views[0]!.publicKey).toEqual({ type: "rsa", nHex: base64UrlToHex(rsa2048.publicKey.export({ format: "jwk" }).n), e: 65537 });
    expect(views[2]!.publicKey).toMatchObject({ type: "ecdsa", curve: "P-384" });
    expect(views[3]!.publicKey).toEqual({ type: "ed25519", keyHex: base64UrlToHex(ed.publicKey.export({ format: "jwk" }).x) });
  });

  it("a flipped signature byte or a flipped subject byte leaves the CSR parseable but failing CheckSignature", async () => {
    const [pem] = await twin.create([{ keyPem: pkcs8(p256().privateKey), commonName: "system:node:n1", organization: ["system:nodes"], dnsNames: ["n1"] }]);
    const der = derOf(pem!);
    const badSig = Buffer.from(der);
    badSig[badSig.length - 1]! ^= 0x01;
    const badTbs = Buffer.from(der);
    const at = badTbs.indexOf(Buffer.from("system:node:n1")) + "system:node:".length;
    badTbs[at + 1] = "2".charCodeAt(0);
    const [sig, tbs, good] = (await twin.parse([badSig, badTbs, der].map((d) => utf8(pemOf("CERTIFICATE REQUEST", d))))).map(ok);
    expect(sig!.checkSignature).toBe("x509: ECDSA verification failure");
    expect(tbs!.checkSignature).toBe("x509: ECDSA verification failure");
    expect(tbs!.commonName).toBe("system:node:n2");
    expect(good!.checkSignature).toBe("");
  });

  it.skipIf(noOpenssl)("reads an `openssl req` CSR: UTF8String subject, SANs, a verifying signature", async () => {
    const key = join(work, "p256.key");
    writeFileSync(key, execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]));
    const pem = execFileSync("openssl", ["req", "-new", "-key", key, "-subj", "/O=system:nodes/CN=system:node:n1", "-addext", "subjectAltName=DNS:n1,IP:10.0.0.11"], { encoding: "utf8" });
    const v = ok((await twin.parse([utf8(pem)]))[0]);
    expect(v.checkSignature).toBe("");
    expect([v.commonName, v.organization, v.dnsNames, v.ipsHex]).toEqual(["system:node:n1", ["system:nodes"], ["n1"], ["0a00000b"]]);
    // openssl's default string_mask (utf8only) writes UTF8String, tag 12.
    expect(v.rdns.flat().map((a) => [a.oid, a.tag, a.rawHex])).toEqual([[OID.o, 12, hex(utf8("system:nodes"))], [OID.cn, 12, hex(utf8("system:node:n1"))]]);
    expect(v.signatureAlgorithm).toBe("ECDSA-SHA256");
  });

  describe("pem.Decode, as ParseCSR calls it, takes the first block it can decode", () => {
    let csr = "";
    let csr2 = "";
    beforeAll(async () => {
      [csr = "", csr2 = ""] = await twin.create([0, 1].map(() => ({ keyPem: pkcs8(p256().privateKey), commonName: "system:node:n1", organization: ["system:nodes"] })));
    });
    const cert = pemOf("CERTIFICATE", Uint8Array.from([0x30, 0x00]));

    it("finds a block after junk lines, and after a block that does not decode", async () => {
      const broken = "-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n";
      const [junk, afterBroken, sameLine] = await twin.parse([`junk text\nmore junk\n${csr}`, broken + csr, `junk-----BEGIN CERTIFICATE REQUEST-----${csr.slice(csr.indexOf("\n"))}`].map(utf8));
      expect(ok(junk).checkSignature).toBe("");
      expect(ok(afterBroken).checkSignature).toBe("");
      // "-----BEGIN " must start the input or follow a "\n".
      expect(sameLine).toMatchObject({ stage: "pem", pemType: "", derHex: "", view: null });
    });

    it("a BOM before -----BEGIN hides the block: stage pem, the whole input in restHex", async () => {
      const input = utf8(`\ufeff${csr}`);
      const [got] = await twin.parse([input]);
      expect(got).toEqual({ id: got!.id, stage: "pem", error: "PEM block type must be CERTIFICATE REQUEST", pemType: "", pemHeaders: {}, derHex: "", restHex: hex(input), view: null });
    });

    it("reports a second block in restHex, and only the first block counts", async () => {
      const [two, certFirst] = await twin.parse([csr + csr2, cert + csr].map(utf8));
      expect(ok(two).checkSignature).toBe("");
      expect(two?.stage === "ok" && two.restHex).toBe(hex(utf8(csr2)));
      expect(certFirst).toMatchObject({ stage: "pem", pemType: "CERTIFICATE", derHex: "3000", restHex: hex(utf8(csr)), view: null });
    });

    it("accepts RFC 1421 headers (which ParseCSR ignores) and reports them", async () => {
      const withHeaders = csr.replace("-----\n", "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n");
      const [got] = await twin.parse([utf8(withHeaders)]);
      expect(ok(got).checkSignature).toBe("");
      expect(got?.stage === "ok" && got.pemHeaders).toEqual({ "Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00" });
    });
  });

  describe("encoding/asn1 leniencies that decide what the API server sees", () => {
    const sanA = seq(dns("n1"));
    const sanB = seq(dns("evil.example"));

    it("an Extension SEQUENCE { OID, OCTET STRING A, OCTET STRING B } is read as value A (extra trailing elements are allowed)", async () => {
      const v = ok((await twin.parse([utf8(handCsr(seq(seq(oid(OID.san), octets(sanA), octets(sanB)))))]))[0]);
      expect(v.checkSignature).toBe("");
      expect(v.extensions).toEqual([{ oid: OID.san, critical: false, valueHex: hex(sanA) }]);
      expect(v.dnsNames).toEqual(["n1"]);
    });

    it("bytes after the SAN's GeneralNames SEQUENCE inside the OCTET STRING are ignored (x509 forEachSAN)", async () => {
      const v = ok((await twin.parse([utf8(handCsr(seq(seq(oid(OID.san), octets(bytes(sanA, sanB))))))]))[0]);
      expect(v.checkSignature).toBe("");
      expect(v.extensions[0]?.valueHex).toBe(hex(bytes(sanA, sanB)));
      expect(v.dnsNames).toEqual(["n1"]);
    });

    it("a constructed [2] GeneralName is skipped, not read as a dNSName", async () => {
      const v = ok((await twin.parse([utf8(handCsr(seq(seq(oid(OID.san), octets(seq(tlv(0xa2, ascii("evil")), dns("n1")))))))]))[0]);
      expect(v.dnsNames).toEqual(["n1"]);
    });

    it("extensionRequest attributes are read as parseCSRExtensions does", async () => {
      const exts = seq(seq(oid(OID.san), octets(sanA)));
      const [secondValue, notASet, twoAttrs] = await twin.parse([
        // Only the first value of the attribute's SET is read.
        handCsr(exts, [seq(oid(OID.extReq), set(exts, seq(seq(oid(OID.san), octets(sanB)))))]),
        // An attribute that does not unmarshal (values in a SEQUENCE, not a SET) is skipped without error.
        handCsr(exts, [seq(oid(OID.extReq), seq(exts))]),
        // The extensions of two extensionRequest attributes are concatenated; a repeated OID is an error.
        handCsr(exts, [seq(oid(OID.extReq), set(exts)), seq(oid(OID.extReq), set(exts))]),
      ].map(utf8));
      const first = ok(secondValue);
      expect([first.dnsNames, first.extensions.length, first.checkSignature]).toEqual([["n1"], 1, ""]);
      const skipped = ok(notASet);
      expect([skipped.dnsNames, skipped.extensions, skipped.attributesCount, skipped.checkSignature]).toEqual([[], [], 0, ""]);
      expect(twoAttrs).toMatchObject({ stage: "parse", error: "x509: certificate request contains duplicate requested extensions", view: null });
    });
  });

  it("malformed lines, unknown ops and a panic each get one line, in order, and the process carries on", () => {
    const lines = ["garbage", '{"id":5,"op":"nope"}', '{"id":6,"op":"parse","request":"!!"}', '{"id":7,"op":"panic"}', '{"id":8,"op":"parse","request":""}', ""];
    const run = spawnSync(buildGoTool("go-csr-twin"), [], { input: lines.join("\n") + "\n", encoding: "utf8", timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    const out = run.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as { id: number; stage: string; error: string; panic?: string });
    expect(out.map((o) => [o.id, o.stage])).toEqual([[-1, "input"], [5, "input"], [6, "input"], [7, "panic"], [8, "pem"], [-1, "input"]]);
    expect(out[3]?.panic).toContain("requested by op panic");
  });

  it("20,000 requests in one batch come back in order; concurrent batches do not mix", async () => {
    const templates = Array.from({ length: 200 }, (_, i) => ({ keyPem: pkcs8(p256().privateKey), commonName: `system:node:n${i}`, organization: ["system:nodes"], dnsNames: [`n${i}`], ips: [`10.0.${i >> 8}.${i & 0xff}`] }));
    const pems = (await twin.create(templates)).map(utf8);
    const batch = Array.from({ length: 20_000 }, (_, i) => pems[i % pems.length]!);
    const started = performance.now();
    const views = await twin.parse(batch);
    const seconds = (performance.now() - started) / 1000;
    console.log(`go-csr-twin: ${batch.length} P-256 CSRs in ${seconds.toFixed(2)} s = ${Math.round(batch.length / seconds)} parses/s`);
    expect(views).toHaveLength(batch.length);
    views.forEach((got, i) => {
      const v = ok(got);
      if (v.commonName !== `system:node:n${i % 200}` || v.checkSignature !== "") expect.fail(`#${i}: ${JSON.stringify(got)}`);
    });

    const [a, b] = await Promise.all([twin.parse(batch.slice(0, 3000)), twin.parse(batch.slice(3000, 6000).reverse())]);
    expect(a.map((v) => ok(v).commonName)).toEqual(batch.slice(0, 3000).map((_, i) => `system:node:n${i % 200}`));
    expect(b.map((v) => ok(v).commonName)).toEqual(batch.slice(3000, 6000).map((_, i) => `system:node:n${(3000 + i) % 200}`).reverse());
  });

  it("close() ends the process; a killed process rejects its pending batch with its stderr tail", async () => {
    const own = await startGoCsrTwin();
    const pid = own.pid!;
    expect(() => process.kill(pid, 0)).not.toThrow();
    await own.close();
    expect(own.pid).toBeUndefined();
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
    await expect(own.parse([utf8("x")])).rejects.toThrow(/exited \(code 0/);

    const doomed = await startGoCsrTwin();
    const big = Array.from({ length: 20_000 }, () => utf8("no pem here"));
    const pending = doomed.parse(big);
    process.kill(doomed.pid!, "SIGKILL");
    await expect(pending).rejects.toThrow(/go-csr-twin exited \(code null, signal SIGKILL\); stderr tail/);
    await doomed.close();
  });
});
