import { nodeIo } from "../io/node-io.js";
import { installSignalCleanup } from "../io/temporaries.js";
import { run } from "./main.js";

/**
 * What the `kpki` command does: bin/kpki.ts calls it, and so does dist/bin/kpki.js when the
 * bundle beside it is older than tsc's output (bin/kpki-loader.ts).
 */
export function main(args: readonly string[] = process.argv.slice(2)): void {
  // First, so that its listener runs before any a command adds: SIGINT/SIGTERM remove kpki's
  // temporary files and end the process with 130/143, except while a command that stops gracefully
  // on these signals itself (approver run) is listening; see installSignalCleanup.
  installSignalCleanup();
  // run() never rejects: it turns every error into a message and an exit code.
  void run(args, nodeIo()).then((code) => {
    process.exitCode = code;
  });
}
