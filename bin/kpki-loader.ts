/**
 * What dist/bin/kpki.js runs (scripts/bundle.ts builds it, as CommonJS: Node starts a CommonJS
 * main module faster than an ES module): the CLI bundled into one CommonJS file,
 * dist/bin/kpki.cjs, compiled with the V8 code cache the build made for it,
 * dist/bin/kpki.cjs.cache. Node 20 has no compile cache of its own (module.enableCompileCache came
 * in Node 22.1); without one V8 parses and compiles the bundle on every start. The single
 * executable runs the same bundle and cache from its assets (scripts/build-binary.ts).
 *
 * The cache is used only if it was made for this very bundle (it starts with the build id the
 * bundle ends with), its data is intact (SHA-256) and V8 accepts it (same V8 version and flags; vm.Script sets
 * `cachedDataRejected` otherwise). In every other case the bundle is compiled from its source, as
 * Node would: the cache changes how fast kpki starts, never what it does.
 */
import { isAscii } from "node:buffer";
import { crc32 } from "node:zlib";
import { readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { Script } from "node:vm";

/**
 * The part of the CommonJS wrapper before the bundle's text (the shape of Node's own,
 * lib/internal/modules/cjs/loader.js). scripts/bundle.ts writes the main bundle inside it, so the
 * file's text compiles as it is (see runCommonJs).
 */
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

/** A cache file: the bundle's build id, the CRC-32 (8 hex digits) of V8's data, then that data. */
export const CACHE_HEADER_LENGTH = BUILD_ID_LENGTH + 8;

/** CRC-32 of `data` as 8 hex digits. zlib's, not a SHA-256: node:crypto alone takes about 4 ms to load, zlib under 1 ms. */
const checksum = (data: Buffer): string => crc32(data).toString(16).padStart(8, "0");

/** A cache file holding V8's code cache `data` for the bundle with build id `id`. */
export const cacheFile = (id: string, data: Buffer): Buffer => Buffer.concat([Buffer.from(id, "latin1"), Buffer.from(checksum(data), "latin1"), data]);

/**
 * V8's code cache in the cache file `cache` if it was made for `source` and is intact. V8 checks
 * its version, flags and the source's length, but in release builds not the data itself: damaged
 * data ended Node 20.20.2 with "Fatal error ... unreachable code" here, so the data's CRC-32 is
 * checked first (it catches a damaged file; whoever can write the cache can write the bundle too).
 */
export function cacheFor(source: string, cache: Buffer | undefined): Buffer | undefined {
  const id = buildIdOf(source);
  if (id === undefined || cache === undefined || cache.length <= CACHE_HEADER_LENGTH) return undefined;
  if (cache.subarray(0, BUILD_ID_LENGTH).toString("latin1") !== id) return undefined;
  const data = cache.subarray(CACHE_HEADER_LENGTH);
  return cache.subarray(BUILD_ID_LENGTH, CACHE_HEADER_LENGTH).toString("latin1") === checksum(data) ? data : undefined;
}

/** The bundle's text: UTF-8, decoded as latin1 when it is all ASCII (esbuild escapes most other characters), the same text faster. */
export const bundleText = (bytes: Buffer): string => (isAscii(bytes) ? bytes.toString("latin1") : bytes.toString("utf8"));

/**
 * Runs the bundle `source` as Node runs a CommonJS module, whose file is `filename`, with `require`
 * as its require, and returns its exports; compiled with `cachedData` if V8 accepts it, under the
 * name `scriptName` (stack traces). `source` is already wrapped (WRAP_HEAD ... WRAP_TAIL, written
 * so by the build) and is compiled as it is: Node keeps a text that long outside V8's heap, where
 * a wrapper added here would have V8 copy all of it into the young generation first (a scavenge
 * in every run).
 */
export function runCommonJs(source: string, cachedData: Buffer | undefined, filename: string, require: NodeJS.Require | ((id: string) => unknown), scriptName = filename): unknown {
  if (!source.startsWith(WRAP_HEAD)) throw new Error(`${scriptName} is not a kpki bundle (it does not start with the CommonJS wrapper)`);
  const script = new Script(source, cachedData ? { filename: scriptName, cachedData } : { filename: scriptName });
  const main: unknown = script.runInThisContext();
  if (typeof main !== "function") throw new Error(`${scriptName} did not compile to a CommonJS wrapper`);
  const module = { exports: {}, filename, id: ".", loaded: false, children: [], paths: [] };
  main(module.exports, require, module, filename, dirname(filename));
  return module.exports;
}

/**
 * Whether `file` was written before `other` (false when either is missing). tsc rewrites every
 * file it emits on each run, so a bundle older than tsc's output of src/cli/entry.ts was built
 * from older sources: `tsc` ran after `npm run build`.
 */
export function olderThan(file: string, other: string): boolean {
  const a = statSync(file, { throwIfNoEntry: false });
  const b = statSync(other, { throwIfNoEntry: false });
  return a !== undefined && b !== undefined && a.mtimeMs < b.mtimeMs;
}

/** Runs the bundle `file` with the code cache beside it (`<file>.cache`) when that cache was made for it. */
export function runBundle(file: string): void {
  const source = bundleText(readFileSync(file));
  let cache: Buffer | undefined;
  try {
    cache = readFileSync(`${file}.cache`);
  } catch {
    cache = undefined; // no cache: V8 compiles from the source
  }
  runCommonJs(source, cacheFor(source, cache), file, createRequire(file));
}
