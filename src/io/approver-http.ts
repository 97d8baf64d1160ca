import { createServer, type Server } from "node:http";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ApproverObserver, CsrCounts } from "../approver/controller.js";
import type { Decision } from "../approver/policy.js";
import type { ApiCsr } from "../approver/ports.js";

export type ApproverTelemetry = ReturnType<typeof approverTelemetry>;

/** Prometheus metrics and JSON logs for the approver, plus its /healthz, /readyz and /metrics server. */
export function approverTelemetry(write: (line: string) => void, now: () => Date) {
  const registry = new Registry();
  const decisions = new Counter({
    name: "kpki_approver_decisions_total",
    help: "Decisions on kubelet-serving CSRs, by decision and reason.",
    labelNames: ["decision", "reason"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "kpki_approver_decision_latency_seconds",
    help: "Time from a CSR's creation to its Approved or Denied condition.",
    labelNames: ["decision"] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  // The CSR gauges are read from the controller's cache when /metrics is scraped.
  let counts: () => CsrCounts = () => ({ pending: 0, approvedNotIssued: 0, approvedFailed: 0 });
  const countGauge = (name: string, help: string, key: keyof CsrCounts) =>
    new Gauge({ name, help, registers: [registry], collect() {
      this.set(counts()[key]);
    } });
  countGauge("kpki_approver_pending_csrs", "kubelet-serving CSRs with no condition yet.", "pending");
  countGauge("kpki_approver_approved_not_issued_csrs", "kubelet-serving CSRs that are Approved but have no certificate and are not Failed.", "approvedNotIssued");
  countGauge("kpki_approver_approved_failed_csrs", "kubelet-serving CSRs that were Approved but the signer marked Failed (nothing was issued).", "approvedFailed");
  const leader = new Gauge({ name: "kpki_approver_leader", help: "1 while this replica holds the lease.", registers: [registry] });
  let ready = false;

  // The lines of one turn of the event loop go out in one write: a burst's decisions are one
  // system call per turn, not one per line (stderr is written synchronously to files and pipes).
  let lines: string[] = [];
  const flush = (): void => {
    if (!lines.length) return;
    const text = lines.join("");
    lines = [];
    write(text);
  };
  const log = (level: string, msg: string, fields: Record<string, unknown> = {}): void => {
    if (!lines.length) setImmediate(flush);
    lines.push(`${JSON.stringify({ ts: now().toISOString(), level, msg, ...fields })}\n`);
  };

  const observer: ApproverObserver = {
    decision: (d: Decision, _csr: ApiCsr, seconds: number | undefined) => {
      decisions.inc({ decision: d.decision, reason: d.reason });
      if (seconds !== undefined) latency.observe({ decision: d.decision }, Math.max(0, seconds));
    },
    log,
    synced: () => {
      ready = true;
      log("info", "caches synced; ready");
    },
  };

  /** Serves /healthz (alive), /readyz (synced) and /metrics on host:port. */
  const serve = (address: string): Promise<Server> => {
    const at = address.lastIndexOf(":");
    const host = address.slice(0, at) || "0.0.0.0";
    const port = Number(address.slice(at + 1));
    const server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/healthz") res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      else if (path === "/readyz") res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(ready ? "ok" : "caches not synced");
      else if (path === "/metrics") {
        registry.metrics().then(
          (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
          (error: unknown) => res.writeHead(500).end(String(error)),
        );
      } else res.writeHead(404).end("not found");
    });
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host.replace(/^\[|\]$/g, ""), () => resolve(server));
    });
  };

  return {
    observer, log, serve, registry,
    /** Writes the log lines not yet written (they go out at the end of the event loop's turn). */
    flush,
    setLeader: (on: boolean) => leader.set(on ? 1 : 0),
    /** Where the CSR gauges come from (the running controller; zeros while there is none). */
    countsFrom: (source: () => CsrCounts) => void (counts = source),
  };
}
