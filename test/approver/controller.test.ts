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
import { generateKeyPair, type KeyPair } from "../../src/pki/keys.js";
import type { SignatureVerifier } from "../../src/pki/signature.js";
import { parseIp } from "../../src/pki/ip.js";
import { webCryptoVerifier } from "../../src/pki/signature.js";
import { waitFor } from "../helpers/procs.js";
import { crypto } from "../helpers/clock.js";

const verify = webCryptoVerifier(crypto);

const NOW = new Date(Date.UTC(2026, 10, 26, 12, 0, 0));
const node: ApiNode = { metadata: { name: "n1" }, status: { addresses: [{ type: "Hostname", address: "n1" }, { type: "InternalIP", address: "10.0.0.11" }] } };
const node2: ApiNode = { metadata: { name: "n2" }, status: { addresses: [{ type: "Hostname", address: "n2" }, { type: "InternalIP", address: "10.0.0.12" }] } };
const ADDRESSES: Record<string, [string, string]> = { n1: ["n1", "10.0.0.11"], n2: ["n2", "10.0.0.12"], w: ["w", "192.0.2.21"] };

async function csr(name: string, rv = "1", opts: { node?: string; key?: KeyPair } = {}): Promise<ApiCsr> {
  const n = opts.node ?? "n1";
  const [dns, ip] = ADDRESSES[n] ?? [n, "10.9.9.9"];
  const key = opts.key ?? (await generateKeyPair("ECDSA-P256", crypto));
  const c = await createCsr({ subject: { commonName: `system:node:${n}`, organizations: ["system:nodes"] }, dnsNames: [dns], ips: [parseIp(ip)!] }, key, crypto);
  return { metadata: { name, uid: `uid-${name}`, resourceVersion: rv, creationTimestamp: "2026-11-26T11:59:59Z" },
    spec: { request: Buffer.from(c.pem).toString("base64"), signerName: "kubernetes.io/kubelet-serving", usages: ["digital signature", "server auth"], username: `system:node:${n}`, groups: ["system:nodes"] } };
}

/** A write the test lets through when it chooses: the API server's slow write, without a timing window. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

function fakeApi(initial: ApiCsr[], opts: { nodes?: ApiNode[]; objects?: Record<string, unknown>; writeGate?: Promise<void>; echoWrites?: boolean } = {}) {
  const store = new Map(initial.map((c) => [c.metadata.name, c]));
  const writes: { name: string; type: string; rv: string | undefined }[] = [];
  const events: string[] = [];
  const order: string[] = [];
  let conflictsLeft = 0;
  let listCalls = 0;
  let csrWatch: { onEvent: (t: WatchEventType, o: ApiCsr) => void; onEnd: (e?: unknown) => void } | undefined;
  let nodeWatch: { onEvent: (t: WatchEventType, o: ApiNode) => void } | undefined;
  let pendingWrites = 0;
  const api: ApproverApi = {
    listCsrs: async () => (listCalls++, { items: [...store.values()], resourceVersion: "10" }),
    watchCsrs: async (_rv, onEvent, onEnd) => ((csrWatch = { onEvent, onEnd }), { stop: () => undefined }),
    listNodes: async () => ({ items: opts.nodes ?? [node], resourceVersion: "10" }),
    watchNodes: async (_rv, onEvent) => ((nodeWatch = { onEvent }), { stop: () => undefined }),
    getCsr: async (name) => store.get(name)!,
    getObject: async (path) => {
      const o = opts.objects?.[path];
      if (typeof o === "function") return (o as () => unknown)();
      if (o instanceof Error) throw o;
      return o;
    },
    addCondition: async (c, cond) => {
      if (conflictsLeft > 0) {
        conflictsLeft--;
        // Someone else touched it meanwhile: the stored copy moved on.
        const current = store.get(c.metadata.name)!;
        store.set(c.metadata.name, { ...current, metadata: { ...current.metadata, resourceVersion: String(Number(current.metadata.resourceVersion) + 1) } });
        throw new ApiStatusError(409, "the object has been modified");
      }
      pendingWrites++;
      const written: ApiCsr = { ...c, status: { conditions: [{ type: cond.type, status: "True", lastUpdateTime: cond.lastUpdateTime.toISOString() }] } };
      // The API server's watch often delivers the written object before the write's own answer.
      if (opts.echoWrites) csrWatch?.onEvent("MODIFIED", written);
      await opts.writeGate;
      pendingWrites--;
      writes.push({ name: c.metadata.name, type: cond.type, rv: c.metadata.resourceVersion });
      order.push(`write ${c.metadata.name}`);
      store.set(c.metadata.name, written);
    },
    createEvent: async (c, _t, reason) => {
      events.push(`${c.metadata.name} ${reason}`);
      order.push(`event ${c.metadata.name}`);
    },
    getLease: async () => undefined,
    watchLease: async () => ({ stop: () => undefined }),
    writeLease: async () => undefined,
  };
  return { api, writes, events, order, store, conflicts: (n: number) => (conflictsLeft = n), listCalls: () => listCalls, watch: () => csrWatch!, nodeWatch: () => nodeWatch!, pendingWrites: () => pendingWrites };
}

const quietObserver = (): ApproverObserver & { logs: string[]; decisions: string[]; byCsr: Map<string, string> } => {
  const logs: string[] = [];
  const decisions: string[] = [];
  const byCsr = new Map<string, string>();
  return {
    logs, decisions, byCsr, log: (_l, msg) => void logs.push(msg), synced: () => undefined,
    decision: (d, c) => {
      decisions.push(`${d.decision}:${d.reason}`);
      byCsr.set(c.metadata.name, `${d.decision}:${d.reason}`);
    },
  };
};

/** Counts the signature checks a controller makes. */
const counting = (): { verify: SignatureVerifier; calls: () => number } => {
  let n = 0;
  return { verify: (...args) => (n++, verify(...args)), calls: () => n };
};

