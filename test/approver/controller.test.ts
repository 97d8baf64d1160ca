/**
 * The controller's own logic (conflict retries, dry run, 410 Gone) through a
 * hand-written fake of its ApproverApi port. The real kube-apiserver cases are
 * in test/interop/approver-live.test.ts; a fake is used here only to inject
 * what a real server produces by racing (a 409 at a chosen moment, a 410).
 */
import { describe, expect, it } from "vitest";
import { ApproverController, type ApproverObserver } from "../../src/approver/controller.js";
import { DEFAULT_POLICY } from "../../src/approver/policy.js";
import { ApiStatusError, type ApiCsr, type ApiNode, type ApproverApi, type WatchEventType } from "../../src/approver/ports.js";
import { createCsr } from "../../src/pki/csr.js";
import { generateKeyPair } from "../../src/pki/keys.js";
import { parseIp } from "../../src/pki/ip.js";
import { webCryptoVerifier } from "../../src/pki/signature.js";
import { waitFor } from "../helpers/procs.js";
import { crypto } from "../helpers/clock.js";

const verify = webCryptoVerifier(crypto);

const NOW = new Date(Date.UTC(2026, 10, 26, 12, 0, 0));
const node: ApiNode = { metadata: { name: "n1" }, status: { addresses: [{ type: "Hostname", address: "n1" }, { type: "InternalIP", address: "10.0.0.11" }] } };

async function csr(name: string, rv = "1"): Promise<ApiCsr> {
  const key = await generateKeyPair("ECDSA-P256", crypto);
  const c = await createCsr({ subject: { commonName: "system:node:n1", organizations: ["system:nodes"] }, dnsNames: ["n1"], ips: [parseIp("10.0.0.11")!] }, key, crypto);
  return { metadata: { name, resourceVersion: rv, creationTimestamp: "2026-11-26T11:59:59Z" },
    spec: { request: Buffer.from(c.pem).toString("base64"), signerName: "kubernetes.io/kubelet-serving", usages: ["digital signature", "server auth"], username: "system:node:n1", groups: ["system:nodes"] } };
}

function fakeApi(initial: ApiCsr[]) {
  const store = new Map(initial.map((c) => [c.metadata.name, c]));
  const writes: { name: string; type: string; rv: string | undefined }[] = [];
  const events: string[] = [];
  const order: string[] = [];
  let conflictsLeft = 0;
  let listCalls = 0;
  let csrWatch: { onEvent: (t: WatchEventType, o: ApiCsr) => void; onEnd: (e?: unknown) => void } | undefined;
  const api: ApproverApi = {
    listCsrs: async () => (listCalls++, { items: [...store.values()], resourceVersion: "10" }),
    watchCsrs: async (_rv, onEvent, onEnd) => ((csrWatch = { onEvent, onEnd }), { stop: () => undefined }),
    listNodes: async () => ({ items: [node], resourceVersion: "10" }),
    watchNodes: async () => ({ stop: () => undefined }),
    getCsr: async (name) => store.get(name)!,
    getObject: async () => undefined,
    addCondition: async (c, cond) => {
      if (conflictsLeft > 0) {
        conflictsLeft--;
        // Someone else touched it meanwhile: the stored copy moved on.
        const current = store.get(c.metadata.name)!;
        store.set(c.metadata.name, { ...current, metadata: { ...current.metadata, resourceVersion: String(Number(current.metadata.resourceVersion) + 1) } });
        throw new ApiStatusError(409, "the object has been modified");
      }
      writes.push({ name: c.metadata.name, type: cond.type, rv: c.metadata.resourceVersion });
      order.push(`write ${c.metadata.name}`);
      store.set(c.metadata.name, { ...c, status: { conditions: [{ type: cond.type, status: "True" }] } });
    },
    createEvent: async (c, _t, reason) => {
      events.push(`${c.metadata.name} ${reason}`);
      order.push(`event ${c.metadata.name}`);
    },
    getLease: async () => undefined,
    watchLease: async () => ({ stop: () => undefined }),
    writeLease: async () => undefined,
  };
  return { api, writes, events, order, store, conflicts: (n: number) => (conflictsLeft = n), listCalls: () => listCalls, watch: () => csrWatch! };
}

const quietObserver = (): ApproverObserver & { logs: string[]; decisions: string[] } => {
  const logs: string[] = [];
  const decisions: string[] = [];
  return { logs, decisions, log: (_l, msg) => void logs.push(msg), decision: (d) => void decisions.push(`${d.decision}:${d.reason}`), synced: () => undefined };
};

