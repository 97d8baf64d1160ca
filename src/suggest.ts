/** "Did you mean": the closest known name to a mistyped one (config fields, flags, commands). */

/** Optimal-string-alignment (restricted Damerau–Levenshtein) distance. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The candidate closest to `name`: smallest edit distance, then smallest case-insensitive distance,
 * then alphabetical; only if the distance is at most max(2, a third of the name's length).
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  let best: { name: string; d: number; di: number } | undefined;
  for (const c of candidates) {
    const d = editDistance(name, c);
    const di = editDistance(name.toLowerCase(), c.toLowerCase());
    if (!best || d < best.d || (d === best.d && (di < best.di || (di === best.di && c < best.name)))) best = { name: c, d, di };
  }
  return best && best.d <= Math.max(2, Math.floor(name.length / 3)) ? best.name : undefined;
}
