/**
 * `npm run build:binary`: kpki as one Node single-executable application for linux-x64, at
 * dist/kpki. It runs every command on a host without Node.js: the whole CLI and its dependencies
 * are embedded (bundled by scripts/bundle.ts), and it reads no file of its own at run time.
 *
 * Steps (https://nodejs.org/docs/latest-v20.x/api/single-executable-applications.html):
 * 1. esbuild bundles bin/kpki.ts into one CommonJS file (a single executable's main script must
 *    be CommonJS on Node 20, and its `require` loads only Node's builtin modules), and
 *    @kubernetes/client-node + prom-client into another, embedded as an asset;
 * 2. V8's code cache for the bundle is made as for the npm build (scripts/bundle.ts, a training
 *    run of `kpki init`), and `node --experimental-sea-config` makes the blob: a small main script
 *    (SEA_MAIN, with `useCodeCache: true`) and the bundle, the vendor bundle and their caches as
 *    assets;
 * 3. a copy of the running Node binary (process.execPath) receives the blob through postject,
 *    with Node's sentinel fuse.
 *
 * The JavaScript is reproducible from the lock file (esbuild and postject are pinned
 * devDependencies; the bundle's build id is the same for the same sources); the Node inside is
 * the one running this script (Node 20.20.2 here).
 *
 * Run: `node --import tsx scripts/build-binary.ts`.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import * as esbuild from "esbuild";
import { BINARY, staleBinaryReason } from "./binary-state.js";
import { bundleCli, ROOT, trainCodeCache, VENDOR_FILE } from "./bundle.js";

/** The fuse Node's binary carries for postject (the documentation's `--sentinel-fuse` value). */
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

/** The executable. */
export { BINARY, staleBinaryReason };


/** The asset holding the CLI bundle; its code cache is the asset of the same name + ".cache". */
const BUNDLE_ASSET = "kpki.cjs";

/**
 * The executable's main script: it runs the bundle from its asset with the code cache trained as
 * for the npm build (scripts/bundle.ts), through the same loader (bin/kpki-loader.ts). A main
 * script's own `useCodeCache` cache is made by compiling it without running it, so it holds the
 * top-level code only; a trained one also holds the functions `kpki init` ran.
 * getRawAsset returns the embedded bytes without a copy; they are only read.
 */
const SEA_MAIN = `
const { getRawAsset } = require("node:sea");
const { bundleText, cacheFor, runCommonJs } = require("./kpki-loader.ts");
const source = bundleText(Buffer.from(getRawAsset(${JSON.stringify(BUNDLE_ASSET)})));
runCommonJs(source, cacheFor(source, Buffer.from(getRawAsset(${JSON.stringify(`${BUNDLE_ASSET}.cache`)}))), process.execPath, require);
`;

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/**
 * Builds the executable at `binary` (dist/kpki unless told otherwise); returns its size in bytes.
 * The intermediate files (bundles, cache, blob, SEA configuration) go to a temporary folder,
 * removed afterwards, so that nothing but the executable is added to dist/.
 */
export async function buildBinary(binary: string = BINARY, log: (line: string) => void = console.log): Promise<number> {
  if (process.platform !== "linux" || process.arch !== "x64") throw new Error(`the single executable is built for linux-x64; this is ${process.platform}-${process.arch}`);
  mkdirSync(dirname(binary), { recursive: true });
  const work = mkdtempSync(join(tmpdir(), "kpki-sea-"));
  try {
    return await buildIn(work, binary, log);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function buildIn(work: string, binary: string, log: (line: string) => void): Promise<number> {
  const main = join(work, "sea-main.cjs");
  const blob = join(work, "kpki.blob");
  const config = join(work, "sea-config.json");

  const bundle = await bundleCli(join(work, BUNDLE_ASSET));
  const cacheBytes = trainCodeCache(bundle.main, bundle.id);
  trainCodeCache(bundle.vendor, bundle.vendorId, true); // compiled on first use (approver run, kubeconfig user --via-api)
  await esbuild.build({
    absWorkingDir: ROOT,
    stdin: { contents: SEA_MAIN, resolveDir: join(ROOT, "bin"), sourcefile: "kpki-sea-main.js", loader: "js" },
    outfile: main,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    logLevel: "warning",
  });
  // Paths relative to `work`, where Node runs with this configuration.
  const seaConfig = {
    main: basename(main),
    output: basename(blob),
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
    assets: { [BUNDLE_ASSET]: BUNDLE_ASSET, [`${BUNDLE_ASSET}.cache`]: `${BUNDLE_ASSET}.cache`, [VENDOR_FILE]: basename(bundle.vendor), [`${VENDOR_FILE}.cache`]: `${basename(bundle.vendor)}.cache` },
  };
  writeFileSync(config, `${JSON.stringify(seaConfig, null, 2)}\n`);
  execFileSync(process.execPath, ["--experimental-sea-config", config], { stdio: ["ignore", "pipe", "pipe"], cwd: work });

  // Made in the work folder and renamed into place: whoever runs `binary` meanwhile (a test, the
  // image build) sees the old executable or the new one, never half of one.
  const staged = join(work, "kpki");
  copyFileSync(process.execPath, staged);
  chmodSync(staged, 0o755);
  // postject's own command line, run by this Node (its bin is a script with a "#!/usr/bin/env node" line).
  const postject = createRequire(import.meta.url).resolve("postject/dist/cli.js");
  const out = execFileSync(process.execPath, [postject, staged, "NODE_SEA_BLOB", blob, "--sentinel-fuse", SEA_FUSE], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], cwd: work });
  if (/error/i.test(out)) throw new Error(`postject: ${out.trim()}`);
  try {
    renameSync(staged, binary);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
    // The temporary folder is on another file system: copy beside the target, then rename.
    const beside = `${binary}.${process.pid}.tmp`;
    copyFileSync(staged, beside);
    chmodSync(beside, 0o755);
    renameSync(beside, binary);
  }

  const size = statSync(binary).size;
  log(`built ${relative(ROOT, binary)}: Node ${process.version} single executable for linux-x64 with kpki's bundle (${mib(bundle.bytes)} of JavaScript + ${mib(cacheBytes)} of V8 code cache, + ${mib(bundle.vendorBytes)} loaded on first use), ${mib(size)}`);
  return size;
}

if (process.argv[1] && /build-binary\.[cm]?[jt]s$/.test(process.argv[1])) {
  // --if-stale: build only when dist/kpki is missing or made from another bundle.
  if (process.argv.includes("--if-stale") && staleBinaryReason() === undefined) console.log(`${relative(ROOT, BINARY)} is current`);
  else await buildBinary();
}
