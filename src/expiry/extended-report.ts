import { humanDuration, kubeadmDate } from "./human.js";
import type { CheckedRow, RowStatus } from "./inventory.js";
import { rfc3339 } from "./kubeadm-report.js";
import { tabwrite } from "./tabwriter.js";

/** Statuses that fail a check (exit 2 with thresholds, 1 without). */
export const FAILING: ReadonlySet<RowStatus> = new Set(["EXPIRED", "NOT YET VALID", "INVALID", "CRITICAL"]);

const HEADER = "CERTIFICATE\tSUBJECT\tISSUER\tEXPIRES\tRESIDUAL TIME\tCHAIN\tKEY\tSTATUS";

/** kpki's table of every certificate found beyond kubeadm's list, laid out like kubeadm's tables. */
export function renderExtendedText(rows: readonly CheckedRow[]): string {
  const out: string[] = [];
  writeExtendedText(rows, (chunk) => out.push(chunk));
  return out.join("");
}

/**
 * Text written to stdout at once: big enough that a write costs little, small enough that a chunk
 * being built does not live long enough for V8 to move it to the old generation.
 */
const CHUNK = 64 << 10;

/** What tabwriter counts: code points. */
const cellWidth = (cell: string): number => (/[\ud800-\udbff]/.test(cell) ? [...cell].length : cell.length);

/**
 * renderExtendedText written in chunks of about 64 kB, each line coloured by `colour` when given
 * (the whole line, after layout). Every line has the same eight cells, so each column's width is
 * Go's tabwriter's for one block: max(minwidth 10, widest cell + padding 3), the last cell
 * unpadded; the layout equals tabwrite's (test/expiry/scan-output.test.ts). A cell holding a tab
 * or a line break would change the blocks: the table then goes through tabwrite itself.
 */
export function writeExtendedText(rows: Iterable<CheckedRow>, write: (chunk: string) => void, colour?: (status: RowStatus) => string | undefined): void {
  const cells = (r: CheckedRow): string[] => {
    const notAfter = r.notAfter;
    return notAfter
      ? [r.name, r.subject ?? "", r.issuer ?? "", kubeadmDate(notAfter), humanDuration(r.residualTime ?? 0), r.chain, r.key, r.error ? `${r.status}: ${r.error}` : r.status]
      : [r.name, "-", "-", "-", "-", "-", "-", r.error ? `${r.status}: ${r.error}` : r.status];
  };
  const header = HEADER.split("\t");
  const widths = header.map((h) => h.length);
  let plain = true;
  for (const r of rows) {
    const c = cells(r);
    for (let j = 0; j < 7; j++) {
      const cell = c[j]!;
      if (cell.includes("\t") || cell.includes("\n")) plain = false;
      const w = cellWidth(cell);
      if (w > widths[j]!) widths[j] = w;
    }
    const last = c[7]!;
    if (last.includes("\t") || last.includes("\n")) plain = false;
  }
  const paint = (line: string, status: RowStatus | undefined): string => {
    const code = status && colour ? colour(status) : undefined;
    return code && line ? `${code}${line}\x1b[0m` : line;
  };
  if (!plain) {
    const all = [...rows];
    const text = tabwrite(`${[HEADER, ...all.map((r) => cells(r).join("\t"))].join("\n")}\n`, { minwidth: 10, padding: 3 });
    write(colour ? text.split("\n").map((line, i) => paint(line, i > 0 ? all[i - 1]?.status : undefined)).join("\n") : text);
    return;
  }
  const pads = widths.map((w) => Math.max(10, w + 3));
  const line = (c: readonly string[]): string => {
    let s = "";
    for (let j = 0; j < 7; j++) s += c[j]! + " ".repeat(pads[j]! - cellWidth(c[j]!));
    return s + c[7]!;
  };
  let lines = [line(header)];
  let size = 0;
  for (const r of rows) {
    const l = paint(line(cells(r)), r.status);
    lines.push(l);
    size += l.length;
    if (size >= CHUNK) {
      write(`${lines.join("\n")}\n`);
      lines = [];
      size = 0;
    }
  }
  if (lines.length) write(`${lines.join("\n")}\n`);
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

/** Go's json.MarshalIndent escapes of <, > and & (as goJson in kubeadm-report.ts). */
const goEscape = (json: string): string => (/[<>&]/.test(json) ? json.replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026") : json);

/**
 * goJson({ ...head, additionalCertificates: extendedObjects(rows) }) written in chunks of about
 * 64 kB, without the whole array of objects or the whole text in memory at once.
 * `additionalCertificates` is the last field, as kubeadmObject puts it.
 */
export function writeExtendedJson(top: Record<string, unknown>, rows: Iterable<CheckedRow>, write: (chunk: string) => void): void {
  const empty = `${goEscape(JSON.stringify({ ...top, additionalCertificates: [] }, null, 4))}\n`;
  const tail = "[]\n}\n";
  if (!empty.endsWith(tail)) {
    write(`${goEscape(JSON.stringify({ ...top, additionalCertificates: extendedObjects([...rows]) }, null, 4))}\n`);
    return;
  }
  let parts: string[] = [`${empty.slice(0, -tail.length)}[`];
  let size = 0;
  let count = 0;
  for (const r of rows) {
    const json = rowJson(r);
    // The first element follows "[" on a new line, the others ",\n" (written before each).
    parts.push(count++ === 0 ? `\n${json}` : `,\n${json}`);
    size += json.length;
    if (size >= CHUNK) {
      write(parts.join(""));
      parts = [];
      size = 0;
    }
  }
  if (count === 0) write(empty);
  else write(`${parts.join("")}\n    ]\n}\n`);
}

const str = (s: string): string => goEscape(JSON.stringify(s));
/** rfc3339 (kubeadm-report.ts) without a regular expression for the usual 24-character form. */
const isoSeconds = (d: Date): string => {
  const iso = d.toISOString();
  return iso.length === 24 ? `${iso.slice(0, 19)}Z` : rfc3339(d);
};
const F = ",\n            ";

/** One element of additionalCertificates as goJson indents it inside the document: extendedObjects' fields, in its order. */
function rowJson(r: CheckedRow): string {
  const notBefore = r.notBefore;
  const notAfter = r.notAfter;
  let out = `        {\n            "name": ${str(r.name)}${F}"path": ${str(r.path)}`;
  if (r.subject !== undefined) out += `${F}"subject": ${str(r.subject)}`;
  if (r.issuer !== undefined) out += `${F}"issuer": ${str(r.issuer)}`;
  if (r.serialNumber !== undefined) out += `${F}"serialNumber": ${str(r.serialNumber)}`;
  out += `${F}"notBefore": ${notBefore ? `"${isoSeconds(notBefore)}"` : "null"}${F}"expirationDate": ${notAfter ? `"${isoSeconds(notAfter)}"` : "null"}`;
  out += `${F}"residualTime": ${JSON.stringify(r.residualTime ?? 0)}${F}"status": "${r.status}"${F}"chain": "${r.chain}"`;
  if (r.chainIssuer !== undefined) out += `${F}"chainIssuer": ${str(r.chainIssuer)}`;
  out += `${F}"key": "${r.key}"`;
  if (r.keyPath !== undefined) out += `${F}"keyPath": ${str(r.keyPath)}`;
  if (r.error !== undefined) out += `${F}"error": ${str(r.error)}`;
  return `${out}\n        }`;
}
