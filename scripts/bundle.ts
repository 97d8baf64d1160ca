/**
 * Bundles the kpki CLI (bin/kpki.ts and everything it imports) into one CommonJS file with
 * esbuild, for two users:
 *
 * - `npm run build`: dist/bin/kpki.cjs, its V8 code cache dist/bin/kpki.cjs.cache, the vendor
 *   bundle dist/bin/kpki-vendor.cjs with its cache (vendorPlugin), and dist/bin/kpki.js, the small
 *   CommonJS loader (bin/kpki-loader.ts) that the package's `bin` names. The library under dist/src
 *   stays tsc's output.
 * - `npm run build:binary` (scripts/build-binary.ts): the same bundles and the main bundle's cache,
 *   which the single executable runs from its assets.
 *
 * Why one CommonJS file: Node 20 has no compile cache for ES modules (module.enableCompileCache
 * came in Node 22.1), and loading ~100 ES modules dominated start-up; a single executable's main
 * script must be CommonJS anyway (https://nodejs.org/docs/latest-v20.x/api/single-executable-applications.html).
 * esbuild keeps every `import()` lazy in CommonJS output (a module reached only through `import()`
 * is wrapped in an init function that runs on the first call), so `kpki version` evaluates
 * neither @peculiar/x509 nor the approver's modules nor any command's engine (src/cli's command
 * modules import those when they run; test/cli/startup.test.ts checks it); @kubernetes/client-node
 * and prom-client are not even parsed (vendorPlugin).
 *
 * Run: `node --import tsx scripts/bundle.ts` (what `npm run build` does after tsc).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { BUILD_ID_PREFIX, cacheFile, WRAP_HEAD, WRAP_TAIL } from "../bin/kpki-loader.js";

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
  return lazyPackagePlugin("string-width", `
let real;
const printableAscii = /^[\\u0020-\\u007E]*$/;
export default function stringWidth(input, options) {
  if (typeof input === "string" && printableAscii.test(input)) return input.length;
  real ??= require("string-width").default;
  return real(input, options);
}
`);
}

/**
 * yargs lays out help text with cliui (through its platform shim, lib/platform-shims/esm.mjs of
 * yargs 18), which loads wrap-ansi, strip-ansi and ansi-styles; ansi-styles builds its tables of
 * escape codes when it is loaded (about 0.3 ms in a CPU profile of `kpki version`). yargs calls
 * cliui only to print help (build/lib/usage.js, help()), so this plugin gives the shim a cliui that
 * loads the real one on its first call.
 */
function lazyCliuiPlugin(): esbuild.Plugin {
  return lazyPackagePlugin("cliui", `
let real;
export default function cliui(options) {
  real ??= require("cliui").default;
  return real(options);
}
`);
}

/**
 * Puts `wrapper` (an ES module whose default export stands for the package's) in front of the
 * package `pkg` wherever it is imported; the wrapper's own `require(pkg)` is the real package,
 * which esbuild turns into a lazy init call: the package is evaluated on the wrapper's first use.
 */
function lazyPackagePlugin(pkg: string, wrapper: string): esbuild.Plugin {
  const NS = `kpki-lazy-${pkg}`;
  return {
    name: NS,
    setup(build) {
      build.onResolve({ filter: new RegExp(`^${pkg.replace(/[/\\^$*+?.()|[\]{}-]/g, "\\$&")}$`) }, (args) => {
        if (args.pluginData === NS) return undefined; // the wrapper's own import: the real package
        return { path: NS, namespace: NS, pluginData: { resolveDir: args.resolveDir } };
      });
      build.onLoad({ filter: /.*/, namespace: NS }, (args) => {
        const { resolveDir } = args.pluginData as { resolveDir: string };
        return { contents: wrapper, loader: "js", resolveDir, pluginData: NS };
      });
    },
  };
}

/**
 * yargs' platform shim (lib/platform-shims/esm.mjs of yargs 18) imports node:assert when it is
 * loaded, for two checks it runs on every parse. Loading node:assert sets up AssertionError's
 * colours, which opens process.stderr (about 10 ms in a CPU profile of `kpki version`). This
 * plugin replaces that import line with two functions that make the same test (assert's
 * strictEqual and notStrictEqual compare with Object.is) and call node:assert only when it fails,
 * so that assert throws the error it always threw.
 */
