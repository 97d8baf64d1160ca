import type { CommandModule } from "yargs";
import { invalidInput } from "../../errors.js";
import { DEFAULT_USER_VALIDITY_MS, kubeconfigForUser, loadClusterCa } from "../../kubeadm/kubeconfig-user.js";
import { formatGoDuration, parseDuration } from "../../pki/duration.js";
import type { CliIo } from "../io.js";
import { clusterConfigFromArgs, withClusterOptions, type ClusterArgs } from "../options.js";

type Args = ClusterArgs & {
  readonly "client-name": string;
  readonly org?: string[] | undefined;
  readonly "validity-period": string;
  readonly token?: string | undefined;
};

/** `kpki kubeconfig user`: kubeadm's command, printing a kubeconfig for a new user to stdout. */
export const kubeconfigUserCommand = (io: CliIo): CommandModule<object, Args> => ({
  command: "user",
  describe: "Output a kubeconfig file for an additional user (kubeadm kubeconfig user)",
  builder: (y) =>
    withClusterOptions(y)
      .option("client-name", { type: "string", demandOption: true, describe: "The name of the user: the certificate's CN" })
      .option("org", { type: "string", array: true, describe: "The organizations of the client certificate: its O (repeatable)" })
      .option("validity-period", { type: "string", default: "8760h", describe: "The validity period of the client certificate, an offset from now" })
      .option("token", { type: "string", describe: "A token to use instead of a client certificate" })
      .example("$0 kubeconfig user --client-name jane --org dev --dir ./dev-cluster > jane.conf", "A 1-year client certificate for jane (group dev)")
      .example("$0 kubeconfig user --client-name ci --validity-period 24h", "A short-lived credential signed by /etc/kubernetes/pki/ca.key")
      .epilogue("Nothing is written to disk. Exit codes: 0 printed, 1 error, 2 usage error.") as never,
  handler: async (args) => {
    const validityMs = parseDuration(args["validity-period"], { extendedUnits: true });
    if (validityMs === undefined || validityMs <= 0) throw invalidInput(`invalid --validity-period "${args["validity-period"]}": expected a duration such as 8760h`);
    if (args["client-name"].trim() === "") throw invalidInput("--client-name must not be empty");
    const cfg = await clusterConfigFromArgs(args, io);
    if (validityMs > DEFAULT_USER_VALIDITY_MS) {
      io.stderr(`WARNING: the specified certificate validity period ${formatGoDuration(validityMs)} is longer than the default duration ${formatGoDuration(DEFAULT_USER_VALIDITY_MS)}, this may increase security risks.\n`);
    }
    const ca = await loadClusterCa(cfg, io.store, io.crypto);
    const text = await kubeconfigForUser(cfg, { clientName: args["client-name"], organizations: args.org ?? [], validityMs, token: args.token }, ca, io.now(), io.crypto);
    io.stdout(`${text}\n`); // kubeadm prints with Fprintln: the YAML and one more newline
  },
});
