/**
 * Bundles the kpki CLI (bin/kpki.ts and everything it imports) into one CommonJS file with
 * esbuild, for two users:
 *
 * - `npm run build`: dist/bin/kpki.cjs, its V8 code cache dist/bin/kpki.cjs.cache, and
 *   dist/bin/kpki.js, the small loader (bin/kpki-loader.ts) that the package's `bin` names. The
 *   library under dist/src stays tsc's output.
 * - `npm run build:binary` (scripts/build-binary.ts): the main script of the single executable.
 *
 * Why one CommonJS file: Node 20 has no compile cache for ES modules (module.enableCompileCache
 * came in Node 22.1), and loading ~100 ES modules dominated start-up; a single executable's main
 * script must be CommonJS anyway (https://nodejs.org/docs/latest-v20.x/api/single-executable-applications.html).
 * esbuild keeps every `import()` lazy in CommonJS output (a module reached only through `import()`
 * is wrapped in an init function that runs on the first call), so `kpki version` does not
 * evaluate the approver's @kubernetes/client-node stack.
 *
 * Run: `node --import tsx scripts/bundle.ts` (what `npm run build` does after tsc).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { BUILD_ID_PREFIX, WRAP_HEAD, WRAP_TAIL } from "../bin/kpki-loader.js";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * yargs reads its message translations from node_modules/yargs/locales/<locale>.json at run
 * time (y18n, lib/platform-shims/node.js of y18n 5). A bundle has no such folder, so this plugin
 * swaps y18n's file-system shim for one serving the same files from inside the bundle: messages
 * stay translated (LANG=fr_FR gives yargs' French words, as before bundling). y18n never writes
 * (yargs passes updateFiles: false).
 */
function yargsLocalesPlugin(): esbuild.Plugin {
  return {
    name: "kpki-yargs-locales",
    setup(build) {
      build.onLoad({ filter: /[\\/]y18n[\\/]build[\\/]lib[\\/]platform-shims[\\/]node\.js$/ }, () => {
        const dir = join(ROOT, "node_modules", "yargs", "locales");
        const files: Record<string, string> = {};
        for (const name of readdirSync(dir).sort()) if (name.endsWith(".json")) files[name] = readFileSync(join(dir, name), "utf8");
        const contents = `
import { format } from "node:util";
import { basename, resolve } from "node:path";
// yargs' locales/*.json, embedded at bundle time by scripts/bundle.ts (y18n looks up <directory>/<locale>.json).
const FILES = ${JSON.stringify(files)};
const enoent = (file) => Object.assign(new Error("ENOENT: no such file or directory, open '" + file + "'"), { code: "ENOENT" });
export default {
  fs: {
    readFileSync: (file) => {
      const text = FILES[basename(file)];
      if (text === undefined) throw enoent(file);
      return text;
    },
    writeFile: (file, _data, _encoding, callback) => callback(enoent(file)),
  },
  format,
  resolve,
  exists: (file) => Object.prototype.hasOwnProperty.call(FILES, basename(file)),
};
`;
        return { contents, loader: "js", resolveDir: dir };
      });
    },
  };
}

/**
 * string-width 8 builds `new Intl.Segmenter()` and a `\p{RGI_Emoji}` regular expression when it is
 * loaded (about 20 ms on this machine's CPU profile of `kpki version`), although yargs only measures
 * printable-ASCII strings on most runs. This plugin puts a wrapper in front of it: the wrapper
 * answers printable ASCII itself with string-width's own first test and result (index.js of
 * string-width 8.3.0: `if (/^[\u0020-\u007E]*$/.test(string)) return string.length;`, reached for
 * every such string because it contains no escape character), and loads the real module on the
 * first other string. esbuild turns the `require` of the bundled ES module into a lazy init call.
 */
function lazyStringWidthPlugin(): esbuild.Plugin {
  const WRAPPER = "kpki-lazy-string-width";
  return {
    name: WRAPPER,
    setup(build) {
      build.onResolve({ filter: /^string-width$/ }, (args) => {
        if (args.pluginData === WRAPPER) return undefined; // the wrapper's own import: the real package
        return { path: WRAPPER, namespace: WRAPPER, pluginData: { resolveDir: args.resolveDir } };
      });
      build.onLoad({ filter: /.*/, namespace: WRAPPER }, (args) => {
        const { resolveDir } = args.pluginData as { resolveDir: string };
        const contents = `
let real;
const printableAscii = /^[\\u0020-\\u007E]*$/;
export default function stringWidth(input, options) {
  if (typeof input === "string" && printableAscii.test(input)) return input.length;
  real ??= require("string-width").default;
  return real(input, options);
}
`;
        return { contents, loader: "js", resolveDir, pluginData: WRAPPER };
      });
    },
  };
}

