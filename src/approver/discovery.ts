import { invalidInput } from "../errors.js";
import { asciiDnsName } from "../pki/dns.js";
import { formatIp, parseCidr, parseIp } from "../pki/ip.js";
import type { PolicyConfig } from "./policy.js";

/**
 * What the approver must refuse, read from the cluster itself rather than configured: the API
 * server's addresses (the `kubernetes` Service's cluster IPs, and the endpoints behind it, which
 * the API servers publish themselves), the ServiceCIDR objects of Kubernetes 1.33+, and from
 * kubeadm's ClusterConfiguration the service and
 * pod subnets, the DNS domain, the control-plane endpoint and the API server's extra SANs.
 * (Each Node's spec.podCIDRs is read with the Nodes.) Flags add to what is found here.
 */
export interface ClusterFacts {
  readonly apiServerAddresses: readonly string[];
  readonly serviceCidrs: readonly string[];
  readonly podCidrs: readonly string[];
  readonly clusterDomains: readonly string[];
}

export const NO_FACTS: ClusterFacts = { apiServerAddresses: [], serviceCidrs: [], podCidrs: [], clusterDomains: [] };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const at = (o: unknown, ...path: string[]): unknown => path.reduce<unknown>((cur, k) => (isObj(cur) ? cur[k] : undefined), o);

/** A host's address or name (its port removed), as the approver compares them; undefined if it is neither. */
function hostOf(endpoint: string): string | undefined {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(endpoint);
  if (bracketed) return parseIp(bracketed[1]!) ? bracketed[1] : undefined;
  if (parseIp(endpoint)) return endpoint;
  const host = endpoint.replace(/:\d+$/, "");
  return parseIp(host) || asciiDnsName(host) ? host : undefined;
}

/** A single-address CIDR for a service IP. */
const hostCidr = (ip: string): string | undefined => {
  const b = parseIp(ip);
  return b ? `${formatIp(b)}/${b.length * 8}` : undefined;
};

/** The facts in the cluster objects the controller read (any may be missing). */
export function factsFromCluster(objs: {
  readonly service?: unknown;
  /** networking.k8s.io/v1 ServiceCIDRs (Kubernetes 1.33+). */
  readonly serviceCidrs?: readonly unknown[];
  readonly endpoints?: unknown;
  readonly endpointSlices?: readonly unknown[];
  readonly clusterConfiguration?: unknown;
}): ClusterFacts {
  const api = new Set<string>();
  const service = new Set<string>();
  const pods = new Set<string>();
  const domains = new Set<string>();
  for (const ip of [at(objs.service, "spec", "clusterIP"), ...list(at(objs.service, "spec", "clusterIPs"))]) {
    const c = str(ip) && hostCidr(ip as string);
    if (c) service.add(c);
  }
  for (const sc of objs.serviceCidrs ?? []) for (const c of list(at(sc, "spec", "cidrs"))) if (str(c) && parseCidr(c as string)) service.add(c as string);
  for (const subset of list(at(objs.endpoints, "subsets"))) {
    for (const a of [...list(at(subset, "addresses")), ...list(at(subset, "notReadyAddresses"))]) {
      const ip = str(at(a, "ip"));
      if (ip && parseIp(ip)) api.add(ip);
    }
  }
  for (const slice of objs.endpointSlices ?? []) {
    for (const ep of list(at(slice, "endpoints"))) {
      for (const a of list(at(ep, "addresses"))) if (str(a) && parseIp(a as string)) api.add(a as string);
    }
  }
  const cc = objs.clusterConfiguration;
  if (isObj(cc)) {
    for (const c of (str(at(cc, "networking", "serviceSubnet")) ?? "").split(",")) if (parseCidr(c.trim())) service.add(c.trim());
    for (const c of (str(at(cc, "networking", "podSubnet")) ?? "").split(",")) if (parseCidr(c.trim())) pods.add(c.trim());
    const domain = str(at(cc, "networking", "dnsDomain"));
    if (domain && asciiDnsName(domain)) domains.add(domain);
    const endpoint = str(at(cc, "controlPlaneEndpoint"));
    const host = endpoint && hostOf(endpoint);
    if (host) api.add(host);
    for (const san of list(at(cc, "apiServer", "certSANs"))) if (str(san)) api.add(san as string);
  }
  return { apiServerAddresses: [...api], serviceCidrs: [...service], podCidrs: [...pods], clusterDomains: [...domains] };
}

/** The configured policy with the discovered facts added (flags are never narrowed). */
export function withClusterFacts(cfg: PolicyConfig, facts: ClusterFacts): PolicyConfig {
  const union = (a: readonly string[], b: readonly string[]): string[] => [...new Set([...a, ...b])];
  return {
    ...cfg,
    apiServerAddresses: union(cfg.apiServerAddresses, facts.apiServerAddresses),
    serviceCidrs: union(cfg.serviceCidrs, facts.serviceCidrs),
    podCidrs: union(cfg.podCidrs, facts.podCidrs),
    clusterDomains: union(cfg.clusterDomains, facts.clusterDomains),
  };
}

const KUBEADM_GROUP = "kubeadm.k8s.io/";

/**
 * The ClusterConfiguration in a kubeadm config text (a file, or the `ClusterConfiguration` key of
 * the kube-system/kubeadm-config ConfigMap), in every kubeadm.k8s.io version, since the fields
 * read here are the same in v1beta2, v1beta3 and v1beta4.
 */
export async function readClusterConfiguration(text: string, source: string): Promise<Obj> {
  const { parseAllDocuments } = await import("yaml");
  const docs = parseAllDocuments(text);
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length) throw invalidInput(`${source} is not valid YAML: ${doc.errors[0]?.message.split("\n")[0] ?? "parse error"}`);
    const value: unknown = doc.toJS();
    if (isObj(value) && value["kind"] === "ClusterConfiguration" && typeof value["apiVersion"] === "string" && value["apiVersion"].startsWith(KUBEADM_GROUP)) return value;
  }
  throw invalidInput(`${source} has no kubeadm ClusterConfiguration document`);
}
