import { describe, expect, it } from "vitest";
import { bytesToBase64Url, bytesToHex, decodeOne, DerError, oid, paddedBase64ToBytes, readOid, setOf, unsignedInteger, utf8String } from "../../src/pki/der.js";
import { createRng } from "../fuzz/rng.js";
import {
  authorityKeyIdentifierValue,
  basicConstraintsValue,
  encodeExtension,
  extKeyUsageValue,
  keyUsageValue,
  subjectAltNameValue,
} from "../../src/pki/extensions.js";
import { encodeSubject } from "../../src/pki/name.js";
import { parseIp } from "../../src/pki/ip.js";

const hex = (b: Uint8Array<ArrayBuffer>) => bytesToHex(b).toUpperCase();

describe("extension values match Go's crypto/x509 bytes", () => {
  it("KeyUsage of a leaf is 03 02 05 A0 and of a CA 03 02 02 A4", () => {
    expect(hex(keyUsageValue(["digitalSignature", "keyEncipherment"]))).toBe("030205A0");
    expect(hex(keyUsageValue(["digitalSignature", "keyEncipherment", "keyCertSign"]))).toBe("030202A4");
    // decipherOnly lives in the second byte: two content bytes, 7 unused bits.
    expect(hex(keyUsageValue(["digitalSignature", "decipherOnly"]))).toBe("0303078080");
  });

  it("BasicConstraints is 30 03 01 01 FF for a CA and 30 00 for a leaf", () => {
    expect(hex(basicConstraintsValue(true))).toBe("30030101FF");
    expect(hex(basicConstraintsValue(false))).toBe("3000");
  });

  it("ExtKeyUsage keeps the given order", () => {
    expect(hex(extKeyUsageValue(["serverAuth", "clientAuth"]))).toBe("301406082B0601050507030106082B06010505070302");
  });

  it("SAN writes DNS names before IPs, IPv4 as 4 bytes and IPv6 as 16", () => {
    const v = subjectAltNameValue(["a.b"], [parseIp("10.96.0.1")!, parseIp("::1")!]);
    expect(hex(v)).toBe("301D8203612E6287040A600001871000000000000000000000000000000001");
    // IPv4-mapped IPv6 collapses to 4 bytes, as Go's To4() does.
    expect(parseIp("::ffff:10.0.0.1")).toEqual(Uint8Array.of(10, 0, 0, 1));
  });

  it("AKI carries only the keyIdentifier [0]", () => {
    expect(hex(authorityKeyIdentifierValue(Uint8Array.of(1, 2, 3)))).toBe("30058003010203");
  });

  it("a critical extension has BOOLEAN TRUE and a non-critical one omits it", () => {
    expect(hex(encodeExtension({ oid: "2.5.29.19", critical: true, value: Uint8Array.of(0x30, 0) }))).toBe("300C0603551D130101FF04023000");
    expect(hex(encodeExtension({ oid: "2.5.29.19", critical: false, value: Uint8Array.of(0x30, 0) }))).toBe("30090603551D1304023000");
  });
});

describe("subject names as Go's pkix.Name writes them", () => {
  it("puts every O in one multi-valued RDN before the CN, as PrintableString", () => {
    const der = encodeSubject({ commonName: "kube-apiserver-kubelet-client", organizations: ["kubeadm:cluster-admins"] });
    const parsed = decodeOne(der);
    expect(parsed.tag).toBe(0x30);
    // SET { SEQ { O, PrintableString "kubeadm:cluster-admins" } } then SET { SEQ { CN, ... } }
    expect(hex(der).startsWith("3049311F301D060355040A13166B75626561646D3A636C75737465722D61646D696E73")).toBe(true);
  });

  it("sorts multi-valued O by DER bytes and uses UTF8String for non-printable text", () => {
    const der = encodeSubject({ commonName: "x", organizations: ["system:masters", "b"] });
    const bIndex = hex(der).indexOf(hex(Uint8Array.of(0x13, 0x01, 0x62)));
    const mIndex = hex(der).indexOf("130E");
    expect(bIndex).toBeGreaterThan(0);
    expect(bIndex).toBeLessThan(mIndex); // shorter encoding sorts first
    expect(hex(encodeSubject({ commonName: "a*b" }))).toContain(hex(utf8String("a*b")));
    expect(hex(setOf([Uint8Array.of(2), Uint8Array.of(1)]))).toBe("31020102");
  });
});

describe("DER primitives", () => {
  it("encodes minimal positive INTEGERs", () => {
    expect(hex(unsignedInteger(Uint8Array.of(0, 0, 0x7f)))).toBe("02017F");
    expect(hex(unsignedInteger(Uint8Array.of(0x80)))).toBe("02020080");
  });

  it("round-trips object identifiers", () => {
    for (const o of ["1.2.840.113549.1.1.11", "2.5.29.17", "1.3.6.1.5.5.7.3.1", "2.999.3"]) {
      expect(readOid(decodeOne(oid(o)))).toBe(o);
    }
  });

  it("rejects indefinite lengths, non-minimal lengths and trailing bytes", () => {
    expect(() => decodeOne(Uint8Array.of(0x30, 0x80, 0, 0))).toThrow(DerError);
    expect(() => decodeOne(Uint8Array.of(0x04, 0x81, 0x01, 0x00))).toThrow(/non-minimal/);
    expect(() => decodeOne(Uint8Array.of(0x05, 0x00, 0x00))).toThrow(/trailing/);
    expect(() => decodeOne(Uint8Array.of(0x04, 0x05, 0x00))).toThrow(/past the end/);
  });
});

describe("paddedBase64ToBytes", () => {
  // What it replaced in the approver: a check that the text is padded standard base64, then atob.
  const reference = (text: string): string | undefined => {
    if (text.length % 4) return undefined;
    const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
    if (!/^[A-Za-z0-9+/]*$/.test(text.slice(0, text.length - pad))) return undefined;
    return bytesToHex(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)));
  };
  it("decodes what atob decodes from padded base64 and refuses everything else (20,000 random texts)", () => {
    const rng = createRng("paddedBase64ToBytes");
    const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/====-_ \n\u00e9\u0100.";
    let decoded = 0;
    for (let n = 0; n < 20_000; n++) {
      const length = rng.int(14);
      let text = "";
      for (let i = 0; i < length; i++) text += chars[rng.int(chars.length)];
      // Half the texts end in valid padding, so that both outcomes are common.
      if (n % 2 && text.length >= 4) text = text.slice(0, text.length - (text.length % 4)).replace(/[^A-Za-z0-9+/]/g, "A").slice(0, -2) + (n % 4 === 1 ? "==" : "A=");
      const got = paddedBase64ToBytes(text);
      expect(got === undefined ? undefined : bytesToHex(got), JSON.stringify(text)).toBe(reference(text));
      if (got) decoded++;
    }
    expect(decoded).toBeGreaterThan(5000);
  });
});

describe("bytesToBase64Url", () => {
  it("writes what Node's base64url writes, for every length from 0 to 300 bytes", () => {
    const rng = createRng("bytesToBase64Url");
    for (let n = 0; n <= 300; n++) {
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) bytes[i] = rng.int(256);
      expect(bytesToBase64Url(bytes)).toBe(Buffer.from(bytes).toString("base64url"));
    }
  });
});
