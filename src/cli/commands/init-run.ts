import { formatGoDuration } from "../../pki/duration.js";
import { validityWarnings } from "../../kubeadm/config.js";
import { runInit, type InitSelection } from "../../kubeadm/init.js";
import type { CliIo } from "../io.js";
import { clusterConfigFromArgs, type ClusterArgs } from "../options.js";

/** Shared by `init` and its phases: resolve the config, then run the selected phases. */
export async function runInitCommand(args: ClusterArgs & { readonly "dry-run": boolean }, selection: InitSelection, io: CliIo): Promise<undefined> {
  const cfg = await clusterConfigFromArgs(args, io);
  const warn = (line: string): void => io.stderr(`WARNING: ${line}\n`);
  for (const w of validityWarnings(cfg, formatGoDuration)) warn(w);
  const log = (line: string): void => io.stdout(`${line}\n`);
  const store = args["dry-run"] ? io.dryRunStore(log) : io.store;
  await runInit(cfg, selection, { crypto: io.crypto, store, now: io.now(), log, warn });
  return undefined;
}
