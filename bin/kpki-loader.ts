/**
 * What dist/bin/kpki.js runs (scripts/bundle.ts builds it): the CLI bundled into one CommonJS
 * file, dist/bin/kpki.cjs, compiled with the V8 code cache the build made for it,
 * dist/bin/kpki.cjs.cache. Node 20 has no compile cache of its own (module.enableCompileCache came
 * in Node 22.1); without one V8 parses and compiles the bundle on every start.
 *
 * The cache is used only if it was made for this very bundle (it starts with the build id the
 * bundle ends with) and V8 accepts it (same V8 version and flags; vm.Script sets
 * `cachedDataRejected` otherwise). In every other case the bundle is compiled from its source, as
 * Node would: the cache changes how fast kpki starts, never what it does.
 */
import { isAscii } from "node:buffer";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { Script } from "node:vm";

/** The part of the CommonJS wrapper before the bundle's text (the shape of Node's own, lib/internal/modules/cjs/loader.js). */
export const WRAP_HEAD = "(function (exports, require, module, __filename, __dirname) { ";
/** The part after it. */
export const WRAP_TAIL = "\n})";
/** The bundle's last line: this, then the SHA-256 (64 hex digits) of the text before it. */
export const BUILD_ID_PREFIX = "//# kpki-build-id=";
/** Length of the build id, which is also the first bytes of the cache file. */
export const BUILD_ID_LENGTH = 64;

/** The build id the bundle's text ends with, or undefined. */
export function buildIdOf(source: string): string | undefined {
  const at = source.lastIndexOf(BUILD_ID_PREFIX);
  if (at < 0) return undefined;
  const id = source.slice(at + BUILD_ID_PREFIX.length, at + BUILD_ID_PREFIX.length + BUILD_ID_LENGTH);
  return /^[0-9a-f]{64}$/.test(id) ? id : undefined;
}

/** The code cache in `cacheFile` if it belongs to the bundle with build id `id`. */
function readCache(cacheFile: string, id: string | undefined): Buffer | undefined {
  if (id === undefined) return undefined;
  try {
    const data = readFileSync(cacheFile);
    return data.subarray(0, BUILD_ID_LENGTH).toString("latin1") === id ? data.subarray(BUILD_ID_LENGTH) : undefined;
  } catch {
    return undefined; // no cache: V8 compiles from the source
  }
}

/** Runs the CommonJS bundle `file` as Node would run it as a main module, with its code cache if usable. */
export function runBundle(file: string): void {
  // UTF-8, read as latin1 when it is all ASCII (esbuild escapes most other characters): the
  // same text, decoded faster.
  const bytes = readFileSync(file);
  const source = isAscii(bytes) ? bytes.toString("latin1") : bytes.toString("utf8");
  const cachedData = readCache(`${file}.cache`, buildIdOf(source));
  const script = new Script(WRAP_HEAD + source + WRAP_TAIL, cachedData ? { filename: file, cachedData } : { filename: file });
  const main: unknown = script.runInThisContext();
  if (typeof main !== "function") throw new Error(`${file} did not compile to a CommonJS wrapper`);
  const module = { exports: {}, filename: file, id: ".", loaded: false, children: [], paths: [] };
  main(module.exports, createRequire(file), module, file, dirname(file));
}
