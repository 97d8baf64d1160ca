/**
 * Go's text/tabwriter, for the settings kubeadm uses (padchar ' ', no flags):
 * cells are tab-terminated; a column block is a run of consecutive lines that
 * have a tab-terminated cell in that column; its width is
 * max(minwidth, widest cell + padding); the last cell of a line is not padded.
 * An empty line (or any line without tabs) ends every block.
 */
export interface TabwriterOptions {
  readonly minwidth: number;
  readonly padding: number;
}

const width = (text: string): number => [...text].length;

export function tabwrite(text: string, { minwidth, padding }: TabwriterOptions): string {
  const trailingNewline = text.endsWith("\n");
  const lines = (trailingNewline ? text.slice(0, -1) : text).split("\n").map((l) => l.split("\t"));
  const widths: number[] = [];
  const out: string[] = [];

  const writeLines = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      const line = lines[i] ?? [];
      let s = "";
      line.forEach((cell, j) => {
        s += cell;
        const w = widths[j];
        if (j < widths.length && w !== undefined) s += " ".repeat(Math.max(0, w - width(cell)));
      });
      out.push(s);
    }
  };

  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    let start = line0;
    for (let i = line0; i < line1; i++) {
      if (column >= (lines[i]?.length ?? 0) - 1) continue;
      writeLines(start, i);
      start = i;
      let w = minwidth;
      for (; i < line1; i++) {
        const line = lines[i] ?? [];
        if (column >= line.length - 1) break;
        w = Math.max(w, width(line[column] ?? "") + padding);
      }
      widths.push(w);
      format(start, i);
      widths.pop();
      start = i;
      i--; // the for loop's i++ revisits the line that ended the block
    }
    writeLines(start, line1);
  };

  format(0, lines.length);
  return out.join("\n") + (trailingNewline ? "\n" : "");
}