function lazyAssertPlugin(): esbuild.Plugin {
  const IMPORT = "import { notStrictEqual, strictEqual } from 'assert'\n";
  const LAZY = [
    "const notStrictEqual = (actual, expected, message) => { if (Object.is(actual, expected)) require('node:assert').notStrictEqual(actual, expected, message); };",
    "const strictEqual = (actual, expected, message) => { if (!Object.is(actual, expected)) require('node:assert').strictEqual(actual, expected, message); };",
    "",
  ].join("\n");
  return {
    name: "kpki-lazy-assert",
    setup(build) {
      build.onLoad({ filter: /[\\/]yargs[\\/]lib[\\/]platform-shims[\\/]esm\.mjs$/ }, (args) => {
        const source = readFileSync(args.path, "utf8");
        if (!source.includes(IMPORT)) throw new Error(`${args.path}: the line this build replaces is gone (${JSON.stringify(IMPORT)}); check the new yargs`);
        return { contents: source.replace(IMPORT, LAZY), loader: "js" };
      });
    },
  };
}

/**
 * Text replacements in the files of a package that `file` matches, each made where its text occurs
 * exactly once (a package whose text changed fails the build, to be looked at again); `append` is
 * added at the end of the file.
 */
function patchPlugin(name: string, file: RegExp, replacements: readonly (readonly [from: string, to: string])[], append = ""): esbuild.Plugin {
  return {
    name,
    setup(build) {
      build.onLoad({ filter: file }, (args) => {
        let source = readFileSync(args.path, "utf8");
        for (const [from, to] of replacements) {
          if (source.split(from).length !== 2) throw new Error(`${args.path}: the text ${name} replaces is gone (${JSON.stringify(from)}); check the new version`);
          source = source.replace(from, () => to);
        }
        return { contents: source + append, loader: "js" };
      });
    },
  };
}

/**
 * Two changes to yargs' factory (build/lib/yargs-factory.js of yargs 18), one plugin because
 * esbuild loads a file once:
 *
 * - it calls `.version()` on every new instance, which guesses the application's version by
 *   walking up from the folder above its node_modules to the first package.json and reading it.
 *   kpki then calls `.version(false)`, which drops that guess, so it never shows. In a bundle the
 *   walk starts from the current folder instead (there is no node_modules in the bundle's path): a
 *   package.json of the user's would be read and dropped, and with none the failed search builds
 *   an AssertionError. The guess becomes "unknown" (what yargs answers when it finds no
 *   package.json) without searching.
 * - `getInternalMethods()` builds a new object of 16 bound methods on each of its calls (about 40
 *   in `kpki --version`, 110 KiB of garbage). The object is made once per instance (a WeakMap);
 *   its methods are bound to that instance, so every call returned the same behaviour.
 */
function yargsFactoryPlugin(): esbuild.Plugin {
  return patchPlugin(
    "kpki-yargs-factory",
    /[\\/]yargs[\\/]build[\\/]lib[\\/]yargs-factory\.js$/,
    [
      ["        const obj = this[kPkgUp]();\n        return obj.version || 'unknown';\n", "        return 'unknown';\n"],
      ["    getInternalMethods() {\n        return {\n", "    getInternalMethods() {\n        let methods = kpkiInternalMethods.get(this);\n        if (methods === undefined) kpkiInternalMethods.set(this, (methods = {\n"],
      ["            setHasOutput: this[kSetHasOutput].bind(this),\n        };\n    }\n", "            setHasOutput: this[kSetHasOutput].bind(this),\n        }));\n        return methods;\n    }\n"],
    ],
    "\nconst kpkiInternalMethods = new WeakMap();\n",
  );
}

/**
 * yargs checks the arguments of each of its API calls against a signature string (build/lib/argsert.js
 * of yargs 18), parsing that string with parseCommand every time: 47 calls and 21 distinct
 * signatures in `kpki --version`, 110 KiB allocated. The parsed signatures are kept (argsert only
 * reads them).
 */
