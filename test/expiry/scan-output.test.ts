import { describe, expect, it } from "vitest";
import { extendedObjects, renderExtendedText, writeExtendedJson, writeExtendedText } from "../../src/expiry/extended-report.js";
import { humanDuration, kubeadmDate } from "../../src/expiry/human.js";
import type { CheckedRow } from "../../src/expiry/inventory.js";
import { goJson, kubeadmObject } from "../../src/expiry/kubeadm-report.js";
import { tabwrite } from "../../src/expiry/tabwriter.js";
import { T0 } from "../helpers/clock.js";

/** The table as it was made before it was written in chunks: every line, then Go's tabwriter over all of them. */
function tabwrittenTable(rows: readonly CheckedRow[]): string {
  const lines = rows.map((r) =>
    r.notAfter
      ? [r.name, r.subject ?? "", r.issuer ?? "", kubeadmDate(r.notAfter), humanDuration(r.residualTime ?? 0), r.chain, r.key, r.error ? `${r.status}: ${r.error}` : r.status].join("\t")
      : [r.name, "-", "-", "-", "-", "-", "-", r.error ? `${r.status}: ${r.error}` : r.status].join("\t"),
  );
  return tabwrite(`${["CERTIFICATE\tSUBJECT\tISSUER\tEXPIRES\tRESIDUAL TIME\tCHAIN\tKEY\tSTATUS", ...lines].join("\n")}\n`, { minwidth: 10, padding: 3 });
}

/** 1,500 rows (well over one 64 kB chunk) with every optional field, odd characters and missing certificates. */
const rows: CheckedRow[] = Array.from({ length: 1500 }, (_, i): CheckedRow => {
  if (i % 97 === 5) return { name: `/tmp/x/missing-${i}.crt`, path: `/tmp/x/missing-${i}.crt`, status: "MISSING", chain: "-", key: "-" };
  if (i % 89 === 7) return { name: `/tmp/x/bad-${i}.crt`, path: `/tmp/x/bad-${i}.crt`, status: "INVALID", chain: "-", key: "-", error: "DER data is not a certificate: <truncated> & more" };
  const notAfter = new Date(T0.getTime() + (i - 20) * 86_400_000 + i * 1000);
  return {
    name: i % 3 ? `/tmp/x/d${i % 10}/leaf-${i}.pem#${(i % 2) + 1}` : `/tmp/x/ünïcode-😀-${i}.crt`,
    path: `/tmp/x/d${i % 10}/leaf-${i}.pem`,
    subject: i % 4 ? `O=system:nodes, CN=system:node:n${i}` : `CN=<${i}> & "quoted" \\ back`,
    issuer: "CN=kubernetes",
    serialNumber: (1000 + i).toString(16),
    notBefore: new Date(T0.getTime() - 86_400_000),
    notAfter,
    residualTime: Math.trunc((notAfter.getTime() - T0.getTime()) / 1000),
    status: i < 20 ? "EXPIRED" : i % 50 === 0 ? "WARNING" : "OK",
    chain: (["linked", "self-issued", "unknown issuer", "ok", "self-signed", "bad signature"] as const)[i % 6]!,
    ...(i % 6 === 0 || i % 6 === 3 ? { chainIssuer: "/tmp/x/ca.crt" } : {}),
    key: i % 11 === 0 ? "match" : "-",
    ...(i % 11 === 0 ? { keyPath: `/tmp/x/d${i % 10}/leaf-${i}.key` } : {}),
  };
});

describe("the detailed table and JSON, written in chunks", () => {
  it("the text equals Go's tabwriter over the whole table, and arrives in several writes", () => {
    const chunks: string[] = [];
    writeExtendedText(rows, (c) => chunks.push(c));
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.join("")).toBe(tabwrittenTable(rows));
    expect(renderExtendedText(rows)).toBe(tabwrittenTable(rows));
    expect(renderExtendedText([])).toBe(tabwrittenTable([]));
  });

  it("a cell with a tab or a line break goes through the tabwriter itself", () => {
    const odd = [{ ...rows[1]!, name: "/tmp/a\tb.crt" }, { ...rows[2]!, error: "line one\nline two", status: "INVALID" as const }, ...rows.slice(3, 10)];
    expect(renderExtendedText(odd)).toBe(tabwrittenTable(odd));
  });

  it("colour wraps each row's line, never the header", () => {
    const chunks: string[] = [];
    writeExtendedText(rows.slice(0, 30), (c) => chunks.push(c), (s) => (s === "EXPIRED" ? "\x1b[31m" : undefined));
    const lines = chunks.join("").split("\n");
    expect(lines[0]).toMatch(/^CERTIFICATE/);
    expect(lines[1]).toMatch(/^\x1b\[31m.*EXPIRED\x1b\[0m$/);
    expect(lines[25]).not.toContain("\x1b[");
    expect(lines.map((l) => l.replace(/\x1b\[\d+m/g, "")).join("\n")).toBe(tabwrittenTable(rows.slice(0, 30)));
  });

  it("the JSON equals goJson of the whole object (kubeadm's fields or not), in several writes", () => {
    for (const top of [{ kind: "CertificateExpirationInfo", apiVersion: "output.kubeadm.k8s.io/v1alpha3" }, kubeadmObject({ certificates: [], certificateAuthorities: [] })]) {
      const chunks: string[] = [];
      writeExtendedJson(top, rows, (c) => chunks.push(c));
      expect(chunks.length).toBeGreaterThan(2);
      expect(chunks.join("")).toBe(goJson({ ...top, additionalCertificates: extendedObjects(rows) }));
      const none: string[] = [];
      writeExtendedJson(top, [], (c) => none.push(c));
      expect(none.join("")).toBe(goJson({ ...top, additionalCertificates: [] }));
    }
  });
});
