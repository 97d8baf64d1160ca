import { describe, expect, it } from "vitest";
import { createCertificate } from "../../src/pki/cert.js";
import { generateKeyPair } from "../../src/pki/keys.js";
import { webCryptoVerifier } from "../../src/pki/signature.js";
import { DetailedRows, readScanned } from "../../src/expiry/scan-check.js";
import { crypto, T0 } from "../helpers/clock.js";

const DAY = 86_400_000;
const ca = await generateKeyPair("ECDSA-P256", crypto);
const caCert = await createCertificate(
  { subject: { commonName: "rows-ca" }, serial: 1n, notBefore: T0, notAfter: new Date(T0.getTime() + 3650 * DAY), isCa: true,
    keyUsages: ["digitalSignature", "keyCertSign"], extKeyUsages: [], dnsNames: [], ips: [] },
  ca.publicKey, { selfSigned: ca }, crypto);
const leafKey = await generateKeyPair("ECDSA-P256", crypto);
/** RFC 5280's "no well-defined expiration date", beyond what DetailedRows keeps as 32-bit seconds. */
const FAR = new Date(Date.UTC(9999, 11, 31, 23, 59, 59));
/** Subjects kept as bytes (ASCII, Latin-1) and kept as JS strings (beyond Latin-1, one too long for 16 bits). */
const names = ["plain", "lé-serveur", "日本-サーバ", "emoji-😀", "x".repeat(70_000)];
const leaves = await Promise.all(
  names.map((commonName, i) =>
    createCertificate(
      { subject: { commonName, organizations: i % 2 ? ["ünï"] : [] }, serial: BigInt(1000 + i), notBefore: T0, notAfter: i === 2 ? FAR : new Date(T0.getTime() + (10 + i) * DAY), isCa: false,
        keyUsages: ["digitalSignature"], extKeyUsages: ["serverAuth"], dnsNames: [], ips: [] },
      leafKey.publicKey, { certificate: caCert, key: ca }, crypto),
  ),
);

describe("DetailedRows keeps each row's texts apart from V8's heap and gives them back unchanged", () => {
  it.each([false, true])("verify %s: 3,000 rows (more than expected, over several 64 kB chunks), subjects of every kind, rows without a certificate", async (verify) => {
    const rows = new DetailedRows({ now: T0, thresholds: {}, verify, verifySignature: webCryptoVerifier(crypto), crypto }, 10);
    await rows.add({ name: "/t/ca.crt", path: "/t/ca.crt", certificate: readScanned(caCert.der) });
    const expected: { name: string; subject?: string; serialNumber?: string; issuer?: string }[] = [{ name: "/t/ca.crt", subject: "CN=rows-ca", serialNumber: "01", issuer: "CN=rows-ca" }];
    for (let i = 0; i < 3000; i++) {
      const name = `/t/d${i % 7}/leaf-${i}.crt`;
      if (i % 500 === 3) {
        await rows.add({ name, path: name, missing: true });
        expected.push({ name });
        continue;
      }
      const leaf = leaves[i % leaves.length]!;
      const scanned = readScanned(leaf.der);
      await rows.add({ name: `${name}#1`, path: name, certificate: scanned });
      expected.push({ name: `${name}#1`, subject: scanned.subject, serialNumber: scanned.serialHex, issuer: "CN=rows-ca" });
    }
    const table = await rows.finish();
    expect(table.length).toBe(expected.length);
    const got = [...table];
    expect(got.map((r) => ({ name: r.name, subject: r.subject, serialNumber: r.serialNumber, issuer: r.issuer })).map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)))).toEqual(expected);
    expect(got[1]!.path).toBe("/t/d0/leaf-0.crt");
    expect(new Set(got.slice(1).filter((r) => r.status !== "MISSING").map((r) => `${r.chain} ${r.chainIssuer}`))).toEqual(new Set([verify ? "ok /t/ca.crt" : "linked /t/ca.crt"]));
    expect(got[0]).toMatchObject({ chain: verify ? "self-signed" : "self-issued", status: "OK" });
    expect(got.find((r) => r.subject === "O=ünï, CN=emoji-😀")).toMatchObject({ serialNumber: "03eb", notAfter: new Date(T0.getTime() + 13 * DAY) });
    expect(got[5]!.subject).toBe(`CN=${"x".repeat(70_000)}`);
    expect(got[3]).toMatchObject({ subject: "CN=日本-サーバ", notBefore: T0, notAfter: FAR, residualTime: Math.trunc((FAR.getTime() - T0.getTime()) / 1000), status: "OK" });
    expect(got[2]).toMatchObject({ notBefore: T0, notAfter: new Date(T0.getTime() + 11 * DAY), status: "OK" });
    expect(got[4]).toMatchObject({ name: "/t/d3/leaf-3.crt", status: "MISSING", subject: undefined, issuer: undefined });
  });
});
