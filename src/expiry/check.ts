import { CAS, KUBECONFIGS, LEAVES } from "../kubeadm/catalogue.js";
import { kubeconfigPaths, pkiPaths } from "../kubeadm/files.js";
import type { Bytes } from "../pki/der.js";
import { FAILING } from "./extended-report.js";
import type { SignatureVerifier } from "../pki/signature.js";
import { webCryptoVerifier } from "../pki/signature.js";
import { certificateRowsFromFile, kubeletRows, residualStatus, rowsFromFile, rowsFromKubeconfig, type FoundRow, type RowStatus, type Thresholds } from "./inventory.js";
import { DetailedRows, readScanned, type DetailedRowTable } from "./scan-check.js";
import { kubeadmExpiration, type KubeadmLayout } from "./kubeadm-inventory.js";
import type { CertificateExpirationInfo, ExpirationEntry } from "./kubeadm-report.js";

/** What `certs check-expiration` looks at. */
export interface CheckExpirationOptions {
  readonly layout: KubeadmLayout;
  readonly thresholds: Thresholds;
  /** Report kubeadm's own list (its two tables); false for only the detailed rows. */
  readonly kubeadm: boolean;
  /**
   * Also list kubeadm's files in the detailed rows, and check every signature (without it, chains
   * are linked by names and key identifiers only; see src/expiry/scan-check.ts).
   */
  readonly verify: boolean;
  /** Where the kubelet keeps its certificates, to report them too; undefined to leave them out. */
  readonly kubeletDir: string | undefined;
  /** Kubeconfigs whose every user and cluster certificate is reported. */
  readonly kubeconfigs: readonly string[];
  /** Files found by a scan (src/io/scan.ts); `explicit` when named on the command line. */
  readonly scanned: readonly ({ readonly path: string; readonly explicit: boolean } | { readonly path: string; readonly error: string })[];
}

/** The reads the check makes; src/io provides them. */
export interface CheckExpirationDeps {
  readonly read: (path: string) => Promise<string | undefined>;
  readonly readBytes: (path: string) => Promise<Bytes | undefined>;
  /** Whether a path may exist (a cached directory listing); also tells whether a folder exists. */
  readonly mayExist: (path: string) => boolean;
  readonly crypto: Crypto;
  /** Checks one signature (with `verify`); webCryptoVerifier(crypto) when absent. The CLI passes node:crypto's (src/io/node-signature.ts). */
  readonly verifySignature?: SignatureVerifier;
  readonly now: Date;
  /** Called every few hundred files of a long scan. */
  readonly progress?: (done: number, total: number) => void;
}

/**
 * The verdict, with the exit code of each convention:
 * - `kubeadmExit`: kubeadm's (no thresholds): 0, even for an expired certificate (kubeadm prints it
 *   and succeeds), or 1 when a file could not be read or holds no valid certificate (kubeadm stops).
 * - `monitoringExit` (thresholds given), the monitoring-plugin convention of Nagios, Icinga and
 *   Sensu checks: 0 OK, 1 WARNING, 2 CRITICAL (within --crit-within, expired, not yet valid,
 *   invalid), 3 UNKNOWN (a folder that does not exist, nothing found, a file that cannot be read).
 */
export type Verdict = "OK" | "WARNING" | "CRITICAL" | "UNKNOWN";
export const MONITORING_EXIT: Readonly<Record<Verdict, number>> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };

/**
 * The monitoring verdict from what a check found, in this order: a whole-check problem (a folder
 * that does not exist, nothing found) is UNKNOWN; anything failing (expired, critical, not yet
 * valid, invalid content) is CRITICAL; something that could not be read is UNKNOWN; something
 * within the warning threshold is WARNING; else OK. `exporter --once` judges with it too.
 */
export function monitoringVerdict(found: { readonly problems: boolean; readonly critical: boolean; readonly cannotRead: boolean; readonly warning: boolean }): Verdict {
  if (found.problems) return "UNKNOWN";
  if (found.critical) return "CRITICAL";
  if (found.cannotRead) return "UNKNOWN";
  return found.warning ? "WARNING" : "OK";
}

export interface ExpirationCheck {
  readonly info: CertificateExpirationInfo;
  /** The detailed rows (empty when no option beyond kubeadm's was given), in the order read. */
  readonly rows: DetailedRowTable;
  /** Whether a detailed table was asked for. */
  readonly extended: boolean;
  /** Why the result cannot be trusted (a folder that does not exist, nothing found), one line each. */
  readonly problems: readonly string[];
  readonly verdict: Verdict;
  readonly kubeadmExit: 0 | 1;
  readonly monitoringExit: number;
  /** A kubeadm row's status, for colouring. */
  readonly statusOf: (e: ExpirationEntry) => RowStatus | undefined;
}

/**
 * `kpki certs check-expiration`'s work without its output: kubeadm's CertificateExpirationInfo,
 * the detailed rows with chain and key checks, and the verdict. The CLI prints and exits with it;
 * a program can call it directly.
 */
