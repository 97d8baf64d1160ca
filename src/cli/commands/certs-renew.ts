import type { CommandModule } from "yargs";
import { invalidInput } from "../../errors.js";
import { parseDuration } from "../../pki/duration.js";
import { renewTargets } from "../../renew/targets.js";
import type { CliIo } from "../io.js";
import { clusterConfigFromArgs, type ClusterArgs } from "../options.js";

type Args = {
  readonly name: string;
  readonly config?: string | undefined;
  readonly dir?: string | undefined;
  readonly "cert-dir"?: string | undefined;
  readonly "kubeconfig-dir"?: string | undefined;
  readonly "dry-run": boolean;
  readonly "expiring-within"?: string | undefined;
  readonly "backup-dir"?: string | undefined;
  readonly "encryption-algorithm"?: string | undefined;
  readonly "certificate-validity-period"?: string | undefined;
};

const NAMES = renewTargets(false).map((t) => t.name);

/** `kpki certs renew <name|all>`: kubeadm's renewal, crash-safe, with a backup, --dry-run and --expiring-within. */
export const certsRenewCommand = (io: CliIo): CommandModule<object, Args> => ({
  command: "renew <name>",
  describe: "Renew certificates with the local CA, as kubeadm certs renew does (never the CAs)",
  builder: (y) =>
    y
      .positional("name", { type: "string", choices: [...NAMES, "all"], demandOption: true })
      .option("config", { type: "string", describe: "A kubeadm configuration file (certificatesDir, encryptionAlgorithm, certificateValidityPeriod, etcd.external)" })
      .option("cert-dir", { type: "string", describe: "The path where certificates are stored [default: /etc/kubernetes/pki]" })
      .option("kubeconfig-dir", { type: "string", describe: "The path where kubeconfig files are stored [default: /etc/kubernetes]" })
      .option("dir", { type: "string", describe: "Shorthand: kubeconfigs in DIR and certificates in DIR/pki" })
      .option("dry-run", { type: "boolean", default: false, describe: "Print what would be renewed and why; change nothing" })
      .option("expiring-within", { type: "string", describe: "Renew only certificates that expire within this duration (e.g. 30d); list the rest as skipped" })
      .option("backup-dir", { type: "string", describe: "Where to copy the files being replaced [default: <cert-dir>-backup-<UTC time>]" })
      .option("encryption-algorithm", { type: "string", describe: "Key type of the new keys [default: the config's, else RSA-2048]" })
      .option("certificate-validity-period", { type: "string", describe: "Validity of the renewed certificates [default: 8760h]" })
      .example("$0 certs renew all --dry-run", "What would be renewed under /etc/kubernetes, changing nothing")
      .example("$0 certs renew all --expiring-within 30d", "Renew only what expires within 30 days; back up first")
      .example("$0 certs renew apiserver --dir ./dev-cluster", "One certificate of a dev cluster")
      .epilogue(
        "Each renewed certificate gets a new key and serial; CN, O, SANs and usages are copied from the current one. " +
          "Kubeconfigs get the new client certificate and ca.crt as certificate-authority-data; nothing else in them changes. " +
          "A certificate and its key are swapped together through a symlink (X.crt -> .kpki/X/current/X.crt), so an " +
          "interruption leaves the old pair or the new one. Exit codes: 0 done, 1 error (nothing changed), 2 usage error.",
      ) as never,
  handler: async (args) => {
    let expiringWithinMs: number | undefined;
    if (args["expiring-within"] !== undefined) {
      expiringWithinMs = parseDuration(args["expiring-within"], { extendedUnits: true });
      if (expiringWithinMs === undefined || expiringWithinMs < 0) {
        throw invalidInput(`invalid --expiring-within "${args["expiring-within"]}": expected a duration such as 30d or 720h`);
      }
    }
    // Node name and advertise address do not matter for renewal (SANs are copied); give placeholders
    // so that a machine without a network can still renew.
    const cfg = await clusterConfigFromArgs({ ...(args as ClusterArgs), "node-name": "renew", "apiserver-advertise-address": args.config ? undefined : "127.0.0.1" }, io);
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
  },
});
