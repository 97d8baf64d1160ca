/**
 * `npm run build:binary`: kpki as one Node single-executable application for linux-x64, at
 * dist/kpki. It runs every command on a host without Node.js: the whole CLI and its dependencies
 * are in the embedded main script (scripts/bundle.ts), which reads no file of its own at run time.
 *
 * Steps (https://nodejs.org/docs/latest-v20.x/api/single-executable-applications.html):
 * 1. esbuild bundles bin/kpki.ts into one CommonJS file (a single executable's main script must
 *    be CommonJS on Node 20, and its `require` loads only Node's builtin modules), and
 *    @kubernetes/client-node + prom-client into another, embedded as an asset;
 * 2. `node --experimental-sea-config` turns it into a blob, with V8's code cache for it
 *    (`useCodeCache: true`);
 * 3. a copy of the running Node binary (process.execPath) receives the blob through postject,
 *    with Node's sentinel fuse.
 *
 * Reproducible from the lock file: esbuild and postject are pinned devDependencies, and the
 * Node binary is the one running this script (Node 20.20.2 here).
 *
 * Run: `node --import tsx scripts/build-binary.ts`.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, join, relative } from "node:path";
import { bundleCli, ROOT, VENDOR_FILE } from "./bundle.js";

/** The fuse Node's binary carries for postject (the documentation's `--sentinel-fuse` value). */
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

/** The executable, and the folder of the intermediate files. */
export const BINARY = join(ROOT, "dist", "kpki");
const WORK = join(ROOT, "dist", "sea");

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** Where buildBinary writes: the executable, and a folder for the intermediate files. */
export interface BinaryPaths {
  readonly binary: string;
  readonly work: string;
}

/** Builds the executable (dist/kpki unless told otherwise); returns its size in bytes. */
export async function buildBinary({ binary, work }: BinaryPaths = { binary: BINARY, work: WORK }, log: (line: string) => void = console.log): Promise<number> {
  if (process.platform !== "linux" || process.arch !== "x64") throw new Error(`the single executable is built for linux-x64; this is ${process.platform}-${process.arch}`);
  mkdirSync(work, { recursive: true });
  const main = join(work, "kpki.cjs");
  const blob = join(work, "kpki.blob");
  const config = join(work, "sea-config.json");

  const { bytes, vendor, vendorBytes } = await bundleCli(main);
  // The vendor bundle (@kubernetes/client-node, prom-client) is an asset, compiled on first use
  // (scripts/bundle.ts, vendorPlugin); SEA assets came in Node 20.12.
  // Paths relative to `work`, where Node runs with this configuration.
  const seaConfig = { main: basename(main), output: basename(blob), disableExperimentalSEAWarning: true, useCodeCache: true, assets: { [VENDOR_FILE]: basename(vendor) } };
  writeFileSync(config, `${JSON.stringify(seaConfig, null, 2)}\n`);
  execFileSync(process.execPath, ["--experimental-sea-config", config], { stdio: ["ignore", "pipe", "pipe"], cwd: work });

  rmSync(binary, { force: true });
  copyFileSync(process.execPath, binary);
  chmodSync(binary, 0o755);
  // postject's own command line, run by this Node (its bin is a script with a "#!/usr/bin/env node" line).
  const postject = createRequire(import.meta.url).resolve("postject/dist/cli.js");
  const out = execFileSync(process.execPath, [postject, binary, "NODE_SEA_BLOB", blob, "--sentinel-fuse", SEA_FUSE], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], cwd: work });
  if (/error/i.test(out)) throw new Error(`postject: ${out.trim()}`);

  const size = statSync(binary).size;
  log(`built ${relative(ROOT, binary)}: Node ${process.version} single executable for linux-x64 with kpki's bundle (${mib(bytes)} of JavaScript with its V8 code cache, + ${mib(vendorBytes)} loaded on first use), ${mib(size)}`);
  return size;
}

if (process.argv[1] && /build-binary\.[cm]?[jt]s$/.test(process.argv[1])) await buildBinary();
