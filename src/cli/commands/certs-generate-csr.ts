import { defineCommand } from "../command.js";
import { CERT_DIR_OPTIONS, clusterConfigFromArgs, CONFIG_OPTIONS, DRY_RUN_OPTION, ENDPOINT_OPTIONS, KEY_OPTIONS, KUBECONFIG_DIR_OPTIONS, SAN_OPTIONS } from "../options.js";

/** `kpki certs generate-csr`: kubeadm's external-CA workflow, keys and CSRs for every certificate. */
export const certsGenerateCsrCommand = defineCommand({
  command: "generate-csr",
  describe: "Generate keys and certificate signing requests for every kubeadm certificate (external CA mode)",
  // No validity flags: a CSR carries no validity; the signer decides it.
  options: { ...CONFIG_OPTIONS, ...CERT_DIR_OPTIONS, ...KUBECONFIG_DIR_OPTIONS, ...ENDPOINT_OPTIONS, ...SAN_OPTIONS, ...KEY_OPTIONS, ...DRY_RUN_OPTION },
  examples: [
    ["$0 certs generate-csr --dir ./cluster --node-name cp-1 --apiserver-advertise-address 10.0.0.5", "Keys, CSRs and key-only kubeconfigs to send to your CA"],
    ["$0 certs sign --csr ./cluster/pki/apiserver.csr --profile apiserver --ca-cert ca.crt --ca-key ca.key --out ./cluster/pki/apiserver.crt", "Then sign each one (see certs sign)"],
  ],
  epilogue:
    "Writes <cert-dir>/<name>.key and .csr for each certificate, and for each kubeconfig a file holding only its key plus <file>.csr. " +
    "Refuses to run if any of them exists. Exit codes: 0 done, 1 error (nothing written), 2 usage error.",
  run: async (args, io) => {
    const cfg = await clusterConfigFromArgs(args, io);
    const { generateCsrs } = await import("../../kubeadm/generate-csr.js");
    const log = (line: string): void => io.stdout(`${line}\n`);
    await generateCsrs(cfg, { crypto: io.crypto, store: args["dry-run"] ? io.dryRunStore(log) : io.store, now: io.now(), log });
    return undefined;
  },
});
