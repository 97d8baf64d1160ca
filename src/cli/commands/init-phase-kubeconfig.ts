import type { CommandModule } from "yargs";
import { allKubeconfigPhases, KUBECONFIG_PHASE_NAMES } from "../../kubeadm/init.js";
import type { CliIo } from "../io.js";
import { withClusterOptions, type ClusterArgs } from "../options.js";
import { runInitCommand } from "./init-run.js";

type Args = ClusterArgs & { readonly name: string };

/** `kpki init phase kubeconfig <name|all>`. */
export const initPhaseKubeconfigCommand = (io: CliIo): CommandModule<object, Args> => ({
  command: "kubeconfig <name>",
  describe: "Kubeconfig generation: admin, super-admin, kubelet, controller-manager, scheduler, or all",
  builder: (y) =>
    withClusterOptions(y)
      .positional("name", { type: "string", choices: [...KUBECONFIG_PHASE_NAMES, "all"], demandOption: true })
      .example("$0 init phase kubeconfig all --dir ./dev-cluster", "The five kubeconfig files, signed by DIR/pki/ca.key")
      .example("$0 init phase kubeconfig admin", "Only /etc/kubernetes/admin.conf")
      .epilogue("Exit codes: 0 done, 1 error (nothing written), 2 usage error.") as never,
  handler: async (args) => {
    await runInitCommand(args, { kubeconfigs: args.name === "all" ? allKubeconfigPhases() : [args.name] }, io);
  },
});