function argsertSignaturePlugin(): esbuild.Plugin {
  return patchPlugin(
    "kpki-argsert-signatures",
    /[\\/]yargs[\\/]build[\\/]lib[\\/]argsert\.js$/,
    [["                parseCommand(`cmd ${arg1}`),\n", "                parsedSignature(arg1),\n"]],
    "\nconst kpkiSignatures = new Map();\nfunction parsedSignature(signature) {\n    let parsed = kpkiSignatures.get(signature);\n    if (parsed === undefined) kpkiSignatures.set(signature, (parsed = parseCommand(`cmd ${signature}`)));\n    return parsed;\n}\n",
  );
}

/**
 * Right after calling a command's handler, yargs lays out that command's whole help text and keeps
 * it (build/lib/command.js of yargs 18, handleValidationAndGetResult: `cacheHelpMessage()`), for a
 * later `showHelp()`/`getHelp()` or a failure that prints help to show the command's help rather
 * than the top level's. kpki calls neither, and its `fail()` handler (src/cli/main.ts) throws
 * instead of printing help, so that text is never read; laying it out was about 3 ms of every run
 * (a CPU profile of `kpki --version`: cliui and string-width over every option). This plugin
 * drops the call; `--help` still lays out its text when it is asked for.
 */
function noHelpCachePlugin(): esbuild.Plugin {
  const CALL = "            if (!isDefaultCommand) {\n                yargs.getInternalMethods().getUsageInstance().cacheHelpMessage();\n            }\n";
  return {
    name: "kpki-no-help-cache",
    setup(build) {
      build.onLoad({ filter: /[\\/]yargs[\\/]build[\\/]lib[\\/]command\.js$/ }, (args) => {
        const source = readFileSync(args.path, "utf8");
        if (source.split(CALL).length !== 2) throw new Error(`${args.path}: the lines this build removes are gone (${JSON.stringify(CALL)}); check the new yargs`);
        return { contents: source.replace(CALL, ""), loader: "js" };
      });
    },
  };
}

/** The packages only the approver and `kubeconfig user --via-api` use: bundled apart, loaded on first use. */
export const VENDOR_PACKAGES = { "@kubernetes/client-node": "k8s", "prom-client": "promClient" } as const;
/** The vendor bundle's file name, next to the main bundle (and the single executable's asset name). */
export const VENDOR_FILE = "kpki-vendor.cjs";

/**
 * @kubernetes/client-node and prom-client are 2.4 MiB of the 3.7 MiB of JavaScript, and esbuild
 * keeps most of client-node even where kpki uses little of it (its modules are not marked free of
 * side effects). kpki reaches them only through `import()` (src/io/node-io.ts,
 * src/cli/commands/approver-run.ts), so most runs never evaluate them, but V8 would still read and
 * parse them on every start. This plugin bundles them apart, in kpki-vendor.cjs, and gives the
 * main bundle a module that loads it on first use: from the file next to the bundle, or, in the
 * single executable, from its asset of the same name (node:sea getRawAsset, Node >= 20.12). Like
 * the main bundle, it is written inside its CommonJS wrapper and compiled by bin/kpki-loader.ts,
 * with the code cache beside it (kpki-vendor.cjs.cache, trainVendorCache) when there is one made
 * for it: loading it took about 150 ms without one and 60 ms with it, at every start of
 * `approver run` and `kubeconfig user --via-api`.
 */
