#!/usr/bin/env node
import { run } from "../src/cli/main.js";
import { nodeIo } from "../src/io/node-io.js";
import { installSignalCleanup } from "../src/io/temporaries.js";

// First, so that its listener runs before any a command adds: SIGINT/SIGTERM remove kpki's
// temporary files and end the process with 130/143, except while a command that stops gracefully
// on these signals itself (approver run) is listening; see installSignalCleanup.
installSignalCleanup();
// No top-level await: scripts/bundle.ts bundles this file as CommonJS (the single executable's
// main script must be CommonJS), which cannot have one. run() never rejects: it turns every error
// into a message and an exit code.
void run(process.argv.slice(2), nodeIo()).then((code) => {
  process.exitCode = code;
});
