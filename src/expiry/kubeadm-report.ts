import { humanDuration, kubeadmDate } from "./human.js";
import { tabwrite } from "./tabwriter.js";

/**
 * kubeadm's `certs check-expiration` report: the output.kubeadm.k8s.io/v1alpha3
 * CertificateExpirationInfo object and its three renderings (cmd/kubeadm/app/cmd/certs.go,
 * apis/output/v1alpha3/types.go).
 */
export interface ExpirationEntry {
  readonly name: string;
  /** undefined when missing (JSON null). */
  readonly expirationDate: Date | undefined;
  /** Whole seconds until expiry, truncated toward zero; negative once expired; 0 when missing. */
  readonly residualTime: number;
  readonly externallyManaged: boolean;
  /** The CA's name for leaf rows; absent for CA rows and missing rows. */
  readonly caName?: string;
  readonly missing: boolean;
  /** kpki addition: why the file could not be read (absent from kubeadm's schema; only on bad input). */
  readonly error?: string;
  /** The error is that the file could not be read (permission, I/O), not what it holds; not printed. */
  readonly unreadable?: boolean;
}

export interface CertificateExpirationInfo {
  readonly certificates: readonly ExpirationEntry[];
  readonly certificateAuthorities: readonly ExpirationEntry[];
}

export const OUTPUT_API_VERSION = "output.kubeadm.k8s.io/v1alpha3";
export const OUTPUT_KIND = "CertificateExpirationInfo";

const yesNo = (b: boolean): string => (b ? "yes" : "no").padEnd(8, " "); // Go's %-8v

/** The text tables, byte for byte: tabwriter(minwidth 10, tabwidth 4, padding 3), `!MISSING!` rows. */
export function renderKubeadmText(info: CertificateExpirationInfo): string {
  const lines: string[] = ["CERTIFICATE\tEXPIRES\tRESIDUAL TIME\tCERTIFICATE AUTHORITY\tEXTERNALLY MANAGED"];
  for (const c of info.certificates) {
    if (c.missing || !c.expirationDate) {
      lines.push(`${c.error ? "!INVALID!" : "!MISSING!"} ${c.name}\t\t\t\t`);
      continue;
    }
    lines.push(`${c.name}\t${kubeadmDate(c.expirationDate)}\t${humanDuration(c.residualTime)}\t${c.caName ?? ""}\t${yesNo(c.externallyManaged)}`);
  }
  lines.push("");
  lines.push("CERTIFICATE AUTHORITY\tEXPIRES\tRESIDUAL TIME\tEXTERNALLY MANAGED");
  for (const c of info.certificateAuthorities) {
    if (c.missing || !c.expirationDate) {
      lines.push(`${c.error ? "!INVALID!" : "!MISSING!"} ${c.name}\t\t\t`);
      continue;
    }
    lines.push(`${c.name}\t${kubeadmDate(c.expirationDate)}\t${humanDuration(c.residualTime)}\t${yesNo(c.externallyManaged)}`);
  }
  return tabwrite(`${lines.join("\n")}\n`, { minwidth: 10, padding: 3 });
}

/** metav1.Time in JSON: RFC 3339 in UTC, whole seconds. */
export const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, "Z");

/** The object in kubeadm's field order (Go struct order, TypeMeta first). */
function toObject(info: CertificateExpirationInfo): Record<string, unknown> {
  const entry = (e: ExpirationEntry): Record<string, unknown> => ({
    name: e.name,
    expirationDate: e.expirationDate ? rfc3339(e.expirationDate) : null,
    residualTime: e.residualTime,
    externallyManaged: e.externallyManaged,
    ...(e.caName ? { caName: e.caName } : {}),
    missing: e.missing,
    ...(e.error ? { error: e.error } : {}),
  });
  return {
    kind: OUTPUT_KIND,
    apiVersion: OUTPUT_API_VERSION,
    certificates: info.certificates.map(entry),
    certificateAuthorities: info.certificateAuthorities.map(entry),
  };
}

/** kubeadm's -o json. */
export const renderKubeadmJson = (info: CertificateExpirationInfo): string => goJson(toObject(info));

/** A YAML scalar as sigs.k8s.io/yaml (go-yaml v2) writes JSON values: strings quoted when ambiguous. */
function yamlScalar(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  const s = String(value);
  const ambiguous =
    s === "" ||
    /^(?:true|false|yes|no|on|off|y|n|null|~)$/i.test(s) ||
    /^[-+]?(?:\d[\d_]*)?(?:\.\d*)?(?:[eE][-+]?\d+)?$/.test(s) ||
    /^\d{4}-\d{2}-\d{2}/.test(s) || // timestamps are quoted, e.g. "2026-08-19T09:03:12Z"
    /^[\s!&*\-:?{}[\],#|>@`"'%]/.test(s) ||
    /[:#]\s|\s$|: |\n/.test(s);
  return ambiguous ? JSON.stringify(s) : s;
}

/**
 * sigs.k8s.io/yaml output for JSON-shaped data: keys sorted, lists at the
 * parent's indentation, timestamps and ambiguous strings quoted, null kept.
 */
export function toGoYaml(value: Record<string, unknown>): string {
  const out: string[] = [];
  const emit = (obj: Record<string, unknown>, indent: string): void => {
    const entries = Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [key, v] of entries) {
      if (Array.isArray(v)) {
        if (v.length === 0) {
          out.push(`${indent}${key}: []`);
          continue;
        }
        out.push(`${indent}${key}:`);
        for (const item of v) {
          const saved = out.length;
          emit(item as Record<string, unknown>, `${indent}  `);
          const itemLines = out.splice(saved);
          itemLines.forEach((line, i) => out.push(i === 0 ? `${indent}- ${line.slice(indent.length + 2)}` : line));
        }
      } else if (v !== null && typeof v === "object") {
        out.push(`${indent}${key}:`);
        emit(v as Record<string, unknown>, `${indent}  `);
      } else {
        out.push(`${indent}${key}: ${yamlScalar(v)}`);
      }
    }
  };
  emit(value, "");
  return `${out.join("\n")}\n`;
}

/** The object with extra top-level fields (kpki's additions), for -o json|yaml. */
export function kubeadmObject(info: CertificateExpirationInfo, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...toObject(info), ...extra };
}

/** Go's json.MarshalIndent(obj, "", "    ") + "\n"; Go escapes <, > and & in strings. */
export function goJson(value: unknown): string {
  return `${JSON.stringify(value, null, 4).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026")}\n`;
}

/** kubeadm's -o yaml. */
export const renderKubeadmYaml = (info: CertificateExpirationInfo): string => toGoYaml(toObject(info));
