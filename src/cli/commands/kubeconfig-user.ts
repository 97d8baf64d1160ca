import { usageError } from "../../errors.js";
import { DEFAULT_USER_VALIDITY_MS, kubeconfigForUser, loadClusterCa } from "../../kubeadm/kubeconfig-user.js";
import { formatGoDuration } from "../../pki/duration.js";
import { defineCommand } from "../command.js";
import { CERT_DIR_OPTIONS, clusterConfigFromArgs, CONFIG_OPTIONS, durationFlag, ENDPOINT_OPTIONS, KEY_OPTIONS } from "../options.js";

/** `kpki kubeconfig user`: kubeadm's command, printing a kubeconfig for a new user to stdout. */
export const kubeconfigUserCommand = defineCommand({
  command: "user",
  describe: "Output a kubeconfig file for an additional user (kubeadm kubeconfig user)",
  // kubeadm's flags, plus where the CA is (--cert-dir/--dir), the server URL's parts and the key type.
  options: {
    ...CONFIG_OPTIONS,
    ...CERT_DIR_OPTIONS,
    ...ENDPOINT_OPTIONS,
    ...KEY_OPTIONS,
    "client-name": { type: "string", demandOption: true, describe: "The name of the user: the certificate's CN" },
    org: { type: "string", array: true, describe: "The organizations of the client certificate: its O (repeatable)" },
    "validity-period": { type: "string", default: "8760h", describe: "The validity period of the client certificate, an offset from now (e.g. 24h, 30d)" },
    token: { type: "string", describe: "A token to use instead of a client certificate" },
  },
  examples: [
    ["$0 kubeconfig user --client-name jane --org dev --dir ./dev-cluster > jane.conf", "A 1-year client certificate for jane (group dev)"],
    ["$0 kubeconfig user --client-name ci --validity-period 24h", "A short-lived credential signed by /etc/kubernetes/pki/ca.key"],
  ],
  epilogue: "Nothing is written to disk. Exit codes: 0 printed, 1 error, 2 usage error.",
  run: async (args, io) => {
    const validityMs = durationFlag("validity-period", args["validity-period"]);
    if (args["client-name"].trim() === "") throw usageError("--client-name must not be empty");
    const cfg = await clusterConfigFromArgs(args, io);
    if (validityMs > DEFAULT_USER_VALIDITY_MS) {
      io.stderr(`WARNING: the specified certificate validity period ${formatGoDuration(validityMs)} is longer than the default duration ${formatGoDuration(DEFAULT_USER_VALIDITY_MS)}, this may increase security risks.\n`);
    }
    const ca = await loadClusterCa(cfg, io.store, io.crypto);
    const text = await kubeconfigForUser(cfg, { clientName: args["client-name"], organizations: args.org ?? [], validityMs, token: args.token }, ca, io.now(), io.crypto);
    io.stdout(`${text}\n`); // kubeadm prints with Fprintln: the YAML and one more newline
    return undefined;
  },
});
