/**
 * `kpki exporter --once`: the verdict and the JSON form of what would be exported. Pure: the clock
 * and the thresholds are passed in. The verdict follows `certs check-expiration`'s monitoring
 * convention (src/expiry/check.ts): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
 */
import { MONITORING_EXIT, monitoringVerdict, type Verdict } from "../expiry/check.js";
import { statusOf, type RowStatus, type Thresholds } from "../expiry/inventory.js";
import { CERT_LABELS, UNREADABLE_REASONS, type ExportError, type ExportedCertificate, type LabelledCertificate } from "./series.js";

export interface ExportStatus {
  readonly verdict: Verdict;
  readonly exitCode: number;
  readonly nothingFound: boolean;
}

const statusOfCertificate = (c: ExportedCertificate, now: Date, t: Thresholds): RowStatus => statusOf(new Date(c.notBefore * 1000), new Date(c.notAfter * 1000), now, t);

/**
 * CRITICAL: a certificate expired, not yet valid, within the critical threshold, or a certificate
 * that does not parse; UNKNOWN: nothing found, or a file that cannot be read; WARNING: within the
 * warning threshold; OK otherwise.
 */
export function exportStatus(certs: readonly ExportedCertificate[], errors: readonly ExportError[], now: Date, t: Thresholds): ExportStatus {
  const statuses = certs.map((c) => statusOfCertificate(c, now, t));
  const nothingFound = certs.length === 0 && errors.length === 0;
  const verdict = monitoringVerdict({
    problems: nothingFound,
    critical: statuses.some((s) => s === "EXPIRED" || s === "CRITICAL" || s === "NOT YET VALID") || errors.some((e) => !UNREADABLE_REASONS.has(e.reason)),
    cannotRead: errors.some((e) => UNREADABLE_REASONS.has(e.reason)),
    warning: statuses.includes("WARNING"),
  });
  return { verdict, exitCode: MONITORING_EXIT[verdict], nothingFound };
}

/** What `-o json` prints: each certificate's labels (those that apply), validity and status; each error's place and message. */
export function snapshotJson(certs: readonly LabelledCertificate[], errors: readonly ExportError[], now: Date, t: Thresholds): unknown {
  return {
    certificates: certs.map(({ certificate: c, labels }) => {
      const applied = Object.fromEntries(CERT_LABELS.map((name, i) => [name, labels[i] ?? ""]).filter(([, v]) => v !== ""));
      return {
        labels: applied,
        notBefore: new Date(c.notBefore * 1000).toISOString(),
        notAfter: new Date(c.notAfter * 1000).toISOString(),
        status: statusOfCertificate(c, now, t),
      };
    }),
    errors: errors.map((e) => ({ location: e.location, reason: e.reason, message: e.message })),
  };
}
