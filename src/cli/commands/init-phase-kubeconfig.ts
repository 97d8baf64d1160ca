import { defineCommand } from "../command.js";
import { KUBECONFIG_PHASE_CHOICES } from "../choices.js";
import { CLUSTER_OPTIONS } from "../options.js";
import { runInitCommand } from "./init-run.js";

/** `kpki init phase kubeconfig <name|all>`. */
export const initPhaseKubeconfigCommand = defineCommand({
  command: "kubeconfig <name>",
  describe: "Kubeconfig generation: admin, super-admin, kubelet, controller-manager, scheduler, or all",
  positionals: { name: { type: "string", choices: [...KUBECONFIG_PHASE_CHOICES, "all"], demandOption: true } },
  options: CLUSTER_OPTIONS,
  examples: [
    ["$0 init phase kubeconfig all --dir ./dev-cluster", "The five kubeconfig files, signed by DIR/pki/ca.key"],
    ["$0 init phase kubeconfig admin", "Only /etc/kubernetes/admin.conf"],
  ],
  epilogue: "Exit codes: 0 done, 1 error (nothing written), 2 usage error.",
  run: (args, io) => runInitCommand(args, { kubeconfigs: args.name === "all" ? "all" : [args.name] }, io),
});
