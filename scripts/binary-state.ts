import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildIdOf } from "../bin/kpki-loader.js";

/**
 * Whether dist/kpki is current, without loading the build's own tools (esbuild): the tests and
 * the bench ask before running it, scripts/build-binary.ts before building it again.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The single executable `npm run build:binary` makes. */
export const BINARY = join(ROOT, "dist", "kpki");

/**
 * Why `binary` must be built again, or undefined when it is current: missing, or holding another
 * bundle than `bundle` (`npm run build`'s), whose last line is its build id, a hash of its text
 * (scripts/bundle.ts); esbuild's output does not depend on where it is written.
 */
export function staleBinaryReason(binary = BINARY, bundle = join(ROOT, "dist", "bin", "kpki.cjs")): string | undefined {
  if (!existsSync(binary)) return "is missing";
  const id = existsSync(bundle) ? buildIdOf(readFileSync(bundle, "latin1")) : undefined;
  return id !== undefined && !readFileSync(binary).includes(`kpki-build-id=${id}`) ? `holds another bundle than ${relative(ROOT, bundle)}` : undefined;
}
