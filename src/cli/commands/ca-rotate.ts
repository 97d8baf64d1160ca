import { usageError } from "../../errors.js";
import type { CaName } from "../../kubeadm/catalogue.js";
import type { CaPlan, CaStage, RotatePhase } from "../../rotate/rotate.js";
import { defineCommand } from "../command.js";
import { CERT_DIR_OPTIONS, clusterConfigFromArgs, CONFIG_OPTIONS, KEY_OPTIONS, KUBECONFIG_DIR_OPTIONS, readFlagFile, VALIDITY_OPTIONS } from "../options.js";
import { OUTPUT_FORMATS, renderData } from "../output.js";

// Spelled out here: importing them from src/rotate would load the engine for --help and completion.
const PHASES = ["plan", "trust", "reissue", "finalize"] as const;
const CAS: readonly CaName[] = ["ca", "front-proxy-ca", "etcd-ca"];

const STAGE_TEXT: Record<CaStage, string> = {
  idle: "no rotation under way",
  trusting: "trust under way (the new CA waits in its -next files)",
  trusted: "both CAs trusted; the current CA still signs",
  reissued: "the new CA signs; the old one is still trusted",
};

/** The plan as text: per CA, where it stands, its CAs (with kubeadm join's hash for ca), and each phase. */
function planText(plans: readonly CaPlan[]): string {
  const out: string[] = [];
  for (const p of plans) {
    out.push(`[rotate] ${p.file}: ${STAGE_TEXT[p.stage]}`);
    for (const c of p.certificates) {
      out.push(`  ${`${c.role} CA`.padEnd(10)} serial ${c.serial}, expires ${c.notAfter}${c.discoveryHash ? `, --discovery-token-ca-cert-hash ${c.discoveryHash}` : ""}`);
    }
    for (const ph of p.phases) {
      const state = ph.refused ? `waiting: ${ph.refused}` : ph.edits.length ? (ph.phase === p.next ? "next" : "ready") : "nothing left to do";
      out.push(`  ${ph.phase.padEnd(9)} ${state}`);
      for (const e of ph.edits) out.push(`      ${e.file}: ${e.change}`);
      if (ph.edits.length) out.push(`      then restart: ${ph.restart.join(", ")}`);
    }
    for (const n of p.notes) out.push(`  note: ${n}`);
  }
  const join = joinLine(plans);
  if (join) out.push(join);
  return `${out.join("\n")}\n`;
}

/** kubeadm join's hashes of both cluster CAs while both are trusted (join takes the flag more than once). */
function joinLine(plans: readonly CaPlan[]): string | undefined {
  const hashes = plans.flatMap((p) => p.certificates.map((c) => c.discoveryHash).filter((h): h is string => h !== undefined));
  return hashes.length > 1 ? `[rotate] kubeadm join accepts either CA during the rotation: ${hashes.map((h) => `--discovery-token-ca-cert-hash ${h}`).join(" ")}` : undefined;
}

