import type { CsrObject, NodeObject } from "./policy.js";
import { PkiError } from "../errors.js";

/** A CSR or Node as the API returns it, with the metadata the controller needs. */
export type ApiCsr = CsrObject & { readonly metadata: { readonly name: string; readonly resourceVersion?: string; readonly uid?: string; readonly creationTimestamp?: string | Date } };
export type ApiNode = NodeObject & { readonly metadata: { readonly name: string; readonly labels?: Readonly<Record<string, string>> } };

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK";

/** A running watch; `stop()` ends it (the end callback then runs). */
export interface WatchHandle {
  stop(): void;
}

/** A coordination.k8s.io/v1 Lease, the fields leader election uses. */
export interface Lease {
  readonly resourceVersion?: string;
  readonly holderIdentity?: string;
  readonly leaseDurationSeconds?: number;
  readonly acquireTime?: Date;
  readonly renewTime?: Date;
  readonly leaseTransitions?: number;
}

/** Raised by a port for an HTTP status the controller reacts to (404, 409, 410). */
export class ApiStatusError extends PkiError {
  override name = "ApiStatusError";
  readonly status: number;
  constructor(status: number, message: string) {
    super("api", message);
    this.status = status;
  }
}

/**
 * What the approver needs from the Kubernetes API. src/io/kube-api.ts implements
 * it on @kubernetes/client-node; the controller never sees HTTP.
 */
export interface ApproverApi {
  listCsrs(): Promise<{ items: ApiCsr[]; resourceVersion: string }>;
  watchCsrs(resourceVersion: string, onEvent: (type: WatchEventType, obj: ApiCsr) => void, onEnd: (error?: unknown) => void): Promise<WatchHandle>;
  listNodes(): Promise<{ items: ApiNode[]; resourceVersion: string }>;
  watchNodes(resourceVersion: string, onEvent: (type: WatchEventType, obj: ApiNode) => void, onEnd: (error?: unknown) => void): Promise<WatchHandle>;
  getCsr(name: string): Promise<ApiCsr>;
  /** GET one object (or list) by API path, query included; undefined on 404. For discovery: the `kubernetes` Service, its endpoints, kubeadm-config. */
  getObject(path: string): Promise<unknown>;
  /** PUT to /approval with one more condition; throws ApiStatusError(409) on a stale resourceVersion. */
  addCondition(csr: ApiCsr, condition: { type: "Approved" | "Denied"; reason: string; message: string; lastUpdateTime: Date }): Promise<void>;
  createEvent(csr: ApiCsr, type: "Normal" | "Warning", reason: string, message: string, now: Date): Promise<void>;
  getLease(namespace: string, name: string): Promise<Lease | undefined>;
  /** Watches one Lease: each ADDED/MODIFIED delivers it, DELETED delivers undefined. */
  watchLease(namespace: string, name: string, onLease: (lease: Lease | undefined) => void, onEnd: (error?: unknown) => void): Promise<WatchHandle>;
  /** Creates or replaces (with the lease's resourceVersion); throws ApiStatusError(409) when someone else wrote it first. */
  writeLease(namespace: string, name: string, lease: Lease, create: boolean): Promise<void>;
}

/**
 * How many CSRs the controller decides and writes at once (`--workers`). A burst's decisions share
 * the event loop's turns and the HTTP/2 connection's writes, so more at once costs less per CSR.
 * Two `npm run bench` runs (200 node CSRs on the real API server, 2-core machine, 5 rounds each)
 * ran 64 beside 16: the approver's CPU per burst was 250–280 ms against 290 (first burst after
 * start) and 260–270 against 280–290 (second); the p99 from CSR created to Approved 334–340 ms
 * against 367–417 (first) and 346–387 against 381–392 (second). 200 made the median worse (268 ms
 * against 208) for no gain in CPU. The API server queues what it does not serve at once (API
 * Priority and Fairness).
 */
export const DEFAULT_WORKERS = 64;

/** Which decisions `approver run` records as Events (`--events`). */
export const APPROVER_EVENTS = ["denials", "all", "none"] as const;
export type ApproverEvents = (typeof APPROVER_EVENTS)[number];
