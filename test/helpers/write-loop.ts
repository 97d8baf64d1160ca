/**
 * A child for the SIGINT/SIGTERM tests: installs kpki's signal cleanup, as bin/kpki.ts does, then
 * rewrites one large file with writeFileAtomic until it is stopped, so that its temporary exists
 * nearly all the time. With --graceful it also stops by itself on the first SIGINT/SIGTERM, the way
 * `approver run` does (its own one-shot listeners): it finishes the write under way and exits 0.
 * Run: node --import tsx test/helpers/write-loop.ts DIR [MEGABYTES] [--graceful]
 */
import { join } from "node:path";
import { writeFileAtomic } from "../../src/io/fs-store.js";
import { installSignalCleanup } from "../../src/io/temporaries.js";

installSignalCleanup();
const [dir, megabytes = "32", mode] = process.argv.slice(2);
if (!dir) throw new Error("usage: write-loop.ts DIR [MEGABYTES] [--graceful]");
let stopping = false;
if (mode === "--graceful") {
  const stop = (signal: string) => (): void => {
    process.stdout.write(`graceful stop on ${signal}\n`);
    stopping = true;
  };
  process.once("SIGINT", stop("SIGINT"));
  process.once("SIGTERM", stop("SIGTERM"));
}
const data = new Uint8Array(Number(megabytes) * 1024 * 1024).fill(0x6b);
while (!stopping) await writeFileAtomic(join(dir, "big.key"), data, 0o600);
