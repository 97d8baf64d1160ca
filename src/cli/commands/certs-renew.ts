import { renewTargets } from "../../renew/targets.js";
import { defineCommand } from "../command.js";
import { CERT_DIR_OPTIONS, clusterConfigFromArgs, CONFIG_OPTIONS, KEY_OPTIONS, KUBECONFIG_DIR_OPTIONS, optionalDurationFlag, VALIDITY_OPTIONS } from "../options.js";

const NAMES = renewTargets(false).map((t) => t.name);

/** `kpki certs renew <name|all>`: kubeadm's renewal, crash-safe, with a backup, --dry-run and --expiring-within. */
export const certsRenewCommand = defineCommand({
  command: "renew <name>",
  describe: "Renew certificates with the local CA, as kubeadm certs renew does (never the CAs)",
  positionals: { name: { type: "string", choices: [...NAMES, "all"], demandOption: true } },
  options: {
    ...CONFIG_OPTIONS,
    ...CERT_DIR_OPTIONS,
    ...KUBECONFIG_DIR_OPTIONS,
    "dry-run": { type: "boolean", default: false, describe: "Print what would be renewed and why; change nothing" },
    "expiring-within": { type: "string", describe: "Renew only certificates that expire within this duration (e.g. 30d); list the rest as skipped" },
    "backup-dir": { type: "string", describe: "Where to copy the files being replaced [default: <cert-dir>-backup-<UTC time>]" },
    "encryption-algorithm": { ...KEY_OPTIONS["encryption-algorithm"], describe: "Key type of the new keys [default: the config's, else RSA-2048]" },
    "certificate-validity-period": { ...VALIDITY_OPTIONS["certificate-validity-period"], describe: "Validity of the renewed certificates, e.g. 8760h or 365d [default: the config's, else 8760h]" },
  },
  examples: [
    ["$0 certs renew all --dry-run", "What would be renewed under /etc/kubernetes, changing nothing"],
    ["$0 certs renew all --expiring-within 30d", "Renew only what expires within 30 days; back up first"],
    ["$0 certs renew apiserver --dir ./dev-cluster", "One certificate of a dev cluster"],
  ],
  epilogue:
    "Each renewed certificate gets a new key and serial; CN, O, SANs and usages are copied from the current one. " +
    "Kubeconfigs get the new client certificate and ca.crt as certificate-authority-data; nothing else in them changes. " +
    "A certificate and its key are swapped together through a symlink (X.crt -> .kpki/X/current/X.crt), so an " +
    "interruption leaves the old pair or the new one. All or nothing: the backup and every new pair are written first and " +
    "switched only once all are written; a failed switch switches the others back. " +
    "Exit codes: 0 done, 1 error (nothing changed, unless the message lists what is left changed), 2 usage error, " +
    "130/143 SIGINT/SIGTERM (nothing changed, or everything renewed if the signal came during the switches).",
  run: async (args, io) => {
    const expiringWithinMs = optionalDurationFlag("expiring-within", args["expiring-within"], { min: 0 });
    // Node name and advertise address do not matter for renewal (SANs are copied); give placeholders
    // so that a machine without a network can still renew.
    const cfg = await clusterConfigFromArgs({ ...args, "node-name": "renew", "apiserver-advertise-address": args.config ? undefined : "127.0.0.1" }, io);
    const now = io.now();
    const { defaultBackupDir, runRenew } = await import("../../renew/renew.js");
    const names = args.name === "all" ? renewTargets(cfg.etcd.external).map((t) => t.name) : [args.name];
    await runRenew(cfg, {
      names,
      all: args.name === "all",
      dryRun: args["dry-run"],
      expiringWithinMs,
      backupDir: args["backup-dir"] ?? defaultBackupDir(cfg.certificatesDir, now),
    }, { crypto: io.crypto, now, log: (l) => io.stdout(`${l}\n`), port: io.renewPort(now) });
    return undefined;
  },
});
