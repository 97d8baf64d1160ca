/** One sample of a Prometheus text exposition, read back: its name, labels (and their order) and value. */
export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly labelOrder: string[];
  readonly value: number;
}

/** Every sample line of a text exposition (format 0.0.4), comments skipped; throws on a line that is neither. */
export function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    const labelOrder: string[] = [];
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(["\\n])/g, (_s, c: string) => (c === "n" ? "\n" : c));
      labelOrder.push(l[1]!);
    }
    out.push({ name: m[1]!, labels, labelOrder, value: Number(m[3]) });
  }
  return out;
}
