import type { SignatureVerifier } from "../pki/signature.js";
import { factsFromCluster, NO_FACTS, readClusterConfiguration, withClusterFacts, type ClusterFacts } from "./discovery.js";
import { ApprovalLedger, type Reservation } from "./history.js";
import { assessCsr, BAD_SIGNATURE, checkSignature, indexNodes, KUBELET_SERVING, type Decision, type NodeIndex, type PolicyConfig, type RequestCache } from "./policy.js";
import { ApiStatusError, DEFAULT_WORKERS, type ApiCsr, type ApiNode, type ApproverApi, type ApproverEvents, type WatchEventType, type WatchHandle } from "./ports.js";
import type { StrictRequest } from "./request.js";

/** What the controller reports; src/io wires these to prom-client and JSON logs. */
export interface ApproverObserver {
  decision(d: Decision, csr: ApiCsr, latencySeconds: number | undefined): void;
  log(level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>): void;
  synced(): void;
}

export interface CsrCounts {
  readonly pending: number;
  readonly approvedNotIssued: number;
  readonly approvedFailed: number;
}

export interface ControllerOptions {
  /** The configured policy; what discovery finds in the cluster is added to it. */
  readonly policy: PolicyConfig;
  /** Read the API server's addresses and kubeadm's subnets from the cluster (default true). */
  readonly discovery?: boolean;
  /** How often discovery reads them again (default 60 s). */
  readonly discoveryIntervalMs?: number;
  readonly dryRun: boolean;
  /** The signature check for each request (src/io/node-signature.ts in the CLI). */
  readonly verify: SignatureVerifier;
  readonly now: () => Date;
  /** Backoff for requeued CSRs: first delay and cap, in ms. */
  readonly requeueBaseMs?: number;
  readonly requeueMaxMs?: number;
  /** How many CSRs are reconciled at once (default DEFAULT_WORKERS). */
  readonly workers?: number;
  /**
   * Which decisions get an Event (default "denials"): a Warning Event names why a node's CSR was
   * denied where `kubectl get events` shows it; an approval is already told by the CSR's Approved
   * condition (reason and message), as kube-controller-manager's own approver leaves it, and an
   * Event for each would be one more API write per CSR.
   */
  readonly events?: ApproverEvents;
  /** Timers, injectable for tests. */
  readonly setTimer?: (fn: () => void, ms: number) => unknown;
  readonly clearTimer?: (t: unknown) => void;
}

const isFinal = (csr: ApiCsr): boolean => (csr.status?.conditions ?? []).some((c) => c.type === "Approved" || c.type === "Denied" || c.type === "Failed");

/**
 * The approver's loop: list and watch kubelet-serving CSRs and Nodes, decide
 * each undecided CSR with the pure policy, write Approved or Denied through
 * /approval (retrying a conflict with a fresh read), record an Event, requeue
 * transient outcomes with backoff, and re-list after 410 Gone or a dropped
 * watch. It owns no policy of its own.
 */
export class ApproverController {
  private readonly csrs = new Map<string, ApiCsr>();
  private readonly nodes = new Map<string, ApiNode>();
  private nodeIndex: NodeIndex | undefined; // rebuilt on the first decision after a Node changes
  /** Approvals in the cluster and approvals being written: the policy's history (see history.ts). */
  private readonly ledger: ApprovalLedger;
  /** Each CSR's signature verdict, by uid (spec is immutable): checked once, not on every Node event. */
  private readonly verdicts = new Map<string, { readonly request: string; readonly valid: Promise<boolean> }>();
  /** What was read of each undecided CSR's request: read once, however often it is decided again. */
  private readonly requests: RequestCache = new Map();
  private facts: ClusterFacts = NO_FACTS;
  private policy: PolicyConfig;
  private readonly queue = new Set<string>();
  private readonly backoff = new Map<string, number>();
  private readonly timers = new Map<string, unknown>();
  private readonly watches: WatchHandle[] = [];
  private active = 0;
  private stopped = false;
  private synced = { csrs: false, nodes: false };

