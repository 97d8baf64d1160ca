import { formatGoDuration } from "../../pki/duration.js";
import { validityWarnings } from "../../kubeadm/config.js";
import type { InitSelection } from "../../kubeadm/init.js";
import type { CliIo } from "../io.js";
import { clusterConfigFromArgs, type ClusterArgs } from "../options.js";

/** The phases `init` and its phase commands run: all of a kind, or the named ones; a kind left out is not run. */
export interface PhaseChoice {
  readonly certs?: "all" | readonly string[];
  readonly kubeconfigs?: "all" | readonly string[];
}

/** Shared by `init` and its phases: resolve the config, then run the selected phases. */
export async function runInitCommand(args: ClusterArgs & { readonly "dry-run": boolean }, choice: PhaseChoice, io: CliIo): Promise<undefined> {
  const cfg = await clusterConfigFromArgs(args, io);
  // The init engine (certificates, kubeconfigs, their files) is loaded when a phase runs, not at
  // every start of kpki.
  const { allCertPhases, allKubeconfigPhases, runInit } = await import("../../kubeadm/init.js");
  const selection: InitSelection = {
    ...(choice.certs !== undefined ? { certs: choice.certs === "all" ? allCertPhases() : choice.certs } : {}),
    ...(choice.kubeconfigs !== undefined ? { kubeconfigs: choice.kubeconfigs === "all" ? allKubeconfigPhases() : choice.kubeconfigs } : {}),
  };
  const warn = (line: string): void => io.stderr(`WARNING: ${line}\n`);
  for (const w of validityWarnings(cfg, formatGoDuration)) warn(w);
  const log = (line: string): void => io.stdout(`${line}\n`);
  const store = args["dry-run"] ? io.dryRunStore(log) : io.store;
  await runInit(cfg, selection, { crypto: io.crypto, store, now: io.now(), log, warn });
  return undefined;
}
