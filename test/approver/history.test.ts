import { describe, expect, it } from "vitest";
import { ApprovalLedger } from "../../src/approver/history.js";

const WINDOW = 600_000;
const T = Date.UTC(2026, 10, 26, 12, 0, 0);

describe("ApprovalLedger: the approvals the policy counts", () => {
  it("a released reservation gives back the node's slot and the key; a kept one stays", () => {
    const ledger = new ApprovalLedger(WINDOW);
    const kept = ledger.reserve("csr-a", "n1", "k1", T);
    const dropped = ledger.reserve("csr-b", "n1", "k2", T + 1);
    expect([ledger.approvals.get("n1"), [...ledger.keys]]).toEqual([[T, T + 1], [["k1", "n1"], ["k2", "n1"]]]);
    ledger.release(dropped);
    expect([ledger.approvals.get("n1"), [...ledger.keys]]).toEqual([[T], [["k1", "n1"]]]);
    expect(kept.spki).toBe("k1");
  });

  it("a key held by two reservations of the same node stays until both are released", () => {
    const ledger = new ApprovalLedger(WINDOW);
    const a = ledger.reserve("csr-a", "n1", "k", T);
    const b = ledger.reserve("csr-b", "n1", "k", T + 1);
    ledger.release(a);
    expect(ledger.keys.get("k")).toBe("n1");
    ledger.release(b);
    expect(ledger.keys.has("k")).toBe(false);
  });

  it("remembers at most maxKeys keys, dropping the oldest first", () => {
    const ledger = new ApprovalLedger(WINDOW, 3);
    for (let i = 0; i < 5; i++) ledger.reserve(`csr-${i}`, `n${i}`, `k${i}`, T + i);
    expect([...ledger.keys.keys()]).toEqual(["k2", "k3", "k4"]);
  });

  it("an approval older than the window does not push newer ones out", () => {
    const ledger = new ApprovalLedger(WINDOW);
    ledger.reserve("csr-new", "n1", "k1", T);
    ledger.reserve("csr-old", "n1", "k2", T - 2 * WINDOW);
    expect(ledger.approvals.get("n1")).toEqual([T, T - 2 * WINDOW]);
    ledger.reserve("csr-newer", "n1", "k3", T + 1);
    expect(ledger.approvals.get("n1")).toEqual([T, T + 1]);
  });
});
