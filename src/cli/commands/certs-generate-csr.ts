import type { CommandModule } from "yargs";
import { generateCsrs } from "../../kubeadm/generate-csr.js";
import type { CliIo } from "../io.js";
import { clusterConfigFromArgs, withClusterOptions, type ClusterArgs } from "../options.js";

/** `kpki certs generate-csr`: kubeadm's external-CA workflow, keys and CSRs for every certificate. */
export const certsGenerateCsrCommand = (io: CliIo): CommandModule<object, ClusterArgs> => ({
  command: "generate-csr",
  describe: "Generate keys and certificate signing requests for every kubeadm certificate (external CA mode)",
  builder: (y) =>
    withClusterOptions(y)
      .example("$0 certs generate-csr --dir ./cluster --node-name cp-1 --apiserver-advertise-address 10.0.0.5", "Keys, CSRs and key-only kubeconfigs to send to your CA")
      .example("$0 certs sign --csr ./cluster/pki/apiserver.csr --profile apiserver --ca-cert ca.crt --ca-key ca.key --out ./cluster/pki/apiserver.crt", "Then sign each one (see certs sign)")
      .epilogue(
        "Writes <cert-dir>/<name>.key and .csr for each certificate, and for each kubeconfig a file holding only its key plus <file>.csr. " +
          "Refuses to run if any of them exists. Exit codes: 0 done, 1 error (nothing written), 2 usage error.",
      ) as never,
  handler: async (args) => {
    const cfg = await clusterConfigFromArgs(args, io);
    const log = (line: string): void => io.stdout(`${line}\n`);
    await generateCsrs(cfg, { crypto: io.crypto, store: args["dry-run"] ? io.dryRunStore(log) : io.store, now: io.now(), log });
  },
});
