/**
 * Durations in Go's time.ParseDuration syntax (`8760h`, `87600h0m0s`, `1h30m`),
 * which kubeadm's v1beta4 config uses. CLI flags may also use `d` (24h) and
 * `y` (365 days, as kubeadm's validity periods count years).
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  "\u00b5s": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
/** Examples of the flag grammar, for error messages. */
export const DURATION_EXAMPLE = "720h, 30d or 1y";

const EXTRA_MS: Readonly<Record<string, number>> = { d: 86_400_000, y: 365 * 86_400_000 };

/** Parses a duration to milliseconds; undefined when invalid. Negative values are allowed only if `allowNegative`. */
export function parseDuration(
  text: string,
  { extendedUnits = false, allowNegative = false }: { extendedUnits?: boolean; allowNegative?: boolean } = {},
): number | undefined {
  let s = text.trim();
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s.startsWith("-")) sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") return undefined;
  const re = /^([0-9]*(?:\.[0-9]*)?)(ns|us|\u00b5s|ms|s|m|h|d|y)/;
  let total = 0;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m) return undefined;
    const [whole, num = "", unit = ""] = m;
    if (num === "" || num === ".") return undefined;
    const factor = UNIT_MS[unit] ?? (extendedUnits ? EXTRA_MS[unit] : undefined);
    if (factor === undefined) return undefined;
    total += Number(num) * factor;
    s = s.slice(whole.length);
  }
  if (sign < 0 && !allowNegative) return undefined;
  return sign * total;
}

/** Go's Duration.String() for whole-millisecond values, e.g. `8760h0m0s`, `1m30s`, `0s`. */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return "0s";
  const negative = ms < 0;
  let rest = Math.abs(ms);
  let out: string;
  if (rest < 1000) {
    out = `${rest}ms`;
  } else {
    const h = Math.floor(rest / 3_600_000);
    rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000);
    rest -= m * 60_000;
    const s = rest / 1000;
    out = h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
  }
  return negative ? `-${out}` : out;
}