describe("ApproverController", () => {
  it("retries a 409 with a fresh read and writes against the new resourceVersion", async () => {
    const f = fakeApi([await csr("a", "5")]);
    f.conflicts(2);
    const ctl = new ApproverController(f.api, quietObserver(), { policy: DEFAULT_POLICY, dryRun: false, verify, now: () => NOW });
    await ctl.start();
    await waitFor("the approval", () => f.writes.length === 1, 5000, 10);
    expect(f.writes).toEqual([{ name: "a", type: "Approved", rv: "7" }]);
    expect(f.events).toEqual(["a CSRApproved"]);
    ctl.stop();
  });

  it("--dry-run decides and logs but writes nothing", async () => {
    const f = fakeApi([await csr("b")]);
    const obs = quietObserver();
    const ctl = new ApproverController(f.api, obs, { policy: DEFAULT_POLICY, dryRun: true, verify, now: () => NOW });
    await ctl.start();
    await waitFor("the decision", () => obs.decisions.length === 1, 5000, 10);
    expect(obs.decisions).toEqual(["approve:NodeAddressesVerified"]);
    expect(obs.logs).toContain("would be approved (dry run)");
    expect(f.writes).toEqual([]);
    expect(f.events).toEqual([]);
    ctl.stop();
  });

  it("a watch that ends with 410 Gone is followed by a fresh list, and CSRs created meanwhile are decided", async () => {
    const f = fakeApi([]);
    const ctl = new ApproverController(f.api, quietObserver(), { policy: DEFAULT_POLICY, dryRun: false, verify, now: () => NOW });
    await ctl.start();
    expect(f.listCalls()).toBe(1);
    const missed = await csr("c");
    f.store.set("c", missed); // created while the watch was broken: no event for it
    f.watch().onEnd(new ApiStatusError(410, "too old resource version"));
    await waitFor("the re-list and the approval", () => f.writes.some((w) => w.name === "c"), 5000, 10);
    expect(f.listCalls()).toBe(2);
    ctl.stop();
  });

  it("counts pending, approved-not-issued and approved-but-Failed CSRs from its cache (the /metrics gauges)", async () => {
    const withConditions = (c: ApiCsr, types: string[], certificate?: string): ApiCsr =>
      ({ ...c, status: { conditions: types.map((type) => ({ type, status: "True" })), ...(certificate ? { certificate } : {}) } });
    const f = fakeApi([
      withConditions(await csr("issued"), ["Approved"], "Y2VydA=="),
      withConditions(await csr("waiting-for-signer"), ["Approved"]),
      withConditions(await csr("signer-failed"), ["Approved", "Failed"]),
      withConditions(await csr("denied"), ["Denied"]),
    ]);
    const ctl = new ApproverController(f.api, quietObserver(), { policy: DEFAULT_POLICY, dryRun: true, verify, now: () => NOW });
    await ctl.start();
    expect(ctl.counts()).toEqual({ pending: 0, approvedNotIssued: 1, approvedFailed: 1 });
    f.watch().onEvent("ADDED", await csr("new"));
    f.watch().onEvent("ADDED", await csr("other"));
    expect(ctl.counts()).toEqual({ pending: 2, approvedNotIssued: 1, approvedFailed: 1 });
    f.watch().onEvent("DELETED", (await csr("other")));
    f.watch().onEvent("MODIFIED", withConditions(await csr("waiting-for-signer"), ["Approved"], "Y2VydA=="));
    expect(ctl.counts()).toEqual({ pending: 1, approvedNotIssued: 0, approvedFailed: 1 });
    ctl.stop();
  });

  it("sends Events only when no decision is waiting: a burst's approvals are all written first", async () => {
    const names = ["e1", "e2", "e3", "e4", "e5", "e6"];
    const f = fakeApi(await Promise.all(names.map((n) => csr(n))));
    const ctl = new ApproverController(f.api, quietObserver(), { policy: { ...DEFAULT_POLICY, maxApprovalsPerNode: 10 }, dryRun: false, verify, now: () => NOW, workers: 1 });
    await ctl.start();
    await waitFor("the Events", () => f.events.length === names.length, 5000, 10);
    expect(f.order).toEqual([...names.map((n) => `write ${n}`), ...names.map((n) => `event ${n}`)]);
    ctl.stop();
  });
});
