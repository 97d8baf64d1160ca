import { humanDuration, kubeadmDate } from "./human.js";
import type { CheckedRow, RowStatus } from "./inventory.js";
import { rfc3339 } from "./kubeadm-report.js";
import { tabwrite } from "./tabwriter.js";

/** Statuses that fail a check (exit 2 with thresholds, 1 without). */
export const FAILING: ReadonlySet<RowStatus> = new Set(["EXPIRED", "NOT YET VALID", "INVALID", "CRITICAL"]);

const HEADER = "CERTIFICATE\tSUBJECT\tISSUER\tEXPIRES\tRESIDUAL TIME\tCHAIN\tKEY\tSTATUS";

/** The lines of kpki's extra table (before tab alignment), one per row, in the order given. */
function lines(rows: readonly CheckedRow[]): string[] {
  return rows.map((r) =>
    r.notAfter
      ? [r.name, r.subject ?? "", r.issuer ?? "", kubeadmDate(r.notAfter), humanDuration(r.residualTime ?? 0), r.chain, r.key,
          r.error ? `${r.status}: ${r.error}` : r.status].join("\t")
      : [r.name, "-", "-", "-", "-", "-", "-", r.error ? `${r.status}: ${r.error}` : r.status].join("\t"),
  );
}

/** kpki's table of every certificate found beyond kubeadm's list, laid out like kubeadm's tables. */
export function renderExtendedText(rows: readonly CheckedRow[]): string {
  return tabwrite(`${[HEADER, ...lines(rows)].join("\n")}\n`, { minwidth: 10, padding: 3 });
}

/** The rows as JSON-ready objects (the `additionalCertificates` field of -o json|yaml). */
export function extendedObjects(rows: readonly CheckedRow[]): Record<string, unknown>[] {
  return rows.map((r) => ({
    name: r.name,
    path: r.path,
    ...(r.subject !== undefined ? { subject: r.subject } : {}),
    ...(r.issuer !== undefined ? { issuer: r.issuer } : {}),
    ...(r.serialNumber !== undefined ? { serialNumber: r.serialNumber } : {}),
    notBefore: r.notBefore ? rfc3339(r.notBefore) : null,
    expirationDate: r.notAfter ? rfc3339(r.notAfter) : null,
    residualTime: r.residualTime ?? 0,
    status: r.status,
    chain: r.chain,
    ...(r.chainIssuer !== undefined ? { chainIssuer: r.chainIssuer } : {}),
    key: r.key,
    ...(r.keyPath !== undefined ? { keyPath: r.keyPath } : {}),
    ...(r.error !== undefined ? { error: r.error } : {}),
  }));
}
