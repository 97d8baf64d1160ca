import { describe, expect, it } from "vitest";
import { DEFAULT_POLICY } from "../../src/approver/policy.js";
import { warmUp } from "../../src/approver/warm-up.js";
import { nodeSignatureVerifier } from "../../src/io/node-signature.js";
import { webCryptoVerifier } from "../../src/pki/signature.js";

describe("warmUp", () => {
  const now = new Date("2026-11-30T12:00:00Z");
  it("approves its sample requests every round under the default policy, with node:crypto and with WebCrypto", async () => {
    expect(await warmUp(DEFAULT_POLICY, nodeSignatureVerifier, 25, now)).toBe(25);
    expect(await warmUp(DEFAULT_POLICY, webCryptoVerifier(globalThis.crypto), 3, now)).toBe(3);
  });
  it("reports every decision to the observer it is given, with a latency that is not a whole number", async () => {
    const seen: { decision: string; reason: string; csr: string | undefined; latency: number | undefined }[] = [];
    const observer = { decision: (d: { decision: string; reason: string }, csr: { metadata: { name: string } }, latency: number | undefined) => void seen.push({ decision: d.decision, reason: d.reason, csr: csr.metadata.name, latency }) };
    expect(await warmUp(DEFAULT_POLICY, nodeSignatureVerifier, 4, now, observer)).toBe(4);
    expect(await warmUp(DEFAULT_POLICY, async () => false, 2, now, observer)).toBe(0);
    expect(seen.map((s) => `${s.decision}/${s.reason}`)).toEqual([...Array(4).fill("approve/NodeAddressesVerified"), "deny/BadSignature", "deny/BadSignature"]);
    expect(seen.every((s) => s.csr === "csr-kpki-warm-up" && s.latency !== undefined && !Number.isInteger(s.latency))).toBe(true);
  });
  it("approves nothing when the policy refuses the sample, or when no signature verifies", async () => {
    expect(await warmUp({ ...DEFAULT_POLICY, allowedIpRanges: ["10.0.0.0/8"] }, nodeSignatureVerifier, 5, now)).toBe(0);
    expect(await warmUp({ ...DEFAULT_POLICY, dnsSuffixes: ["example.com"] }, nodeSignatureVerifier, 5, now)).toBe(0);
    expect(await warmUp(DEFAULT_POLICY, async () => false, 5, now)).toBe(0);
  });
});
