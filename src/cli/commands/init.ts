import { defineCommand, defineGroup } from "../command.js";
import { CLUSTER_OPTIONS } from "../options.js";
import { initPhaseCertsCommand } from "./init-phase-certs.js";
import { initPhaseKubeconfigCommand } from "./init-phase-kubeconfig.js";
import { runInitCommand } from "./init-run.js";

/** `kpki init`: `kubeadm init phase certs all` + `kubeadm init phase kubeconfig all`. */
export const initCommand = defineCommand({
  command: "init",
  describe: "Generate a cluster PKI and kubeconfigs exactly as kubeadm init does (certs + kubeconfig phases)",
  options: CLUSTER_OPTIONS,
  subcommands: [
    defineGroup({ command: "phase", describe: "Run one phase of init: certs or kubeconfig", subcommands: [initPhaseCertsCommand, initPhaseKubeconfigCommand] }),
  ],
  examples: [
    ["$0 init --dir ./dev-cluster", "A dev-cluster PKI: kubeconfigs in ./dev-cluster, certificates in ./dev-cluster/pki"],
    ["$0 init --control-plane-endpoint cp.example.com --apiserver-cert-extra-sans 10.0.0.10,api.example.com", "The kubeadm layout under /etc/kubernetes, for an HA endpoint"],
    ["$0 init --config kubeadm.yaml --dry-run", "Show what a kubeadm v1beta4 config would produce, write nothing"],
  ],
  epilogue:
    "Existing CAs are reused; existing certificates and kubeconfigs are checked (chain, key, SANs, CA) and kept. " +
    "A CA certificate without its key is external-CA mode. Exit codes: 0 done, 1 error (nothing written), 2 usage error.",
  run: (args, io) => runInitCommand(args, { certs: "all", kubeconfigs: "all" }, io),
});
