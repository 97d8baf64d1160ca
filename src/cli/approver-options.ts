import type { Argv } from "yargs";
import { DEFAULT_POLICY, type PolicyConfig } from "../approver/policy.js";
import { invalidInput } from "../errors.js";
import { parseDuration } from "../pki/duration.js";
import { parseCidr, parseIp } from "../pki/ip.js";

const list = (v: readonly string[] | undefined): string[] => (v ?? []).flatMap((x) => x.split(",")).map((x) => x.trim()).filter((x) => x !== "");

/** The policy flags `approver check` and `approver run` share. */
export function withPolicyOptions<T>(y: Argv<T>) {
  return y
    .option("cluster-domain", { type: "string", default: DEFAULT_POLICY.clusterDomains[0], describe: "Cluster DNS domain: names under it are refused (kubeadm-config's dnsDomain is added)" })
    .option("service-cidr", { type: "string", array: true, describe: `Service CIDRs, refused as SANs [default: kubeadm-config's serviceSubnet, else ${DEFAULT_POLICY.assumedServiceCidrs.join(",")}]` })
    .option("pod-cidr", { type: "string", array: true, describe: "Pod CIDRs, refused as SANs" })
    .option("apiserver-address", { type: "string", array: true, describe: "API server IPs and names, refused as SANs except to a control-plane node that lists them (repeatable)" })
    .option("allowed-ip-ranges", { type: "string", array: true, describe: "Every IP SAN must also be inside one of these CIDRs (restricts, never widens)" })
    .option("dns-suffix", { type: "string", array: true, describe: "Every DNS SAN must also end in one of these domains" })
    .option("dns-regex", { type: "string", describe: "Every DNS SAN must also fully match this regular expression" })
    .option("max-expiration", { type: "string", default: "8760h", describe: "Longest spec.expirationSeconds accepted" })
    .option("node-grace", { type: "string", default: "5m", describe: "How long a CSR waits (requeue) for its Node before it is denied" })
    .option("max-sans", { type: "number", default: DEFAULT_POLICY.maxSans, describe: "Most SANs a request may have" })
    .option("deny-non-node", { type: "boolean", default: false, describe: "Deny kubelet-serving CSRs from users who are not nodes (default: ignore them)" })
    .option("max-approvals-per-node", { type: "number", default: DEFAULT_POLICY.maxApprovalsPerNode, describe: "Approvals per node within --approval-window; more are ignored (flood control)" })
    .option("approval-window", { type: "string", default: "10m", describe: "The window for --max-approvals-per-node" });
}

export interface PolicyArgs {
  readonly "cluster-domain": string;
  readonly "service-cidr"?: string[] | undefined;
  readonly "pod-cidr"?: string[] | undefined;
  readonly "apiserver-address"?: string[] | undefined;
  readonly "allowed-ip-ranges"?: string[] | undefined;
  readonly "dns-suffix"?: string[] | undefined;
  readonly "dns-regex"?: string | undefined;
  readonly "max-expiration": string;
  readonly "node-grace": string;
  readonly "max-sans": number;
  readonly "deny-non-node": boolean;
  readonly "max-approvals-per-node": number;
  readonly "approval-window": string;
}

/** Validates the flags once, at the boundary, into a PolicyConfig. */
export function policyFromArgs(args: PolicyArgs): PolicyConfig {
  const cidrList = (flag: string, values: string[]): string[] => {
    for (const c of values) if (!parseCidr(c)) throw invalidInput(`invalid --${flag} "${c}": expected a CIDR such as 10.0.0.0/8`);
    return values;
  };
  const seconds = (flag: string, text: string): number => {
    const ms = parseDuration(text, { extendedUnits: true });
    if (ms === undefined || ms < 0) throw invalidInput(`invalid --${flag} "${text}": expected a duration such as 720h or 5m`);
    return Math.floor(ms / 1000);
  };
  const apiserver = list(args["apiserver-address"]);
  if (args["dns-regex"] !== undefined) {
    try {
      new RegExp(args["dns-regex"]);
    } catch (error) {
      throw invalidInput(`invalid --dns-regex: ${(error as Error).message}`);
    }
  }
  for (const a of apiserver) if (!parseIp(a) && !/^[a-z0-9.-]+$/i.test(a)) throw invalidInput(`invalid --apiserver-address "${a}"`);
  const allowed = list(args["allowed-ip-ranges"]);
  const suffixes = list(args["dns-suffix"]);
  return {
    clusterDomains: [args["cluster-domain"]],
    serviceCidrs: cidrList("service-cidr", list(args["service-cidr"])),
    assumedServiceCidrs: DEFAULT_POLICY.assumedServiceCidrs,
    podCidrs: cidrList("pod-cidr", list(args["pod-cidr"])),
    apiServerAddresses: apiserver,
    ...(allowed.length ? { allowedIpRanges: cidrList("allowed-ip-ranges", allowed) } : {}),
    ...(suffixes.length ? { dnsSuffixes: suffixes } : {}),
    ...(args["dns-regex"] !== undefined ? { dnsRegex: args["dns-regex"] } : {}),
    maxExpirationSeconds: seconds("max-expiration", args["max-expiration"]),
    nodeGraceSeconds: seconds("node-grace", args["node-grace"]),
    maxSans: args["max-sans"],
    maxRequestBytes: DEFAULT_POLICY.maxRequestBytes,
    denyNonNodeRequestors: args["deny-non-node"],
    maxApprovalsPerNode: args["max-approvals-per-node"],
    approvalWindowSeconds: seconds("approval-window", args["approval-window"]),
  };
}