/** esbuild options shared by the npm bundle and the single executable's main script. */
export function cliBuildOptions(outfile: string): esbuild.BuildOptions {
  return {
    absWorkingDir: ROOT,
    entryPoints: [join(ROOT, "bin", "kpki.ts")],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    // Whitespace and syntax only: identifiers keep their names, so classes and functions keep
    // their `name` (error names, stack traces with KPKI_DEBUG=1).
    minifyWhitespace: true,
    minifySyntax: true,
    charset: "utf8",
    legalComments: "none",
    sourcemap: false,
    logLevel: "warning",
    // yargs' platform shim (lib/platform-shims/esm.mjs) and yargs-parser call
    // fileURLToPath/createRequire on import.meta.url, which CommonJS output lacks: give them the
    // bundle's own URL (in a single executable, __filename is the executable).
    define: { "import.meta.url": "__kpki_import_meta_url" },
    banner: { js: '"use strict";var __kpki_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
    plugins: [yargsLocalesPlugin(), lazyStringWidthPlugin()],
    metafile: true,
  };
}

/** Bundles the CLI to `outfile` and appends the build id line; returns the id. */
export async function bundleCli(outfile: string): Promise<{ id: string; bytes: number }> {
  mkdirSync(dirname(outfile), { recursive: true });
  const result = await esbuild.build(cliBuildOptions(outfile));
  if (result.errors.length) throw new Error(`esbuild failed: ${result.errors.map((e) => e.text).join("; ")}`);
  // esbuild keeps bin/kpki.ts's "#!" line; V8 accepts one only at the very start of a script,
  // and the loader and the single executable compile the bundle inside a function wrapper.
  const body = readFileSync(outfile, "utf8").replace(/^#![^\n]*\n/, "");
  const id = createHash("sha256").update(body).digest("hex");
  const text = `${body}${BUILD_ID_PREFIX}${id}\n`;
  writeFileSync(outfile, text);
  return { id, bytes: Buffer.byteLength(text) };
}

/**
 * The trainer: a child Node process that compiles the wrapped bundle, runs it as the loader
 * would, with `argv`, and writes `script.createCachedData()` once the command has finished, so
 * the cache holds the functions that command compiled. Same Node binary and flags as the run
 * that will read it (V8 rejects a cache made with other flags; the loader then compiles as usual).
 */
const TRAINER = `
const { readFileSync, writeFileSync } = require("node:fs");
const { createRequire } = require("node:module");
const { dirname } = require("node:path");
const { Script } = require("node:vm");
const [file, cacheFile, id, ...argv] = process.argv.slice(1);
const wrapped = ${JSON.stringify(WRAP_HEAD)} + readFileSync(file, "utf8") + ${JSON.stringify(WRAP_TAIL)};
const script = new Script(wrapped, { filename: file });
process.argv = [process.execPath, file, ...argv];
const module = { exports: {}, filename: file, id: ".", loaded: false };
process.on("exit", () => {
  const data = script.createCachedData();
  writeFileSync(cacheFile, Buffer.concat([Buffer.from(id, "ascii"), data]));
});
script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
`;

/** Command lines the code cache is trained on, `{dir}` being a fresh temporary folder. */
export const TRAINING_RUNS: readonly (readonly string[])[] = [
  ["init", "--dir", "{dir}", "--encryption-algorithm", "ECDSA-P256", "--node-name", "n1", "--apiserver-advertise-address", "10.0.0.10"],
];

/**
 * Writes `<bundle>.cache`: the bundle's 64-hex build id, then V8's code cache for the wrapped
 * bundle after one training run. Returns the cache's size in bytes.
 */
export function trainCodeCache(bundle: string, id: string): number {
  const cacheFile = `${bundle}.cache`;
  rmSync(cacheFile, { force: true });
  const work = mkdtempSync(join(tmpdir(), "kpki-cache-"));
  try {
    for (const run of TRAINING_RUNS) {
      const argv = run.map((a) => a.replace("{dir}", join(work, "pki")));
      execFileSync(process.execPath, ["-e", TRAINER, bundle, cacheFile, id, ...argv], { stdio: ["ignore", "ignore", "inherit"], cwd: work, env: { ...process.env, NODE_OPTIONS: "" } });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return readFileSync(cacheFile).length;
}

/**
 * Bundles the loader (bin/kpki-loader.ts, Node builtins only) to `loaderOut` as an executable ES
 * module that runs the bundle next to it, `kpki.cjs`.
 */
export async function buildLoader(loaderOut: string): Promise<void> {
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    stdin: {
      contents: 'import { runBundle } from "./kpki-loader.js";\nimport { fileURLToPath } from "node:url";\nrunBundle(fileURLToPath(new URL("./kpki.cjs", import.meta.url)));\n',
      resolveDir: join(ROOT, "bin"),
      sourcefile: "kpki-entry.ts",
      loader: "ts",
    },
    banner: { js: "#!/usr/bin/env node" },
    outfile: loaderOut,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    logLevel: "warning",
  });
  if (result.errors.length) throw new Error(`esbuild failed: ${result.errors.map((e) => e.text).join("; ")}`);
  chmodSync(loaderOut, 0o755);
}

const kib = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;

/** `npm run build`'s second step: dist/bin/kpki.cjs + .cache + the loader at dist/bin/kpki.js. */
export async function buildNodeBundle(): Promise<void> {
  const bin = join(ROOT, "dist", "bin");
  const bundle = join(bin, "kpki.cjs");
  const { id, bytes } = await bundleCli(bundle);
  const cacheBytes = trainCodeCache(bundle, id);
  await buildLoader(join(bin, "kpki.js"));
  const rel = (p: string): string => relative(ROOT, p);
  console.log(`built ${rel(join(bin, "kpki.js"))} (loader) + ${rel(bundle)} (${kib(bytes)}) + ${basename(bundle)}.cache (${kib(cacheBytes)}), build id ${id.slice(0, 12)}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await buildNodeBundle();
