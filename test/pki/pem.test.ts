import { describe, expect, it } from "vitest";
import { decodePem, encodePem, PemError } from "../../src/pki/pem.js";
import { parseCertificatesPem } from "../../src/pki/cert.js";
import { createStandaloneCa } from "../../src/pki/ca.js";
import { T0, crypto } from "../helpers/clock.js";

describe("PEM", () => {
  it("writes 64-character lines and a final newline, as Go's pem.EncodeToMemory", () => {
    const pem = encodePem("CERTIFICATE", new Uint8Array(100).fill(0xab));
    const lines = pem.split("\n");
    expect(lines[0]).toBe("-----BEGIN CERTIFICATE-----");
    expect(lines[1]).toHaveLength(64);
    expect(lines[3]).toHaveLength(8); // 100 bytes = 136 base64 characters: 64 + 64 + 8
    expect(lines[4]).toBe("-----END CERTIFICATE-----");
    expect(pem.endsWith("-----\n")).toBe(true);
  });

  it("reads bundles with text before and between blocks (easy-rsa's issued/*.crt)", async () => {
    const a = await createStandaloneCa({ commonName: "a", organizations: [], algorithm: "ECDSA-P256", validityMs: 86_400_000, backdateMs: 0 }, T0, crypto);
    const b = await createStandaloneCa({ commonName: "b", organizations: [], algorithm: "ECDSA-P256", validityMs: 86_400_000, backdateMs: 0 }, T0, crypto);
    const text = `Certificate:\n    Data:\n        Version: 3 (0x2)\n${a.certificate.pem}\nsome comment\r\n${b.certificate.pem.replace(/\n/g, "\r\n")}trailer`;
    expect(parseCertificatesPem(text).map((c) => c.commonName)).toEqual(["a", "b"]);
  });

  it("refuses mismatched armour, headers and broken base64", () => {
    expect(() => decodePem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n")).toThrow(PemError);
    expect(() => decodePem("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END RSA PRIVATE KEY-----\n")).toThrow(/headers/);
    expect(() => decodePem("-----BEGIN CERTIFICATE-----\nAA*A\n-----END CERTIFICATE-----\n")).toThrow(/base64/);
    expect(decodePem("no pem here")).toEqual([]);
  });
});
