import type { CommandModule } from "yargs";
import { invalidInput } from "../../errors.js";
import { policyFromArgs, withPolicyOptions, type PolicyArgs } from "../approver-options.js";
import type { CliIo } from "../io.js";

type Args = PolicyArgs & {
  readonly csr: string;
  readonly nodes: string;
  readonly "cluster-config"?: string | undefined;
  readonly output: "text" | "json";
  readonly now?: string | undefined;
};

/** Exit codes of `approver check`: 0 only for approve. */
export const CHECK_DECISION_EXIT = { approve: 0, deny: 1, ignore: 3, requeue: 4 } as const;

/** `kpki approver check`: the controller's policy, offline, on a CSR object and Nodes from files. */
export const approverCheckCommand = (io: CliIo, setExitCode: (code: number) => void): CommandModule<object, Args> => ({
  command: "check",
  describe: "Decide a kubelet-serving CSR offline with the approver's policy",
  builder: (y) =>
    withPolicyOptions(y)
      .option("csr", { type: "string", demandOption: true, describe: "A CertificateSigningRequest, as `kubectl get csr NAME -o yaml` prints it" })
      .option("nodes", { type: "string", demandOption: true, describe: "A Node, a NodeList/List, or several YAML documents (`kubectl get nodes -o yaml`)" })
      .option("cluster-config", { type: "string", describe: "A kubeadm ClusterConfiguration (e.g. kubectl -n kube-system get cm kubeadm-config -o jsonpath='{.data.ClusterConfiguration}'): its subnets, DNS domain, endpoint and certSANs are reserved, as `approver run` discovers them" })
      .option("output", { alias: "o", type: "string", default: "text", choices: ["text", "json"], describe: "Output format" })
      .option("now", { type: "string", describe: "Evaluate as of this RFC 3339 time (grace periods) [default: now]" })
      .example("kubectl get csr csr-8b2x -o yaml > csr.yaml && kubectl get nodes -o yaml > nodes.yaml && $0 approver check --csr csr.yaml --nodes nodes.yaml", "Would the approver approve it, and why")
      .example("$0 approver check --csr csr.yaml --nodes nodes.yaml --allowed-ip-ranges 10.0.0.0/8 -o json", "One JSON object: decision, reason, message")
      .example("$0 approver check --csr csr.yaml --nodes nodes.yaml --cluster-config cluster.yaml --apiserver-address 192.0.2.10", "With kubeadm's subnets and the API server's address, as the controller discovers them")
      .epilogue("Exit codes: 0 approve, 1 deny (or unreadable input), 3 ignore (not the approver's), 4 requeue (try again later), 2 usage error.") as never,
  handler: async (args) => {
    const [{ readCsrObject, readNodeObjects }, { decideCsr }, { factsFromCluster, readClusterConfiguration, withClusterFacts }] = await Promise.all([
      import("../../approver/objects.js"), import("../../approver/policy.js"), import("../../approver/discovery.js"),
    ]);
    let cfg = policyFromArgs(args);
    const read = async (path: string): Promise<string> => {
      const text = await io.readText(path);
      if (text === undefined) throw invalidInput(`${path}: no such file`);
      return text;
    };
    const csr = await readCsrObject(await read(args.csr), args.csr);
    const nodes = await readNodeObjects(await read(args.nodes), args.nodes);
    const clusterConfigFile = args["cluster-config"];
    if (clusterConfigFile !== undefined) {
      const clusterConfiguration = await readClusterConfiguration(await read(clusterConfigFile), clusterConfigFile);
      cfg = withClusterFacts(cfg, factsFromCluster({ clusterConfiguration }));
    }
    const now = args.now !== undefined ? new Date(args.now) : io.now();
    if (Number.isNaN(now.getTime())) throw invalidInput(`invalid --now "${args.now}": expected an RFC 3339 time`);
    const d = await decideCsr(csr, nodes, cfg, now, io.verifySignature);
    io.stdout(args.output === "json" ? `${JSON.stringify({ decision: d.decision, reason: d.reason, message: d.message, csr: csr.metadata?.name ?? null })}\n` : `${d.decision}: ${d.reason}: ${d.message}\n`);
    setExitCode(CHECK_DECISION_EXIT[d.decision]);
  },
});
