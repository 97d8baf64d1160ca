import { usageError } from "../../errors.js";
import { defineCommand } from "../command.js";
import { policyFromArgs, POLICY_OPTIONS } from "../approver-options.js";
import { readFlagFile } from "../options.js";

/**
 * Exit codes of `approver check`, one per decision. 1 stays the CLI's "error" (a file that cannot be
 * read or is not a CSR/Node object) and 2 its usage error, so a script can tell a denial from a
 * check that could not run.
 */
export const CHECK_DECISION_EXIT = { approve: 0, deny: 5, ignore: 3, requeue: 4 } as const;

/** `kpki approver check`: the controller's policy, offline, on a CSR object and Nodes from files. */
export const approverCheckCommand = defineCommand({
  command: "check",
  describe: "Decide a kubelet-serving CSR offline with the approver's policy",
  options: {
    ...POLICY_OPTIONS,
    csr: { type: "string", demandOption: true, describe: "A CertificateSigningRequest, as `kubectl get csr NAME -o yaml` prints it" },
    nodes: { type: "string", demandOption: true, describe: "A Node, a NodeList/List, or several YAML documents (`kubectl get nodes -o yaml`)" },
    "cluster-config": { type: "string", describe: "A kubeadm ClusterConfiguration (e.g. kubectl -n kube-system get cm kubeadm-config -o jsonpath='{.data.ClusterConfiguration}'): its subnets, DNS domain, endpoint and certSANs are reserved, as `approver run` discovers them" },
    output: { alias: "o", type: "string", default: "text", choices: ["text", "json"], describe: "Output format" },
    now: { type: "string", describe: "Evaluate as of this RFC 3339 time (grace periods) [default: now]" },
  },
  examples: [
    ["kubectl get csr csr-8b2x -o yaml > csr.yaml && kubectl get nodes -o yaml > nodes.yaml && $0 approver check --csr csr.yaml --nodes nodes.yaml", "Would the approver approve it, and why"],
    ["$0 approver check --csr csr.yaml --nodes nodes.yaml --allowed-ip-ranges 10.0.0.0/8 -o json", "One JSON object: decision, reason, message"],
    ["$0 approver check --csr csr.yaml --nodes nodes.yaml --cluster-config cluster.yaml --apiserver-address 192.0.2.10", "With kubeadm's subnets and the API server's address, as the controller discovers them"],
  ],
  epilogue: "Exit codes: 0 approve, 5 deny, 3 ignore (not the approver's), 4 requeue (try again later), 1 error (a file that cannot be read or is not a CSR or Node), 2 usage error.",
  run: async (args, io) => {
    const [{ readCsrObject, readNodeObjects }, { decideCsr }, { factsFromCluster, readClusterConfiguration, withClusterFacts }] = await Promise.all([
      import("../../approver/objects.js"), import("../../approver/policy.js"), import("../../approver/discovery.js"),
    ]);
    let cfg = policyFromArgs(args);
    const now = args.now !== undefined ? new Date(args.now) : io.now();
    if (Number.isNaN(now.getTime())) throw usageError(`invalid --now "${args.now}": expected an RFC 3339 time`);
    const csr = await readCsrObject(await readFlagFile(io, "csr", args.csr), args.csr);
    const nodes = await readNodeObjects(await readFlagFile(io, "nodes", args.nodes), args.nodes);
    const clusterConfigFile = args["cluster-config"];
    if (clusterConfigFile !== undefined) {
      const clusterConfiguration = await readClusterConfiguration(await readFlagFile(io, "cluster-config", clusterConfigFile), clusterConfigFile);
      cfg = withClusterFacts(cfg, factsFromCluster({ clusterConfiguration }));
    }
    const d = await decideCsr(csr, nodes, cfg, now, io.verifySignature);
    io.stdout(args.output === "json" ? `${JSON.stringify({ decision: d.decision, reason: d.reason, message: d.message, csr: csr.metadata?.name ?? null })}\n` : `${d.decision}: ${d.reason}: ${d.message}\n`);
    return CHECK_DECISION_EXIT[d.decision];
  },
});
