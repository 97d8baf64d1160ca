/**
 * Leader election's timing through a hand-written in-memory Lease store (a fake of the
 * ApproverApi port): the real kube-apiserver case is in test/interop/approver-live.test.ts; the
 * fake lets one test compare the same failover with and without the Lease watch, on short
 * durations, which the real server cannot be made to do deterministically. A Lease holds whole
 * seconds (leaseDurationSeconds), so the durations here are whole seconds too.
 */
import { describe, expect, it } from "vitest";
import { runLeaderElection } from "../../src/approver/leader.js";
import { ApiStatusError, type ApproverApi, type Lease } from "../../src/approver/ports.js";
import { waitFor } from "../helpers/procs.js";

function leaseStore(withWatch: boolean) {
  let lease: (Lease & { resourceVersion: string }) | undefined;
  let rv = 0;
  const watchers = new Set<(l: Lease | undefined) => void>();
  const writes: { holder: string; at: number }[] = [];
  const api = {
    getLease: async () => (lease ? { ...lease } : undefined),
    watchLease: async (_ns: string, _name: string, onLease: (l: Lease | undefined) => void) => {
      if (!withWatch) throw new Error("watch not allowed");
      watchers.add(onLease);
      if (lease) onLease({ ...lease });
      return { stop: () => void watchers.delete(onLease) };
    },
    writeLease: async (_ns: string, _name: string, next: Lease, create: boolean) => {
      if (create ? lease !== undefined : next.resourceVersion !== lease?.resourceVersion) throw new ApiStatusError(409, "conflict");
      lease = { ...next, resourceVersion: String(++rv) };
      writes.push({ holder: next.holderIdentity ?? "", at: Date.now() });
      for (const w of watchers) w({ ...lease });
    },
  } as unknown as ApproverApi;
  return { api, writes, holder: () => lease?.holderIdentity };
}

const cfg = (identity: string) => ({ namespace: "ns", name: "l", identity, leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 1000 });
const quiet = { onStartedLeading: () => undefined, onStoppedLeading: () => undefined, log: () => undefined };
const clock = () => new Date();

/** Starts a leader and a candidate, kills the leader, and returns how long after the leader's last renewal the candidate took over. */
async function failover(withWatch: boolean): Promise<number> {
  const store = leaseStore(withWatch);
  const a = new AbortController();
  const b = new AbortController();
  void runLeaderElection(store.api, cfg("a"), quiet, clock, a.signal);
  await waitFor("a leads", () => store.holder() === "a", 2000, 5);
  void runLeaderElection(store.api, cfg("b"), quiet, clock, b.signal);
  await new Promise((r) => setTimeout(r, 2500)); // b observes a few renewals
  a.abort(); // the leader dies
  await waitFor("b leads", () => store.holder() === "b", 8000, 5);
  b.abort();
  const lastByA = store.writes.filter((w) => w.holder === "a").at(-1)!.at;
  return store.writes.find((w) => w.holder === "b")!.at - lastByA;
}

describe("leader election", () => {
  it("a candidate that watches the Lease takes over when the lease runs out, not a retry period later", async () => {
    const watched = await failover(true);
    expect(watched).toBeGreaterThanOrEqual(2000);
    expect(watched).toBeLessThan(2000 + 300); // polling alone lands anywhere up to 2000 + 1000
  });

  it("without the watch it still takes over, within the lease duration plus one retry period", async () => {
    const polled = await failover(false);
    expect(polled).toBeGreaterThanOrEqual(2000);
    expect(polled).toBeLessThan(2000 + 1000 + 300);
  });
});
