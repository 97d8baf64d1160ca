import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The cache scripts/setup-testenv.sh fills (same path rule as the script's header). */
export const testenvDir = (): string =>
  process.env["KPKI_TESTENV"] || join(process.env["XDG_CACHE_HOME"] || join(homedir(), ".cache"), "kpki-testenv");

/** The path of a real program, from the testenv cache or PATH; undefined when absent. */
export function findBinary(name: string): string | undefined {
  const cached = join(testenvDir(), "bin", name);
  if (existsSync(cached)) return cached;
  try {
    const found = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
    return found || undefined;
  } catch {
    return undefined;
  }
}

/** Under CI=true a missing real peer is a failure, never a skip (DEVELOPERS.md). */
export const isCi = (): boolean => process.env["CI"] === "true";

/**
 * The reason to skip a test that needs `names`, or undefined when all are there.
 * Throws under CI, where every real peer must be present.
 */
export function missingBinaries(...names: string[]): string | undefined {
  const missing = names.filter((n) => !findBinary(n));
  if (!missing.length) return undefined;
  const reason = `missing real peer(s): ${missing.join(", ")} (run scripts/setup-testenv.sh)`;
  if (isCi()) throw new Error(`CI=true but ${reason}`);
  console.warn(`SKIP: ${reason}`);
  return reason;
}