  private readonly api: ApproverApi;
  private readonly obs: ApproverObserver;
  private readonly opts: ControllerOptions;

  constructor(api: ApproverApi, obs: ApproverObserver, opts: ControllerOptions) {
    this.api = api;
    this.obs = obs;
    this.opts = opts;
    this.policy = opts.policy;
    this.ledger = new ApprovalLedger(opts.policy.approvalWindowSeconds * 1000);
  }

  /**
   * Discovers what the cluster reserves, then lists and watches; resolves once both caches have
   * synced. The CSR list also rebuilds the approval history, so a new process (or a new leader)
   * knows the approvals made before it. Rejects if discovery is refused (RBAC) at start.
   */
  async start(): Promise<void> {
    if (this.opts.discovery !== false) {
      await this.discoverAtStart();
      const every = this.opts.discoveryIntervalMs ?? 60_000;
      const again = (): void => {
        if (this.stopped) return;
        this.discover()
          .catch((error: unknown) => this.obs.log("warn", "discovery failed; keeping what was found before", { error: (error as Error).message }))
          .finally(() => {
            if (!this.stopped) this.timers.set("\0discovery", this.setTimer(again, every));
          });
      };
      this.timers.set("\0discovery", this.setTimer(again, every));
    }
    await Promise.all([this.runWatch("nodes"), this.runWatch("csrs")]);
  }

  /**
   * Discovery before the first decision: a refusal (401, 403: the RBAC rules are missing) stops the
   * start; anything else (the API server restarting) is retried with backoff, as the lists are.
   */
  private async discoverAtStart(attempt = 0): Promise<void> {
    try {
      await this.discover();
    } catch (error) {
      if (this.stopped || (error instanceof ApiStatusError && (error.status === 401 || error.status === 403))) throw error;
      const delay = Math.min(500 * 2 ** attempt, 10_000);
      this.obs.log("warn", "discovery failed; retrying", { error: (error as Error).message, retryInMs: delay });
      await new Promise((r) => this.setTimer(r as () => void, delay));
      return this.discoverAtStart(attempt + 1);
    }
  }

  /** The policy in force: the configured one plus what discovery found. */
  get effectivePolicy(): PolicyConfig {
    return this.policy;
  }