function vendorPlugin(): esbuild.Plugin {
  const NS = "kpki-vendor";
  const names = Object.keys(VENDOR_PACKAGES).map((n) => n.replace(/[/\\^$*+?.()|[\]{}-]/g, "\\$&"));
  return {
    name: NS,
    setup(build) {
      build.onResolve({ filter: new RegExp(`^(${names.join("|")})$`) }, (args) => ({ path: args.path, namespace: NS }));
      build.onResolve({ filter: /^kpki-vendor-loader$/ }, () => ({ path: "loader", namespace: NS }));
      build.onLoad({ filter: /.*/, namespace: NS }, (args) => {
        if (args.path !== "loader") {
          const key = VENDOR_PACKAGES[args.path as keyof typeof VENDOR_PACKAGES];
          return { contents: `module.exports = require("kpki-vendor-loader")()[${JSON.stringify(key)}];\n`, loader: "js", resolveDir: ROOT };
        }
        const contents = `
let vendor;
module.exports = function vendorModules() {
  if (vendor !== undefined) return vendor;
  const { bundleText, cacheFor, runCommonJs } = require("./bin/kpki-loader.ts");
  const sea = require("node:sea");
  if (sea.isSea()) {
    // The executable's require loads builtins only, and warns for anything else; the vendor code
    // asks for optional packages (bufferutil, utf-8-validate, supports-color, encoding) inside
    // try/catch: answer as Node does when they are not installed.
    const { isBuiltin } = require("node:module");
    const vendorRequire = (id) => {
      if (isBuiltin(id)) return require(id);
      throw Object.assign(new Error("Cannot find module '" + id + "'"), { code: "MODULE_NOT_FOUND" });
    };
    const source = bundleText(Buffer.from(sea.getRawAsset(${JSON.stringify(VENDOR_FILE)})));
    let cache;
    try {
      cache = Buffer.from(sea.getRawAsset(${JSON.stringify(`${VENDOR_FILE}.cache`)}));
    } catch {
      cache = undefined; // an executable without the asset: V8 compiles from the source
    }
    vendor = runCommonJs(source, cacheFor(source, cache), __filename, vendorRequire, ${JSON.stringify(VENDOR_FILE)});
  } else {
    const { readFileSync } = require("node:fs");
    const { createRequire } = require("node:module");
    const file = require("node:path").join(__dirname, ${JSON.stringify(VENDOR_FILE)});
    const source = bundleText(readFileSync(file));
    let cache;
    try {
      cache = readFileSync(file + ".cache");
    } catch {
      cache = undefined; // no cache: V8 compiles from the source
    }
    vendor = runCommonJs(source, cacheFor(source, cache), file, createRequire(file));
  }
  return vendor;
};
`;
        return { contents, loader: "js", resolveDir: ROOT };
      });
    },
  };
}

/**
 * esbuild options shared by the main bundle and the vendor bundle (`entry`: bin/kpki.ts, or a
 * module re-exporting VENDOR_PACKAGES), for both the npm package and the single executable.
 */
