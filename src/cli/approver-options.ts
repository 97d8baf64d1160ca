import type { InferredOptionTypes } from "yargs";
import { DEFAULT_POLICY } from "../approver/policy-defaults.js";
import type { PolicyConfig } from "../approver/policy.js";
import { usageError } from "../errors.js";
import { durationFlag, integerFlag } from "./options.js";
import { parseCidr, parseIp } from "../pki/ip.js";

const list = (v: readonly string[] | undefined): string[] => (v ?? []).flatMap((x) => x.split(",")).map((x) => x.trim()).filter((x) => x !== "");

/** The policy flags `approver check` and `approver run` share. */
export const POLICY_OPTIONS = {
  "cluster-domain": { type: "string", default: DEFAULT_POLICY.clusterDomains[0] ?? "cluster.local", describe: "Cluster DNS domain: names under it are refused (kubeadm-config's dnsDomain is added)" },
  "service-cidr": { type: "string", array: true, describe: `Service CIDRs, refused as SANs [default: kubeadm-config's serviceSubnet, else ${DEFAULT_POLICY.assumedServiceCidrs.join(",")}]` },
  "pod-cidr": { type: "string", array: true, describe: "Pod CIDRs, refused as SANs" },
  "apiserver-address": { type: "string", array: true, describe: "API server IPs and names, refused as SANs except to a control-plane node that lists them (repeatable)" },
  "allowed-ip-ranges": { type: "string", array: true, describe: "Every IP SAN must also be inside one of these CIDRs (restricts, never widens)" },
  "dns-suffix": { type: "string", array: true, describe: "Every DNS SAN must also end in one of these domains" },
  "dns-regex": { type: "string", describe: "Every DNS SAN must also fully match this regular expression" },
  "max-expiration": { type: "string", default: "8760h", describe: "Longest spec.expirationSeconds accepted" },
  "node-grace": { type: "string", default: "5m", describe: "How long a CSR waits (requeue) for its Node before it is denied" },
  "max-sans": { type: "number", default: DEFAULT_POLICY.maxSans, describe: "Most SANs a request may have" },
  "deny-non-node": { type: "boolean", default: false, describe: "Deny kubelet-serving CSRs from users who are not nodes (default: ignore them)" },
} as const;

/** Flood control: only `approver run` has the history of approvals it needs (offline there is none). */
export const HISTORY_OPTIONS = {
  "max-approvals-per-node": { type: "number", default: DEFAULT_POLICY.maxApprovalsPerNode, describe: "Approvals per node within --approval-window; more are ignored (flood control)" },
  "approval-window": { type: "string", default: "10m", describe: "The window for --max-approvals-per-node" },
} as const;

/** The values of POLICY_OPTIONS, and of HISTORY_OPTIONS where the command has them. */
export type PolicyArgs = InferredOptionTypes<typeof POLICY_OPTIONS> & Partial<InferredOptionTypes<typeof HISTORY_OPTIONS>>;

/** Validates the flags once, at the boundary, into a PolicyConfig. */
export function policyFromArgs(args: PolicyArgs): PolicyConfig {
  const cidrList = (flag: string, values: string[]): string[] => {
    for (const c of values) if (!parseCidr(c)) throw usageError(`invalid --${flag} "${c}": expected a CIDR such as 10.0.0.0/8`);
    return values;
  };
  const seconds = (flag: string, text: string): number => Math.floor(durationFlag(flag, text, { min: 0 }) / 1000);
  const apiserver = list(args["apiserver-address"]);
  if (args["dns-regex"] !== undefined) {
    try {
      new RegExp(args["dns-regex"]);
    } catch (error) {
      throw usageError(`invalid --dns-regex: ${(error as Error).message}`);
    }
  }
  for (const a of apiserver) if (!parseIp(a) && !/^[a-z0-9.-]+$/i.test(a)) throw usageError(`invalid --apiserver-address "${a}": expected an IP address or a DNS name`);
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
    maxSans: integerFlag("max-sans", args["max-sans"], 1),
    maxRequestBytes: DEFAULT_POLICY.maxRequestBytes,
    denyNonNodeRequestors: args["deny-non-node"],
    maxApprovalsPerNode: integerFlag("max-approvals-per-node", args["max-approvals-per-node"] ?? DEFAULT_POLICY.maxApprovalsPerNode, 1),
    approvalWindowSeconds: seconds("approval-window", args["approval-window"] ?? HISTORY_OPTIONS["approval-window"].default),
  };
}