export async function checkExpiration(opts: CheckExpirationOptions, deps: CheckExpirationDeps): Promise<ExpirationCheck> {
  const { layout, thresholds } = opts;
  const { info } = await kubeadmExpiration(layout, { read: deps.read }, deps.now);
  const reader = { readBytes: deps.readBytes, mayExist: deps.mayExist };

  const detailed = new DetailedRows({
    now: deps.now,
    thresholds,
    verify: opts.verify,
    verifySignature: deps.verifySignature ?? webCryptoVerifier(deps.crypto),
    crypto: deps.crypto,
  }, opts.scanned.length);
  const addAll = async (rows: readonly FoundRow[]): Promise<void> => {
    for (const r of rows) await detailed.addFound(r);
  };
  if (opts.verify) {
    for (const e of [...CAS, ...LEAVES]) {
      if (e.localEtcdOnly && layout.externalEtcd) continue;
      await addAll(await rowsFromFile(pkiPaths(layout.certificatesDir, e.baseName).cert, reader, true));
    }
    for (const k of KUBECONFIGS) if (k.managedByKubeadm) await addAll(await rowsFromKubeconfig(kubeconfigPaths(layout.kubeconfigDir, k.fileName).file, reader));
  }
  if (opts.kubeletDir !== undefined) await addAll(await kubeletRows(layout.kubeconfigDir, opts.kubeletDir, reader));
  for (const k of opts.kubeconfigs) await addAll(await rowsFromKubeconfig(k, reader));
  // Scanned files: each certificate is read by the scan's DER walk and kept as a row of a few
  // hundred bytes (the same certificate named twice, say by --verify and --scan, is listed once,
  // where it first appeared).
  for (const [i, entry] of opts.scanned.entries()) {
    if ("error" in entry) await detailed.add({ name: entry.path, path: entry.path, error: entry.error, unreadable: true });
    else for (const r of await certificateRowsFromFile(entry.path, reader, entry.explicit, readScanned)) await detailed.add(r);
    if (i % 500 === 0) deps.progress?.(i, opts.scanned.length);
  }
  const rows = await detailed.finish();
  const extended = opts.verify || opts.kubeletDir !== undefined || opts.kubeconfigs.length > 0 || opts.scanned.length > 0;

  const statusOf = (e: ExpirationEntry): RowStatus | undefined =>
    e.error ? "INVALID" : e.expirationDate ? residualStatus(e.residualTime, thresholds) : undefined;
  const kubeadmEntries = opts.kubeadm ? [...info.certificates, ...info.certificateAuthorities] : [];

  // The detailed rows in one pass (a scan can have 100,000 of them).
  let anyRowFound = false;
  let rowFailing = false; // expired, not yet valid, critical
  let rowInvalid = false;
  let rowInvalidContent = false; // invalid for what the file holds, not because it could not be read
  let rowUnreadable = false;
  let rowWarning = false;
  for (let i = 0; i < rows.length; i++) {
    const status = rows.statusAt(i);
    const unreadable = rows.unreadableAt(i);
    if (status !== "MISSING") anyRowFound = true;
    if (FAILING.has(status) && status !== "INVALID") rowFailing = true;
    if (status === "INVALID") {
      rowInvalid = true;
      if (!unreadable) rowInvalidContent = true;
    }
    if (unreadable) rowUnreadable = true;
    if (status === "WARNING") rowWarning = true;
  }

  // Whole-check problems: kubeadm's folders do not exist, or nothing at all was found.
  const problems: string[] = [];
  if (opts.kubeadm) {
    if (!deps.mayExist(layout.certificatesDir)) problems.push(`the certificate directory ${layout.certificatesDir} does not exist`);
    if (!deps.mayExist(layout.kubeconfigDir)) problems.push(`the kubeconfig directory ${layout.kubeconfigDir} does not exist`);
    const anyFound = kubeadmEntries.some((e) => !e.missing) || anyRowFound;
    if (!anyFound && problems.length === 0) problems.push(`no certificate found in ${layout.certificatesDir} or ${layout.kubeconfigDir}`);
  } else if (!anyRowFound) {
    problems.push("no certificate found");
  }

  const statuses = kubeadmEntries.map(statusOf).filter((s): s is RowStatus => s !== undefined);
  const verdict = monitoringVerdict({
    problems: problems.length > 0,
    critical: statuses.some((s) => FAILING.has(s) && s !== "INVALID") || rowFailing || kubeadmEntries.some((e) => e.error && !e.unreadable) || rowInvalidContent,
    cannotRead: kubeadmEntries.some((e) => e.unreadable) || rowUnreadable,
    warning: statuses.includes("WARNING") || rowWarning,
  });
  const kubeadmFailed = kubeadmEntries.some((e) => e.error) || rowInvalid;
  return { info, rows, extended, problems, verdict, kubeadmExit: kubeadmFailed ? 1 : 0, monitoringExit: MONITORING_EXIT[verdict], statusOf };
}