export function cliBuildOptions(outfile: string, entry: "main" | "vendor" = "main"): esbuild.BuildOptions {
  const vendorEntry = Object.entries(VENDOR_PACKAGES).map(([pkg, key]) => `export * as ${key} from ${JSON.stringify(pkg)};`).join("\n");
  return {
    absWorkingDir: ROOT,
    ...(entry === "main"
      ? { entryPoints: [join(ROOT, "bin", "kpki.ts")] }
      : { stdin: { contents: vendorEntry, resolveDir: ROOT, sourcefile: "kpki-vendor.js", loader: "js" } }),
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    // Whitespace and syntax only: identifiers keep their names, so classes and functions keep
    // their `name` (error names, stack traces with KPKI_DEBUG=1).
    minifyWhitespace: true,
    minifySyntax: true,
    // esbuild escapes non-ASCII characters in strings and identifiers (not in regular expression
    // literals); the loader decodes an all-ASCII file as latin1, cheaper than UTF-8.
    charset: "ascii",
    legalComments: "none",
    sourcemap: false,
    logLevel: "warning",
    // yargs' platform shim (lib/platform-shims/esm.mjs) and yargs-parser call
    // fileURLToPath/createRequire on import.meta.url, which CommonJS output lacks: give them the
    // bundle's own URL (in a single executable, __filename is the executable).
    define: { "import.meta.url": "__kpki_import_meta_url" },
    banner: { js: '"use strict";var __kpki_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
    plugins: entry === "main" ? [yargsLocalesPlugin(), lazyStringWidthPlugin(), lazyAssertPlugin(), lazyCliuiPlugin(), yargsFactoryPlugin(), argsertSignaturePlugin(), noHelpCachePlugin(), vendorPlugin()] : [],
  };
}

/**
 * One esbuild output made ready for the loader: no "#!" line, the build id line at the end, and the
 * CommonJS function wrapper around it all (WRAP_HEAD, WRAP_TAIL), so that bin/kpki-loader.ts
 * compiles the file's text as it was read. Node decodes a text of 1 MiB or more into a string
 * outside V8's heap; wrapping it at run time made V8 copy all of it (1.3 MiB for the main bundle)
 * into the young generation before compiling, and that copy cost a scavenge (about 1.2 ms) in
 * every run.
 */
function finish(outfile: string): { id: string; bytes: number } {
  // esbuild keeps bin/kpki.ts's "#!" line; V8 accepts one only at the very start of a script,
  // and the loader and the single executable compile the bundle inside a function wrapper.
  const body = readFileSync(outfile, "utf8").replace(/^#![^\n]*\n/, "");
  const id = createHash("sha256").update(body).digest("hex");
  const text = `${WRAP_HEAD}${body}${BUILD_ID_PREFIX}${id}${WRAP_TAIL}\n`;
  writeFileSync(outfile, text);
  return { id, bytes: Buffer.byteLength(text) };
}

/** What bundleCli wrote. */
export interface Bundle {
  readonly main: string;
  readonly vendor: string;
  readonly id: string;
  readonly bytes: number;
  readonly vendorId: string;
  readonly vendorBytes: number;
}

/** Bundles the CLI to `outfile`, and the vendor packages to kpki-vendor.cjs beside it. */
export async function bundleCli(outfile: string): Promise<Bundle> {
  mkdirSync(dirname(outfile), { recursive: true });
  const vendor = join(dirname(outfile), VENDOR_FILE);
  for (const [out, entry] of [[outfile, "main"], [vendor, "vendor"]] as const) {
    const result = await esbuild.build(cliBuildOptions(out, entry));
    if (result.errors.length) throw new Error(`esbuild failed: ${result.errors.map((e) => e.text).join("; ")}`);
  }
  const { id, bytes } = finish(outfile);
  const { id: vendorId, bytes: vendorBytes } = finish(vendor);
  return { main: outfile, vendor, id, bytes, vendorId, vendorBytes };
}

/**
 * The trainer: a child Node process that compiles the wrapped bundle, runs it as the loader
 * would, with `argv`, and writes `script.createCachedData()` once the command has finished, so
 * the cache holds the functions that command compiled. Same Node binary and flags as the run
 * that will read it (V8 rejects a cache made with other flags; the loader then compiles as usual).
 * It runs from a file: a cache made by the same code under `node -e` was rejected here (Node 20.20.2).
 */
const TRAINER = `
const { readFileSync, writeFileSync } = require("node:fs");
const { createRequire } = require("node:module");
const { dirname } = require("node:path");
const { Script } = require("node:vm");
const [file, dataFile, ...argv] = process.argv.slice(2);
const script = new Script(readFileSync(file, "utf8"), { filename: file }); // the bundle is its own CommonJS wrapper (finish)
process.argv = [process.execPath, file, ...argv];
const main = { exports: {}, filename: file, id: ".", loaded: false };
process.on("exit", () => writeFileSync(dataFile, script.createCachedData()));
script.runInThisContext()(main.exports, createRequire(file), main, file, dirname(file));
`;

/**
 * The command the code cache is trained on, `{dir}` being a fresh temporary folder. `init` runs
 * yargs' parsing and a command's whole path (key generation, certificates, kubeconfigs, files),
 * the code most commands share. A cache trained on `version` alone made `--version` no faster
 * here (within the noise) and ECDSA `init` about 10 ms slower.
 */
export const TRAINING_RUN: readonly string[] = ["init", "--dir", "{dir}", "--encryption-algorithm", "ECDSA-P256", "--node-name", "n1", "--apiserver-advertise-address", "10.0.0.10"];

/**
 * The vendor bundle's trainer: it loads the bundle as vendorPlugin's loader does and makes a
 * KubeConfig (what every use begins with), then writes the code cache. Nothing connects anywhere.
 */
const VENDOR_TRAINER = `
const { readFileSync, writeFileSync } = require("node:fs");
const { createRequire } = require("node:module");
const { dirname } = require("node:path");
const { Script } = require("node:vm");
const [file, dataFile] = process.argv.slice(2);
const script = new Script(readFileSync(file, "utf8"), { filename: file });
const vendor = { exports: {} };
script.runInThisContext()(vendor.exports, createRequire(file), vendor, file, dirname(file));
new vendor.exports.k8s.KubeConfig();
writeFileSync(dataFile, script.createCachedData());
`;

/**
 * Writes `<bundle>.cache` (bin/kpki-loader.ts's cacheFile: the bundle's build id, a CRC-32, then
 * V8's code cache for the wrapped bundle after the training run), under a temporary name first.
 * Returns the file's size in bytes. `vendor`: the vendor bundle, trained by VENDOR_TRAINER.
 */
export function trainCodeCache(bundle: string, id: string, vendor = false): number {
  const out = `${bundle}.cache`;
  rmSync(out, { force: true });
  const work = mkdtempSync(join(tmpdir(), "kpki-cache-"));
  try {
    const trainer = join(work, "trainer.cjs");
    const data = join(work, "v8-code-cache");
    writeFileSync(trainer, vendor ? VENDOR_TRAINER : TRAINER);
    const argv = vendor ? [] : TRAINING_RUN.map((a) => a.replace("{dir}", join(work, "pki")));
    execFileSync(process.execPath, [trainer, bundle, data, ...argv], { stdio: ["ignore", "ignore", "inherit"], cwd: work, env: { ...process.env, NODE_OPTIONS: "" } });
    const file = cacheFile(id, readFileSync(data));
    writeFileSync(`${out}.tmp`, file);
    renameSync(`${out}.tmp`, out);
    return file.length;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * What dist/bin/kpki.js does: run the bundle beside it (bin/kpki-loader.ts), unless the bundle is
 * older than tsc's output of src/cli/entry.ts. Then `tsc` ran after the last `npm run build` and
 * the bundle may hold older code, so the unbundled CLI under dist/src runs instead.
 */
const LOADER_MAIN = `
const { join } = require("node:path");
const { pathToFileURL } = require("node:url");
const { olderThan, runBundle } = require("./kpki-loader.ts");
const bundle = join(__dirname, "kpki.cjs");
const unbundled = join(__dirname, "..", "src", "cli", "entry.js");
if (olderThan(bundle, unbundled)) import(pathToFileURL(unbundled).href).then((entry) => entry.main());
else runBundle(bundle);
`;

/** Bundles the loader (LOADER_MAIN and bin/kpki-loader.ts, Node builtins only) to `loaderOut`, executable. */
export async function buildLoader(loaderOut: string): Promise<void> {
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    stdin: { contents: LOADER_MAIN, resolveDir: join(ROOT, "bin"), sourcefile: "kpki-loader-main.js", loader: "js" },
    banner: { js: "#!/usr/bin/env node" },
    outfile: loaderOut,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    logLevel: "warning",
  });
  if (result.errors.length) throw new Error(`esbuild failed: ${result.errors.map((e) => e.text).join("; ")}`);
  chmodSync(loaderOut, 0o755);
}

const kib = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;

/**
 * `npm run build`'s second step, after tsc (which emits src/ only, to dist/src): dist/bin holds
 * the loader dist/bin/kpki.js, the bundle, its code cache, the vendor bundle and its code cache, and a package.json
 * making dist/bin's .js files CommonJS (the package's own is "type": "module").
 */
export async function buildNodeBundle(): Promise<void> {
  const dist = join(ROOT, "dist");
  const bin = join(dist, "bin");
  mkdirSync(dist, { recursive: true });
  // Built in a staging folder, then swapped in by two renames: a test running dist/bin/kpki.js
  // meanwhile finds the old build or the new one, not a folder being filled. What tsc wrote in
  // dist/bin when it still compiled bin/ goes with the old folder.
  const staging = mkdtempSync(join(dist, ".bin-"));
  chmodSync(staging, 0o755);
  try {
    writeFileSync(join(staging, "package.json"), `${JSON.stringify({ type: "commonjs" })}\n`);
    const bundle = join(staging, "kpki.cjs");
    const { id, bytes, vendor, vendorId, vendorBytes } = await bundleCli(bundle);
    const cacheBytes = trainCodeCache(bundle, id);
    const vendorCacheBytes = trainCodeCache(vendor, vendorId, true);
    await buildLoader(join(staging, "kpki.js"));
    const old = `${bin}.old-${process.pid}`;
    if (existsSync(bin)) renameSync(bin, old);
    renameSync(staging, bin);
    rmSync(old, { recursive: true, force: true });
    const rel = (p: string): string => relative(ROOT, p);
    console.log(
      `built ${rel(join(bin, "kpki.js"))} (loader) + ${rel(join(bin, "kpki.cjs"))} (${kib(bytes)}) + kpki.cjs.cache (${kib(cacheBytes)}) + ${VENDOR_FILE} (${kib(vendorBytes)}) + ${VENDOR_FILE}.cache (${kib(vendorCacheBytes)}), build id ${id.slice(0, 12)}`,
    );
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await buildNodeBundle();
