import { defineCommand } from "../command.js";
import { CERT_PHASE_CHOICES } from "../choices.js";
import { CLUSTER_OPTIONS } from "../options.js";
import { runInitCommand } from "./init-run.js";

/** `kpki init phase certs <name|all>`. */
export const initPhaseCertsCommand = defineCommand({
  command: "certs <name>",
  describe: "Certificate generation: one of the kubeadm certificates, sa, or all",
  positionals: { name: { type: "string", choices: [...CERT_PHASE_CHOICES, "all"], demandOption: true } },
  options: CLUSTER_OPTIONS,
  examples: [
    ["$0 init phase certs all --dir ./dev-cluster", "All CAs, leaves and the sa key pair"],
    ["$0 init phase certs apiserver --apiserver-cert-extra-sans 10.0.0.10", "Only the API server certificate (ca must exist)"],
  ],
  epilogue: "Exit codes: 0 done, 1 error (nothing written), 2 usage error.",
  run: (args, io) => runInitCommand(args, { certs: args.name === "all" ? "all" : [args.name] }, io),
});
