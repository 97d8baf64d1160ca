import { KUBELET_SERVING, requestKeyOf, timeOf, type ApprovalHistory, type CsrObject } from "./policy.js";

/** A node's budget slot and key, held while an approval is verified and written. */
export interface Reservation {
  /** The CSR (uid, else name) the approval is for. */
  readonly csr: string;
  readonly node: string;
  readonly spki: string;
  readonly at: number;
}

/**
 * The approvals the controller knows of, as the policy's ApprovalHistory: the kubelet-serving
 * CSRs approved in the cluster (read at start, which is also every leader takeover, and kept
 * current from the watch), plus the approvals it has decided but not yet written. A decision
 * reserves its node's slot and its key in the same tick as the policy allowed it, before any
 * await, so concurrent decisions see each other: the per-node budget and the key-reuse rule
 * hold whatever the number of workers. A reservation stays once the approval is written, and is
 * released when it is not. Memory is bounded: the most recent `maxKeys` keys and counted CSRs are
 * kept (Maps iterate in insertion order, so the oldest go first).
 */
export class ApprovalLedger implements ApprovalHistory {
  readonly keys = new Map<string, string>();
  readonly approvals = new Map<string, number[]>();
  private readonly keyRefs = new Map<string, number>();
  /** CSRs (uid, else name) already counted, oldest first. */
  private readonly counted = new Set<string>();
  private readonly windowMs: number;
  private readonly maxKeys: number;

  /** `windowMs`: how long an approval counts against its node's budget; `maxKeys`: how many approved keys are remembered. */
  constructor(windowMs: number, maxKeys = 100_000) {
    this.windowMs = windowMs;
    this.maxKeys = maxKeys;
  }

  private addKey(spki: string, node: string): void {
    const owner = this.keys.get(spki) ?? node;
    this.keys.delete(spki); // re-inserted: now the most recent
    this.keys.set(spki, owner);
    this.keyRefs.set(spki, (this.keyRefs.get(spki) ?? 0) + 1);
    for (const oldest of this.keys.keys()) {
      if (this.keys.size <= this.maxKeys) break;
      this.keys.delete(oldest);
      this.keyRefs.delete(oldest);
    }
  }

  private count(csr: string): void {
    this.counted.add(csr);
    for (const oldest of this.counted) {
      if (this.counted.size <= this.maxKeys) break;
      this.counted.delete(oldest);
    }
  }

  private addApproval(node: string, at: number): void {
    const kept = (this.approvals.get(node) ?? []).filter((t) => at - t < this.windowMs);
    kept.push(at);
    this.approvals.set(node, kept);
  }

  /**
   * Counts a kubelet-serving CSR that the cluster shows Approved (by anyone): its key is bound to
   * its node and its approval time counts against the node's budget. Idempotent per CSR; other
   * CSRs are passed over.
   */
  recordCsr(csr: CsrObject): void {
    const spec = csr.spec;
    const id = csr.metadata?.uid || csr.metadata?.name;
    if (!id || this.counted.has(id) || spec?.signerName !== KUBELET_SERVING) return;
    const approved = (Array.isArray(csr.status?.conditions) ? csr.status.conditions : []).find((c) => c?.type === "Approved");
    if (!approved) return;
    const node = typeof spec.username === "string" ? /^system:node:(.+)$/.exec(spec.username)?.[1] : undefined;
    const spki = requestKeyOf(spec.request);
    if (!node || !spki) return;
    const at = timeOf(approved.lastUpdateTime) ?? timeOf(approved.lastTransitionTime) ?? timeOf(csr.metadata?.creationTimestamp);
    this.count(id);
    this.addKey(spki, node);
    if (at !== undefined) this.addApproval(node, at);
  }

  /**
   * Holds the node's slot and the key for this CSR (uid, else name); the caller has just had
   * assessCsr approve with this ledger. The CSR counts as recorded from now on, so its Approved
   * copy from the watch (which may arrive before the write's own answer) is not counted twice.
   */
  reserve(csr: string, node: string, spki: string, at: number): Reservation {
    this.count(csr);
    this.addKey(spki, node);
    this.addApproval(node, at);
    return { csr, node, spki, at };
  }

  /** The approval was not written: give the slot and the key back. */
  release(r: Reservation): void {
    this.counted.delete(r.csr);
    const times = this.approvals.get(r.node) ?? [];
    const i = times.indexOf(r.at);
    if (i >= 0) times.splice(i, 1);
    const refs = (this.keyRefs.get(r.spki) ?? 1) - 1;
    if (refs <= 0) {
      this.keyRefs.delete(r.spki);
      if (this.keys.get(r.spki) === r.node) this.keys.delete(r.spki);
    } else {
      this.keyRefs.set(r.spki, refs);
    }
  }
}
