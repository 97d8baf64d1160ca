import type { CommandModule } from "yargs";
import { allCertPhases, CERT_PHASE_NAMES } from "../../kubeadm/init.js";
import type { CliIo } from "../io.js";
import { withClusterOptions, type ClusterArgs } from "../options.js";
import { runInitCommand } from "./init-run.js";

type Args = ClusterArgs & { readonly name: string };

/** `kpki init phase certs <name|all>`. */
export const initPhaseCertsCommand = (io: CliIo): CommandModule<object, Args> => ({
  command: "certs <name>",
  describe: "Certificate generation: one of the kubeadm certificates, sa, or all",
  builder: (y) =>
    withClusterOptions(y)
      .positional("name", { type: "string", choices: [...CERT_PHASE_NAMES, "all"], demandOption: true })
      .example("$0 init phase certs all --dir ./dev-cluster", "All CAs, leaves and the sa key pair")
      .example("$0 init phase certs apiserver --apiserver-cert-extra-sans 10.0.0.10", "Only the API server certificate (ca must exist)")
      .epilogue("Exit codes: 0 done, 1 error (nothing written), 2 usage error.") as never,
  handler: async (args) => {
    await runInitCommand(args, { certs: args.name === "all" ? allCertPhases() : [args.name] }, io);
  },
});
