import { webcrypto } from "node:crypto";
import type { CliIo } from "../cli/io.js";
import { directoryListingCache, dryRunStore, fsStore, readBytesIfExists, readFileIfExists } from "./fs-store.js";
import { fsRenewPort } from "./renew-port.js";
import { scanPaths } from "./scan.js";
import { hostFacts } from "./host.js";

/** The real CliIo: process streams and env, the file system, Node's WebCrypto and the wall clock. */
export function nodeIo(): CliIo {
  // kubeadm captures the start time once per process (StartTimeUTC); so do we.
  const start = new Date();
  // `kpki ... | head` closes the pipe early; that is not an error worth a stack trace.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    isTty: process.stdout.isTTY === true,
    crypto: webcrypto as Crypto,
    now: () => start,
    store: fsStore(),
    dryRunStore,
    host: hostFacts,
    readText: readFileIfExists,
    readBytes: readBytesIfExists,
    scan: scanPaths,
    existenceCache: directoryListingCache,
    renewPort: fsRenewPort,
  };
}
