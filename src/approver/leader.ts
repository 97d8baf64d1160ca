import { ApiStatusError, type ApproverApi, type Lease, type WatchHandle } from "./ports.js";

/** client-go's defaults (leaderelection.LeaderElectionConfig): lease 15 s, renew deadline 10 s, retry 2 s. */
export interface LeaderElectionConfig {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

export const DEFAULT_LEADER_ELECTION = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 } as const;

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it (the
 * TypeScript client has none): acquire when the lease is free or expired,
 * renew every retry period, and give up leadership when a renewal has not
 * succeeded within the renew deadline. Writes carry the lease's
 * resourceVersion, so two candidates cannot both win. Unlike client-go's
 * usual callers, a replica that loses the lease stays a candidate (after an
 * API server outage it may win again) instead of exiting. Runs until `signal`.
 *
 * Expiry is judged as client-go judges it, on this replica's own clock from
 * the moment it first saw the lease's current record (holder and renewTime),
 * so the replicas' clocks need not agree. Unlike client-go, a candidate also
 * watches the Lease: it sees each renewal within milliseconds and wakes when
 * the lease would run out, so it takes over within the lease duration of the
 * leader's last renewal, not up to a retry period later. Without the watch
 * (it failed, or is re-opening) the retry-period polls still observe.
 */
export async function runLeaderElection(
  api: ApproverApi,
  cfg: LeaderElectionConfig,
  callbacks: { onStartedLeading: () => void; onStoppedLeading: () => void; log: (msg: string, fields?: Record<string, unknown>) => void },
  now: () => Date,
  signal: AbortSignal,
): Promise<void> {
  let leading = false;
  let lastRenew = 0;
  let observed: { key: string; at: number; lease: Lease | undefined } = { key: "none", at: now().getTime(), lease: undefined };
  const observe = (lease: Lease | undefined): void => {
    const key = lease ? `${lease.holderIdentity ?? ""}|${lease.renewTime?.getTime() ?? ""}` : "";
    if (key !== observed.key) observed = { key, at: now().getTime(), lease };
    else observed = { ...observed, lease };
  };
  const sleep = (ms: number) =>
    new Promise<void>((r) => {
      const onAbort = (): void => {
        clearTimeout(t);
        r();
      };
      // The listener goes when the timer fires: one per retry period would pile up on the signal.
      const t = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        r();
      }, ms);
      signal.addEventListener("abort", onAbort, { once: true });
    });

  // The watch: re-opened after it ends, a retry period later; it only feeds observe().
  let watch: WatchHandle | undefined;
  let warned = false;
  const failed = (error: unknown): void => {
    if (!warned) callbacks.log("cannot watch the lease; polling until it can", { error: (error as Error)?.message ?? String(error) });
    warned = true;
  };
  const openWatch = async (): Promise<void> => {
    if (signal.aborted) return;
    try {
      watch = await api.watchLease(cfg.namespace, cfg.name, observe, (error) => {
        watch = undefined;
        if (error) failed(error);
        if (!signal.aborted) void sleep(cfg.retryPeriodMs).then(openWatch);
      });
      if (signal.aborted) watch.stop();
    } catch (error) {
      failed(error);
      void sleep(cfg.retryPeriodMs).then(openWatch);
    }
  };
  void openWatch();

  const tryAcquireOrRenew = async (): Promise<boolean> => {
    const current = await api.getLease(cfg.namespace, cfg.name);
    observe(current);
    const t = now();
    const mine = current?.holderIdentity === cfg.identity;
    const duration = (current?.leaseDurationSeconds ?? 0) * 1000;
    const expired = !current?.holderIdentity || observed.at + duration <= t.getTime();
    if (current && !mine && !expired) return false;
    const lease: Lease = {
      ...(current?.resourceVersion ? { resourceVersion: current.resourceVersion } : {}),
      holderIdentity: cfg.identity,
      leaseDurationSeconds: Math.ceil(cfg.leaseDurationMs / 1000),
      acquireTime: mine && current?.acquireTime ? current.acquireTime : t,
      renewTime: t,
      leaseTransitions: (current?.leaseTransitions ?? 0) + (mine || !current ? 0 : 1),
    };
    await api.writeLease(cfg.namespace, cfg.name, lease, current === undefined);
    return true;
  };

  try {
    while (!signal.aborted) {
      let ok = false;
      try {
        ok = await tryAcquireOrRenew();
      } catch (error) {
        if (!(error instanceof ApiStatusError && error.status === 409)) callbacks.log("lease update failed", { error: (error as Error).message });
      }
      const t = now().getTime();
      if (ok) {
        lastRenew = t;
        if (!leading) {
          leading = true;
          callbacks.log("became leader", { lease: `${cfg.namespace}/${cfg.name}`, identity: cfg.identity });
          callbacks.onStartedLeading();
        }
      } else if (leading && t - lastRenew > cfg.renewDeadlineMs) {
        leading = false;
        callbacks.log("lost leadership; still a candidate", { lease: `${cfg.namespace}/${cfg.name}`, identity: cfg.identity });
        callbacks.onStoppedLeading();
      }
      // A candidate wakes when the lease it saw would run out, if that comes before the next retry.
      const held = observed.lease?.holderIdentity;
      const expiresIn = held && held !== cfg.identity ? observed.at + (observed.lease?.leaseDurationSeconds ?? 0) * 1000 - t + 1 : Infinity;
      await sleep(Math.max(0, Math.min(cfg.retryPeriodMs, expiresIn)));
    }
  } finally {
    watch?.stop();
  }
}
