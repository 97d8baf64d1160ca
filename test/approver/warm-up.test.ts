import { connect } from "node:http2";
import { describe, expect, it } from "vitest";
import { DEFAULT_POLICY } from "../../src/approver/policy.js";
import { ApproverController } from "../../src/approver/controller.js";
import { NO_FACTS, withClusterFacts } from "../../src/approver/discovery.js";
import { warmUp, warmUpController, warmUpPolicy, WARM_UP_CSR_RUNS, WARM_UP_NODE_LIST } from "../../src/approver/warm-up.js";
import { startWarmUpApi } from "../../src/io/warm-up-api.js";
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
    expect(seen.every((s) => s.csr?.startsWith("csr-kpki-warm-up-") && s.latency !== undefined && !Number.isInteger(s.latency))).toBe(true);
  });
  it("approves nothing when the policy refuses the sample, or when no signature verifies", async () => {
    expect(await warmUp({ ...DEFAULT_POLICY, allowedIpRanges: ["10.0.0.0/8"] }, nodeSignatureVerifier, 5, now)).toBe(0);
    expect(await warmUp({ ...DEFAULT_POLICY, dnsSuffixes: ["example.com"] }, nodeSignatureVerifier, 5, now)).toBe(0);
    expect(await warmUp(DEFAULT_POLICY, async () => false, 5, now)).toBe(0);
  });
});

describe("warmUpPolicy", () => {
  it("is the policy as the controller will hold it, in the same field order, with a per-node budget that no warm-up reaches", () => {
    for (const discovery of [false, true]) {
      const expected = discovery ? withClusterFacts(DEFAULT_POLICY, NO_FACTS) : DEFAULT_POLICY;
      const p = warmUpPolicy(DEFAULT_POLICY, discovery);
      expect(Object.keys(p)).toEqual(Object.keys(expected));
      expect({ ...p, maxApprovalsPerNode: expected.maxApprovalsPerNode }).toEqual(expected);
      expect(p.maxApprovalsPerNode).toBeGreaterThan(Math.max(...WARM_UP_CSR_RUNS));
      expect(p.maxApprovalsPerNode).toBeLessThan(2 ** 30); // a small integer to V8, like a flag's value
    }
  });
});

describe("warmUpController on the stand-in API server (src/io/warm-up-api.ts)", () => {
  const now = new Date("2026-11-30T12:00:00Z");
  it("passes each CSR through a real controller and HTTP/2 until it is written, denies one in 25, and closes", async () => {
    const stand = await startWarmUpApi(WARM_UP_NODE_LIST, globalThis.crypto);
    const seen: string[] = [];
    let allSeen: () => void = () => undefined;
    const reported = new Promise<void>((resolve) => (allSeen = resolve));
    const observer = {
      decision: (d: { decision: string; reason: string }) => {
        if (seen.push(`${d.decision}/${d.reason}`) === 260) allSeen();
      },
      log: () => undefined,
      synced: () => undefined,
    };
    try {
      const controller = new ApproverController(stand.api, observer, { policy: warmUpPolicy(DEFAULT_POLICY, false), discovery: false, dryRun: false, verify: nodeSignatureVerifier, now: () => now, events: "denials" });
      await warmUpController(stand, controller, 260, () => now);
      // The server has had every write; the last answers may still be on their way to the controller.
      await reported;
      expect(seen).toHaveLength(260);
      expect(seen.filter((s) => s === "approve/NodeAddressesVerified")).toHaveLength(250);
      const denied = seen.filter((s) => s.startsWith("deny/"));
      expect(denied).toHaveLength(10); // CSRs 24, 49, …, 249
      expect(new Set(denied).size).toBe(1);
      // Nobody but its own client: a request without the run's token is refused.
      const session = connect(stand.url, { rejectUnauthorized: false });
      try {
        const status = await new Promise<unknown>((resolve, reject) => {
          const req = session.request({ ":path": "/api/v1/nodes" });
          req.on("response", (headers) => resolve(headers[":status"]));
          req.on("error", reject);
          req.end();
        });
        expect(status).toBe(401);
      } finally {
        session.destroy();
      }
    } finally {
      await stand.close();
    }
    // Closed: the API's next call finds no server.
    await expect(stand.api.listNodes()).rejects.toThrow();
  });
});