/** `kpki ca rotate <phase>`: staged rotation of the cluster CAs. */
export const caRotateCommand = defineCommand({
  command: "rotate <phase>",
  describe: "Rotate the cluster CAs in stages: plan, trust (old and new), reissue (with the new), finalize (drop the old)",
  positionals: { phase: { type: "string", choices: PHASES, demandOption: true } },
  options: {
    ...CONFIG_OPTIONS,
    ...CERT_DIR_OPTIONS,
    ...KUBECONFIG_DIR_OPTIONS,
    ca: { type: "string", array: true, choices: CAS, describe: "The CA to rotate (repeatable) [default: ca, front-proxy-ca and etcd-ca (etcd-ca with local etcd only)]" },
    "manifests-dir": { type: "string", describe: "kubeadm's static pod manifests; kube-controller-manager.yaml's signing flags are edited there [default: <kubeconfig-dir>/manifests]" },
    "dry-run": { type: "boolean", default: false, describe: "Print what the phase would change; change nothing" },
    "backup-dir": { type: "string", describe: "Where to copy the files a phase replaces [default: <cert-dir>-backup-<UTC time>-<phase>]" },
    kubeconfig: { type: "string", describe: "Also give kube-public/cluster-info (what joining nodes pin) both CAs in trust and the new one in finalize, through the API with this kubeconfig" },
    "new-cert": { type: "string", describe: "trust: use this CA certificate as the new CA instead of generating one (with --new-key and one --ca)" },
    "new-key": { type: "string", describe: "trust: the new CA's private key (with --new-cert)" },
    "encryption-algorithm": { ...KEY_OPTIONS["encryption-algorithm"], describe: "Key type of the new CA and of reissued keys [default: the config's, else RSA-2048]" },
    "certificate-validity-period": VALIDITY_OPTIONS["certificate-validity-period"],
    "ca-certificate-validity-period": VALIDITY_OPTIONS["ca-certificate-validity-period"],
    output: { alias: "o", type: "string", default: "text", choices: OUTPUT_FORMATS, describe: "Output format of the plan (after a phase: as it stands then)" },
  },
  examples: [
    ["$0 ca rotate plan", "Where each CA's rotation stands and what every phase will change and restart"],
    ["$0 ca rotate trust --dry-run", "The files trust would change, changing nothing"],
    ["$0 ca rotate trust --ca etcd-ca", "Start rotating the etcd CA only"],
    ["$0 ca rotate reissue --dir ./dev-cluster", "Re-sign every certificate of a dev cluster with its new CAs"],
  ],
  epilogue:
    "Run the phases in order, restarting what each names before the next: trust (a new CA; every trust point holds both), " +
    "reissue (every certificate and kubeconfig re-signed by the new CA), finalize (the old CA removed). Where a rotation " +
    "stands is read from the files (X.crt, X.key, X-next.*), so an interrupted phase goes on when it is run again, and a phase " +
    "whose predecessor is not complete refuses, saying what is left. The service-account key is not a CA and is not rotated. " +
    "Exit codes: 0 done (or nothing to do), 1 error or refused (nothing changed, unless the message says so), 2 usage error, " +
    "130/143 SIGINT/SIGTERM (each file old or new; run the phase again).",
  run: async (args, io) => {
    const phase = args.phase;
    if (phase === "plan" && args["dry-run"]) throw usageError("plan changes nothing; --dry-run belongs to trust, reissue and finalize");
    if ((args["new-cert"] === undefined) !== (args["new-key"] === undefined)) throw usageError("--new-cert and --new-key go together");
    if (args["new-cert"] !== undefined && phase !== "trust") throw usageError("--new-cert and --new-key belong to the trust phase");
    const cfg = await clusterConfigFromArgs({ ...args, "node-name": "rotate", "apiserver-advertise-address": args.config ? undefined : "127.0.0.1" }, io);
    const now = io.now();
    const { planRotation, rotationBackupDir, runRotation } = await import("../../rotate/rotate.js");
    const cas = args.ca?.length ? CAS.filter((c) => args.ca?.includes(c)) : CAS.filter((c) => c !== "etcd-ca" || !cfg.etcd.external);
    const supplied = args["new-cert"] !== undefined && args["new-key"] !== undefined
      ? { certPem: await readFlagFile(io, "new-cert", args["new-cert"]), keyPem: await readFlagFile(io, "new-key", args["new-key"]) }
      : undefined;
    const opts = {
      cas,
      manifestsDir: args["manifests-dir"] ?? `${cfg.kubeconfigDir.replace(/\/+$/, "")}/manifests`,
      backupDir: args["backup-dir"] ?? rotationBackupDir(cfg.certificatesDir, now, phase === "plan" ? "trust" : phase),
      dryRun: args["dry-run"],
      supplied,
    };
    const text = args.output === "text";
    const clusterInfo = args.kubeconfig !== undefined ? await io.clusterInfoApi(args.kubeconfig) : undefined;
    const deps = { crypto: io.crypto, now, log: (l: string) => (text ? io.stdout(`${l}\n`) : io.stderr(`${l}\n`)), port: io.renewPort(now), clusterInfo };
    let plans: CaPlan[];
    try {
      plans = phase === "plan" ? await planRotation(cfg, opts, deps) : await runRotation(cfg, phase satisfies RotatePhase, opts, deps);
    } finally {
      clusterInfo?.close();
    }
    if (!text) io.stdout(await renderData({ phase, dryRun: args["dry-run"], cas: plans }, args.output === "json" ? "json" : "yaml"));
    else if (phase === "plan") io.stdout(planText(plans));
    else if (phase === "trust" && !args["dry-run"]) {
      const join = joinLine(plans);
      if (join) io.stdout(`${join}\n`);
    }
    return undefined;
  },
});
