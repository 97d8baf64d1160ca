/**
 * The Prometheus text exposition format, version 0.0.4 (what `/metrics` serves and every Prometheus
 * since 1.0 reads): for each metric family a `# HELP` and a `# TYPE` line, then one line per series,
 * `name{label="value",...} value`. See prometheus/docs, content/docs/instrumenting/exposition_formats.md.
 */

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type MetricType = "gauge" | "counter" | "untyped";

/** One series: label values in the family's label order, and its value. */
export interface Series {
  readonly labels: readonly string[];
  readonly value: number;
  /** The labels as renderLabels wrote them for the same names, when the caller keeps them: then `labels` is not read. */
  readonly rendered?: string;
}

export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
  readonly series: Iterable<Series>;
}

/** HELP text: a backslash and a line feed are escaped. */
const escapeHelp = (s: string): string => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

/** A label value: a backslash, a double quote and a line feed are escaped. */
export function escapeLabelValue(s: string): string {
  // Most values need nothing; the test is cheaper than three replaces.
  return /[\\"\n]/.test(s) ? s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") : s;
}

/** A sample value as Go's strconv.FormatFloat(v, 'g', -1, 64) spells the ones Prometheus reads specially. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** `{name="value",...}` for the given names and values; `""` when there are no names. */
export function renderLabels(names: readonly string[], values: readonly string[]): string {
  if (!names.length) return "";
  // Joined, not concatenated: the result is one flat string, not a rope of 100 pieces that stays in memory as long as it does.
  const parts = new Array<string>(names.length);
  for (let i = 0; i < names.length; i++) parts[i] = `${names[i]}="${escapeLabelValue(values[i] ?? "")}"`;
  return `{${parts.join(",")}}`;
}

/** The text of the families, in the order given, in chunks of about 256 kB; a family with no series still gets its HELP and TYPE lines. */
export function* expositionChunks(families: Iterable<MetricFamily>): Generator<string> {
  for (const f of families) {
    let out = `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.series) {
      out += `${f.name}${s.rendered ?? renderLabels(f.labelNames, s.labels)} ${formatValue(s.value)}\n`;
      // Flush every few hundred kB so that 100,000 series never build one huge string.
      if (out.length > 256 << 10) {
        yield out;
        out = "";
      }
    }
    if (out) yield out;
  }
}

/** Writes families in the order given (expositionChunks). */
export function writeExposition(families: Iterable<MetricFamily>, write: (chunk: string) => void): void {
  for (const chunk of expositionChunks(families)) write(chunk);
}