  /**
   * Reads the `kubernetes` Service, its Endpoints and EndpointSlices, the ServiceCIDRs and
   * kube-system/kubeadm-config (absent outside kubeadm clusters). 404s are normal (an API a
   * version does not serve); any other error rejects.
   */
  private async discover(): Promise<void> {
    const get = (path: string): Promise<unknown> => this.api.getObject(path);
    const slices = "namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dkubernetes";
    const [service, endpoints, slicesV1, configMap, serviceCidrs] = await Promise.all([
      get("/api/v1/namespaces/default/services/kubernetes"),
      get("/api/v1/namespaces/default/endpoints/kubernetes"),
      get(`/apis/discovery.k8s.io/v1/${slices}`),
      get("/api/v1/namespaces/kube-system/configmaps/kubeadm-config"),
      get("/apis/networking.k8s.io/v1/servicecidrs"),
    ]);
    // Kubernetes before 1.21 serves EndpointSlices as v1beta1 only.
    const sliceList = slicesV1 ?? (await get(`/apis/discovery.k8s.io/v1beta1/${slices}`));
    const items = (v: unknown): unknown[] => (typeof v === "object" && v !== null && Array.isArray((v as { items?: unknown }).items) ? (v as { items: unknown[] }).items : []);
    const ccText = (configMap as { data?: { ClusterConfiguration?: unknown } } | undefined)?.data?.ClusterConfiguration;
    let clusterConfiguration: unknown;
    if (typeof ccText === "string") {
      try {
        clusterConfiguration = await readClusterConfiguration(ccText, "kube-system/kubeadm-config");
      } catch (error) {
        this.obs.log("warn", "kube-system/kubeadm-config has no readable ClusterConfiguration", { error: (error as Error).message });
      }
    }
    const facts = factsFromCluster({ service, serviceCidrs: items(serviceCidrs), endpoints, endpointSlices: items(sliceList), clusterConfiguration });
    if (JSON.stringify(facts) !== JSON.stringify(this.facts)) {
      this.facts = facts;
      this.policy = withClusterFacts(this.opts.policy, facts);
      this.obs.log("info", "discovered what the cluster reserves", { ...facts });
      this.requeueAll();
    }
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watches.splice(0)) w.stop();
    for (const t of this.timers.values()) (this.opts.clearTimer ?? clearTimeout)(t as NodeJS.Timeout);
    this.timers.clear();
  }

  private setTimer(fn: () => void, ms: number): unknown {
    return (this.opts.setTimer ?? ((f, m) => setTimeout(f, m)))(fn, ms);
  }

  /** List, then watch from the list's resourceVersion; on any end, watch again, or re-list after 410 or an error. */
  private async runWatch(kind: "csrs" | "nodes", attempt = 0): Promise<void> {
    if (this.stopped) return;
    let rv: string;
    try {
      if (kind === "csrs") {
        const list = await this.api.listCsrs();
        const names = new Set(list.items.map((c) => c.metadata.name));
        for (const name of [...this.csrs.keys()]) if (!names.has(name)) this.csrs.delete(name);
        for (const c of list.items) {
          this.csrs.set(c.metadata.name, c);
          this.ledger.recordCsr(c);
        }
        rv = list.resourceVersion;
        for (const c of list.items) this.enqueue(c.metadata.name);
      } else {
        const list = await this.api.listNodes();
        this.nodes.clear();
        for (const n of list.items) this.nodes.set(n.metadata.name, n);
        this.nodeIndex = undefined;
        rv = list.resourceVersion;
        this.requeueAll();
      }
    } catch (error) {
      const delay = Math.min(500 * 2 ** attempt, 10_000);
      this.obs.log("warn", `listing ${kind} failed; retrying`, { error: (error as Error).message, retryInMs: delay });
      await new Promise((r) => this.setTimer(r as () => void, delay));
      return this.runWatch(kind, attempt + 1);
    }
    if (!this.synced[kind]) {
      this.synced[kind] = true;
      if (this.synced.csrs && this.synced.nodes) this.obs.synced();
    }
    const restart = (error?: unknown): void => {
      if (this.stopped) return;
      const gone = error instanceof ApiStatusError && error.status === 410;
      if (error && !gone) this.obs.log("warn", `watch of ${kind} ended; re-listing`, { error: (error as Error).message ?? String(error) });
      // A normal close (the server's timeout) or 410 Gone: re-list, which also catches anything missed.
      this.setTimer(() => void this.runWatch(kind, error && !gone ? attempt + 1 : 0), error && !gone ? Math.min(500 * 2 ** attempt, 10_000) : 0);
    };
    try {
      const handle =
        kind === "csrs"
          ? await this.api.watchCsrs(rv, (type, obj) => this.onCsr(type, obj), restart)
          : await this.api.watchNodes(rv, (type, obj) => this.onNode(type, obj), restart);
      this.watches.push(handle);
    } catch (error) {
      restart(error);
    }
  }

  private onCsr(type: WatchEventType, csr: ApiCsr): void {
    if (type === "BOOKMARK") return;
    if (csr.spec?.signerName !== undefined && csr.spec.signerName !== KUBELET_SERVING) return;
    if (type === "DELETED") {
      this.csrs.delete(csr.metadata.name);
      this.forget(csr.metadata.name);
      this.dropCaches(csr);
    } else {
      this.csrs.set(csr.metadata.name, csr);
      this.ledger.recordCsr(csr);
      if (isFinal(csr)) this.dropCaches(csr);
      this.enqueue(csr.metadata.name);
    }
  }

  private onNode(type: WatchEventType, node: ApiNode): void {
    if (type === "BOOKMARK") return;
    if (type === "DELETED") this.nodes.delete(node.metadata.name);
    else this.nodes.set(node.metadata.name, node);
    this.nodeIndex = undefined;
    // CSRs waiting for this node (or whose SANs another node may now claim) are decided again.
    this.requeueAll();
  }

  private requeueAll(): void {
    for (const [name, csr] of this.csrs) if (!isFinal(csr)) this.enqueue(name);
  }

  private forget(name: string): void {
    const t = this.timers.get(name);
    if (t !== undefined) (this.opts.clearTimer ?? clearTimeout)(t as NodeJS.Timeout);
    this.timers.delete(name);
    this.backoff.delete(name);
  }

  private enqueue(name: string): void {
    const csr = this.csrs.get(name);
    if (!csr || isFinal(csr)) return;
    this.forget(name);
    this.queue.add(name);
    this.drain();
  }

  /**
   * Runs up to `workers` reconciles at once (a burst of node CSRs is decided in
   * parallel; each one's writes are round trips to the API server). A name is
   * never reconciled twice at the same time. Events wait until no CSR does:
   * they are best effort, and in a burst every API write they make would delay
   * the next node's approval.
   */
  private readonly inFlight = new Set<string>();
  private readonly events: (() => Promise<void>)[] = [];
  private drain(): void {
    const workers = this.opts.workers ?? DEFAULT_WORKERS;
    while (this.active < workers && !this.stopped) {
      let name: string | undefined;
      for (const n of this.queue) {
        if (!this.inFlight.has(n)) {
          name = n;
          break;
        }
      }
      if (name === undefined) {
        const send = this.events.shift();
        if (!send) return;
        this.active++;
        void send().finally(() => {
          this.active--;
          this.drain();
        });
        continue;
      }
      this.queue.delete(name);
      this.inFlight.add(name);
      this.active++;
      void this.reconcile(name)
        .catch((error: unknown) => {
          this.obs.log("error", "reconcile failed; requeued", { csr: name, error: (error as Error).message });
          this.requeue(name);
        })
        .finally(() => {
          this.inFlight.delete(name);
          this.active--;
          this.drain();
        });
    }
  }

  private requeue(name: string): void {
    const base = this.opts.requeueBaseMs ?? 1000;
    const delay = Math.min((this.backoff.get(name) ?? base / 2) * 2, this.opts.requeueMaxMs ?? 60_000);
    this.backoff.set(name, delay);
    this.timers.set(name, this.setTimer(() => {
      this.timers.delete(name);
      if (!this.stopped) {
        this.queue.add(name);
        this.drain();
      }
    }, delay));
  }

  /** A decided or deleted CSR's read request and signature verdict are no longer needed. */
  private dropCaches(csr: ApiCsr): void {
    this.verdicts.delete(csr.metadata.uid || csr.metadata.name);
    if (typeof csr.spec?.request === "string") this.requests.delete(csr.spec.request);
  }

  /** The CSR's signature verdict, computed once per uid (the request never changes). */
  private signatureOf(csr: ApiCsr, req: StrictRequest): Promise<boolean> {
    const id = csr.metadata.uid || csr.metadata.name;
    const request = csr.spec?.request ?? "";
    const known = this.verdicts.get(id);
    if (known && known.request === request) return known.valid;
    const valid = checkSignature(req, this.opts.verify).catch(() => false);
    this.verdicts.set(id, { request, valid });
    return valid;
  }

  /**
   * Decides one CSR and writes the outcome. Every rule but the signature is decided in one
   * synchronous step, and an approval reserves its node's budget slot and its key in that same
   * step; the reservation is committed once the approval is written, and released otherwise.
   */
  async reconcile(name: string): Promise<Decision | undefined> {
    let csr = this.csrs.get(name);
    if (!csr || isFinal(csr)) return undefined;
    let reservation: Reservation | undefined;
    const release = (): void => {
      if (reservation) this.ledger.release(reservation);
      reservation = undefined;
    };
    const decide = async (c: ApiCsr): Promise<Decision> => {
      this.nodeIndex ??= indexNodes([...this.nodes.values()]);
      const now = this.opts.now();
      const a = assessCsr(c, this.nodeIndex, this.policy, now, this.ledger, this.requests);
      if (a.kind === "final") return a.decision;
      reservation = this.ledger.reserve(c.metadata.uid || c.metadata.name, a.approval.node, a.approval.spki, now.getTime());
      if (await this.signatureOf(c, a.request)) return a.approval;
      release();
      return BAD_SIGNATURE;
    };
    try {
      let d = await decide(csr);
      // Each log line's fields are a new object, never a copy with fields overwritten (see kube-api.ts's addCondition).
      const fieldsOf = (x: Decision) => ({ csr: name, decision: x.decision, reason: x.reason, message: x.message, dryRun: this.opts.dryRun });
      const fields = fieldsOf(d);
      if (d.decision === "ignore") {
        this.obs.log("info", "ignored", fields);
        this.obs.decision(d, csr, undefined);
        return d;
      }
      if (d.decision === "requeue") {
        this.obs.log("info", "requeued", fields);
        this.obs.decision(d, csr, undefined);
        this.requeue(name);
        return d;
      }
      if (this.opts.dryRun) {
        release();
        this.obs.log("info", `would be ${d.decision === "approve" ? "approved" : "denied"} (dry run)`, fields);
        this.obs.decision(d, csr, undefined);
        return d;
      }
      // Write the condition; a conflict means the object moved on: read it again and decide again.
      for (let attempt = 0; ; attempt++) {
        try {
          await this.api.addCondition(csr, { type: d.decision === "approve" ? "Approved" : "Denied", reason: d.reason, message: d.message, lastUpdateTime: this.opts.now() });
          break;
        } catch (error) {
          if (!(error instanceof ApiStatusError) || error.status !== 409 || attempt >= 5) throw error;
          release();
          csr = await this.api.getCsr(name);
          this.csrs.set(name, csr);
          if (isFinal(csr)) return undefined;
          d = await decide(csr);
          if (d.decision !== "approve" && d.decision !== "deny") {
            release();
            return this.reconcile(name);
          }
        }
      }
      reservation = undefined; // written: it stays in the ledger
      const created = csr.metadata.creationTimestamp ? new Date(csr.metadata.creationTimestamp).getTime() : undefined;
      const latency = created === undefined ? undefined : (this.opts.now().getTime() - created) / 1000;
      this.obs.decision(d, csr, latency);
      this.obs.log("info", d.decision === "approve" ? "approved" : "denied", fieldsOf(d)); // d may have changed on a conflict
      // The Event is best effort; it is sent when no decision is waiting (see drain).
      const events = this.opts.events ?? "denials";
      if (events === "all" || (events === "denials" && d.decision === "deny")) {
        const [decided, at, approved, text] = [csr, this.opts.now(), d.decision === "approve", `${d.reason}: ${d.message}`];
        this.events.push(() => this.api
          .createEvent(decided, approved ? "Normal" : "Warning", approved ? "CSRApproved" : "CSRDenied", text, at)
          .catch((error: unknown) => this.obs.log("warn", "could not record an Event", { csr: name, error: (error as Error).message })));
      }
      this.forget(name);
      this.dropCaches(csr);
      return d;
    } finally {
      release();
    }
  }

  /**
   * The cache's CSRs for the signer with no condition yet; Approved ones without a certificate;
   * Approved ones the signer marked Failed (an approval that produced nothing must be visible). Counted when the metrics are scraped, not on every watch event.
   */
  counts(): CsrCounts {
    let pending = 0;
    let approvedNotIssued = 0;
    let approvedFailed = 0;
    for (const c of this.csrs.values()) {
      const types = (c.status?.conditions ?? []).map((x) => x.type);
      if (!types.length) pending++;
      else if (types.includes("Approved") && types.includes("Failed")) approvedFailed++;
      else if (types.includes("Approved") && !c.status?.certificate) approvedNotIssued++;
    }
    return { pending, approvedNotIssued, approvedFailed };
  }
}