describe("ApproverController", () => {
  it("retries a 409 with a fresh read and writes against the new resourceVersion", async () => {
    const f = fakeApi([await csr("a", "5")]);
    f.conflicts(2);
    const ctl = new ApproverController(f.api, quietObserver(), { policy: DEFAULT_POLICY, dryRun: false, verify, now: () => NOW, events: "all" });
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
    const ctl = new ApproverController(f.api, quietObserver(), { policy: { ...DEFAULT_POLICY, maxApprovalsPerNode: 10 }, dryRun: false, verify, now: () => NOW, workers: 1, events: "all" });
    await ctl.start();
    await waitFor("the Events", () => f.events.length === names.length, 5000, 10);
    expect(f.order).toEqual([...names.map((n) => `write ${n}`), ...names.map((n) => `event ${n}`)]);
    ctl.stop();
  });

  it("16 workers, 50 CSRs from one node and writes the test holds open: the per-node budget holds exactly", async () => {
    const names = Array.from({ length: 50 }, (_, i) => `flood-${i}`);
    const g = gate();
    const f = fakeApi(await Promise.all(names.map((n) => csr(n))), { writeGate: g.opened });
    const obs = quietObserver();
    const ctl = new ApproverController(f.api, obs, { policy: DEFAULT_POLICY, dryRun: false, verify, now: () => NOW, workers: 16, events: "none" });
    await ctl.start();
    // Every CSR decided while the first approvals are still being written.
    await waitFor("all 50 decisions", () => obs.decisions.length + f.pendingWrites() === 50, 10_000, 5);
    expect(f.pendingWrites()).toBe(DEFAULT_POLICY.maxApprovalsPerNode);
    g.open();
    await waitFor("the writes", () => f.writes.length === DEFAULT_POLICY.maxApprovalsPerNode && obs.decisions.length === 50, 10_000, 5);
    expect(obs.decisions.filter((d) => d === "approve:NodeAddressesVerified")).toHaveLength(3);
    expect(obs.decisions.filter((d) => d === "ignore:RateLimited")).toHaveLength(47);
    ctl.stop();
  });

  it("one key in CSRs from two nodes, decided at once: exactly one is approved, the other denied KeyReused", async () => {
    const key = await generateKeyPair("ECDSA-P256", crypto);
    const g = gate();
    const f = fakeApi([await csr("k-n1", "1", { node: "n1", key }), await csr("k-n2", "1", { node: "n2", key })], { nodes: [node, node2], writeGate: g.opened });
    const obs = quietObserver();
    const ctl = new ApproverController(f.api, obs, { policy: DEFAULT_POLICY, dryRun: false, verify, now: () => NOW, workers: 16, events: "none" });
    await ctl.start();
    await waitFor("both decided", () => f.pendingWrites() === 2, 10_000, 5);
    g.open();
    await waitFor("both written", () => f.writes.length === 2, 10_000, 5);
    expect([...obs.byCsr.values()].sort()).toEqual(["approve:NodeAddressesVerified", "deny:KeyReused"]);
    ctl.stop();
  });

  it("by default only a denial gets an Event (a Warning); an approval is told by its condition alone", async () => {
    const key = await generateKeyPair("ECDSA-P256", crypto);
    const f = fakeApi([await csr("d-n1", "1", { node: "n1", key }), await csr("d-n2", "1", { node: "n2", key })], { nodes: [node, node2] });
    const obs = quietObserver();
    const ctl = new ApproverController(f.api, obs, { policy: DEFAULT_POLICY, dryRun: false, verify, now: () => NOW, workers: 1 });
    await ctl.start();
    await waitFor("both written", () => f.writes.length === 2, 10_000, 5);
    await waitFor("the denial's Event", () => f.events.length === 1, 5000, 5);
    const denied = [...obs.byCsr].find(([, d]) => d === "deny:KeyReused")?.[0];
    expect(f.events).toEqual([`${denied} CSRDenied`]);
    ctl.stop();
  });

  it("restart: a new controller rebuilds the history from the cluster's approved CSRs, so it refuses a key the previous one approved and keeps the budget", async () => {
    const key = await generateKeyPair("ECDSA-P256", crypto);
    const f = fakeApi([await csr("first", "1", { node: "n1", key })], { nodes: [node, node2] });
    const before = new ApproverController(f.api, quietObserver(), { policy: DEFAULT_POLICY, dryRun: false, verify, now: () => NOW, events: "none" });
    await before.start();
    await waitFor("the approval", () => f.writes.length === 1, 5000, 5);
    before.stop();
    // Two more approvals for n1, made by anyone (another approver, an admin): they count too.
    for (const n of ["by-admin-1", "by-admin-2"]) {
      const c = await csr(n);
      f.store.set(n, { ...c, status: { conditions: [{ type: "Approved", status: "True", lastUpdateTime: "2026-11-26T11:59:30Z" }] } });
    }
    f.store.set("stolen", await csr("stolen", "1", { node: "n2", key }));
    f.store.set("fourth", await csr("fourth"));
    const obs = quietObserver();
    const after = new ApproverController(f.api, obs, { policy: DEFAULT_POLICY, dryRun: false, verify, now: () => NOW, events: "none" });
    await after.start();
    await waitFor("both decisions", () => obs.byCsr.size === 2, 5000, 5);
    expect(obs.byCsr.get("stolen")).toBe("deny:KeyReused");
    expect(obs.byCsr.get("fourth")).toBe("ignore:RateLimited");
    after.stop();
  });

  it("a signature is checked once per CSR, not on every Node event; CSRs waiting for their Node are not checked at all", async () => {
    const c = counting();
    const f = fakeApi([await csr("dry"), await csr("ghost", "1", { node: "ghost" })]);
    const obs = quietObserver();
    const ctl = new ApproverController(f.api, obs, { policy: DEFAULT_POLICY, dryRun: true, verify: c.verify, now: () => NOW });
    await ctl.start();
    await waitFor("both decided", () => obs.byCsr.size === 2, 5000, 5);
    const approvals = () => obs.decisions.filter((d) => d.startsWith("approve")).length;
    for (let i = 1; i <= 3; i++) {
      // Each Node event has every pending CSR decided again (a dry run writes nothing, so "dry" stays pending).
      f.nodeWatch().onEvent("MODIFIED", { ...node, metadata: { ...node.metadata, resourceVersion: String(20 + i) } } as ApiNode);
      await waitFor(`re-decision ${i}`, () => approvals() === 1 + i, 5000, 5);
    }
    expect(obs.byCsr.get("dry")).toBe("approve:NodeAddressesVerified");
    expect(obs.byCsr.get("ghost")).toBe("requeue:NodeNotFound");
    expect(c.calls()).toBe(1);
    ctl.stop();
  });

  it("discovery: the API server's endpoints and kubeadm-config's subnets are refused without any flag", async () => {
    const worker: ApiNode = { metadata: { name: "w" }, status: { addresses: [{ type: "Hostname", address: "w" }, { type: "InternalIP", address: "192.0.2.21" }] } };
    const objects = {
      "/api/v1/namespaces/default/services/kubernetes": { spec: { clusterIP: "10.200.0.1" } },
      "/api/v1/namespaces/default/endpoints/kubernetes": { subsets: [{ addresses: [{ ip: "192.0.2.21" }] }] },
      "/api/v1/namespaces/kube-system/configmaps/kubeadm-config": { data: { ClusterConfiguration: "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nnetworking: {serviceSubnet: 10.200.0.0/16, podSubnet: 10.244.0.0/16}\n" } },
    };
    const f = fakeApi([await csr("vip", "1", { node: "w" })], { nodes: [worker], objects });
    const obs = quietObserver();
    const timers: number[] = [];
    const ctl = new ApproverController(f.api, obs, { policy: DEFAULT_POLICY, dryRun: true, verify, now: () => NOW, setTimer: (_fn, ms) => timers.push(ms), clearTimer: () => undefined });
    await ctl.start();
    await waitFor("the decision", () => obs.byCsr.size === 1, 5000, 5);
    expect(obs.byCsr.get("vip")).toBe("deny:ReservedIP");
    expect(ctl.effectivePolicy.apiServerAddresses).toEqual(["192.0.2.21"]);
    expect(ctl.effectivePolicy.serviceCidrs).toEqual(["10.200.0.1/32", "10.200.0.0/16"]);
    expect(ctl.effectivePolicy.podCidrs).toEqual(["10.244.0.0/16"]);
    expect(timers).toContain(60_000); // read again every minute
    ctl.stop();
  });

  it("discovery refused at start (RBAC): start() fails with the API's answer instead of approving blind", async () => {
    const f = fakeApi([], { objects: { "/api/v1/namespaces/default/services/kubernetes": new ApiStatusError(403, "HTTP 403: services \"kubernetes\" is forbidden") } });
    const ctl = new ApproverController(f.api, quietObserver(), { policy: DEFAULT_POLICY, dryRun: true, verify, now: () => NOW });
    await expect(ctl.start()).rejects.toThrow(/403/);
    ctl.stop();
  });

  it("an approval's own watch event, arriving before the write's answer, is not counted twice against the node", async () => {
    const g = gate();
    const f = fakeApi([await csr("first")], { writeGate: g.opened, echoWrites: true });
    const obs = quietObserver();
    const ctl = new ApproverController(f.api, obs, { policy: { ...DEFAULT_POLICY, maxApprovalsPerNode: 2 }, dryRun: false, verify, now: () => NOW, events: "none" });
    await ctl.start();
    await waitFor("the first write", () => f.pendingWrites() === 1, 5000, 5);
    g.open();
    await waitFor("the first approval", () => obs.byCsr.get("first") === "approve:NodeAddressesVerified", 5000, 5);
    f.watch().onEvent("ADDED", await csr("second"));
    await waitFor("the second decision", () => obs.byCsr.has("second"), 5000, 5);
    expect(obs.byCsr.get("second")).toBe("approve:NodeAddressesVerified");
    ctl.stop();
  });

  it("discovery that fails for another reason (the API server restarting) is retried before the first decision", async () => {
    let calls = 0;
    const flaky = () => {
      if (++calls === 1) throw new ApiStatusError(503, "HTTP 503: the server is currently unable to handle the request");
      return { spec: { clusterIP: "10.200.0.1" } };
    };
    const f = fakeApi([], { objects: { "/api/v1/namespaces/default/services/kubernetes": flaky } });
    const delays: number[] = [];
    const ctl = new ApproverController(f.api, quietObserver(), { policy: DEFAULT_POLICY, dryRun: true, verify, now: () => NOW,
      setTimer: (fn, ms) => (delays.push(ms), ms < 60_000 ? queueMicrotask(fn) : undefined), clearTimer: () => undefined });
    await ctl.start();
    expect([calls, delays[0]]).toEqual([2, 500]);
    expect(ctl.effectivePolicy.serviceCidrs).toEqual(["10.200.0.1/32"]);
    ctl.stop();
  });
});
