import { bytesToHex, type Bytes } from "../pki/der.js";
import { asciiDnsName, endsInNumber } from "../pki/dns.js";
import { embeddedIpv4s, formatIp, normalizeIp, parseCidr, parseIp, type Cidr } from "../pki/ip.js";

/**
 * What a kubelet serving certificate may name: DNS names and IPs of the requesting Node,
 * judged the way TLS clients will use them. Pure; the policy calls it.
 */

/** The fields of a v1 Node the approver reads. Objects from files are read defensively. */
export interface NodeObject {
  readonly metadata?: { readonly name?: string; readonly creationTimestamp?: string | Date; readonly labels?: Readonly<Record<string, string>> };
  readonly spec?: { readonly podCIDR?: string; readonly podCIDRs?: readonly string[] };
  readonly status?: { readonly addresses?: readonly { readonly type?: string; readonly address?: string }[] };
}

/** Labels kubeadm puts on control-plane Nodes; NodeRestriction admission keeps kubelets from setting them. */
export const CONTROL_PLANE_LABELS = ["node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"] as const;

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Why `name` is not a DNS name a kubelet serving certificate may carry, or undefined. The name
 * must be ASCII before anything is lower-cased, made of RFC 1123 labels of at most 63
 * characters, at most 253 characters long, and must not read as an IP address (TLS clients
 * match an IP host against IP SANs, and some libraries read 10.0.0.6 or 0x0a000006 as one).
 */
export function dnsNameProblem(name: string): { readonly reason: "WildcardDNSName" | "DNSNameIsIPAddress" | "MalformedDNSName"; readonly why: string } | undefined {
  const n = asciiDnsName(name);
  if (n === undefined) return { reason: "MalformedDNSName", why: "has non-ASCII characters" };
  if (n.includes("*")) return { reason: "WildcardDNSName", why: "is a wildcard" };
  if (parseIp(n) !== undefined || endsInNumber(n)) return { reason: "DNSNameIsIPAddress", why: "is an IP address written as a DNS name" };
  if (n.length === 0 || n.length > 253) return { reason: "MalformedDNSName", why: `is ${n.length} characters long (1 to 253 allowed)` };
  if (!n.split(".").every((l) => LABEL.test(l))) return { reason: "MalformedDNSName", why: "is not made of RFC 1123 labels (a-z, 0-9, inner '-', 1 to 63 each)" };
  return undefined;
}

/** The DNS names and IPs a Node owns, and what else the policy needs of it. */
export interface NodeAddresses {
  readonly dns: ReadonlySet<string>;
  /** Normalised (IPv4-mapped IPv6 as 4 bytes). */
  readonly ips: readonly Bytes[];
  readonly controlPlane: boolean;
  readonly podCidrs: readonly Cidr[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * From status.addresses, as the kubelet turns them into its request (pkg/kubelet/certificate
 * addressesToHostnamesAndIPs): a Hostname that parses as an IP is an IP; InternalIP and
 * ExternalIP are IPs (ParseIPSloppy); Hostname, InternalDNS and ExternalDNS are DNS names. A
 * DNS address that is not a valid DNS name (non-ASCII, or an IP written as a name) is not
 * counted at all. Entries of the wrong type are skipped.
 */
function readNodeAddresses(node: NodeObject): NodeAddresses {
  const dns = new Set<string>();
  const ips: Bytes[] = [];
  const addresses = node.status?.addresses;
  for (const a of Array.isArray(addresses) ? (addresses as unknown[]) : []) {
    if (!isRecord(a) || typeof a["type"] !== "string" || typeof a["address"] !== "string" || a["address"] === "") continue;
    const type = a["type"];
    const address = a["address"];
    const ip = type === "InternalIP" || type === "ExternalIP" || type === "Hostname" ? parseIp(address, { sloppy: true }) : undefined;
    if (ip) ips.push(ip);
    else if ((type === "Hostname" || type === "InternalDNS" || type === "ExternalDNS") && !dnsNameProblem(address)) dns.add(asciiDnsName(address)!);
  }
  const labels = node.metadata?.labels;
  const controlPlane = isRecord(labels) && CONTROL_PLANE_LABELS.some((l) => typeof labels[l] === "string");
  const spec = node.spec;
  const cidrTexts = isRecord(spec) ? [...(Array.isArray(spec["podCIDRs"]) ? (spec["podCIDRs"] as unknown[]) : []), spec["podCIDR"]] : [];
  const podCidrs = cidrTexts.filter((c): c is string => typeof c === "string").map((c) => parseCidr(c)).filter((c): c is Cidr => c !== undefined);
  return { dns, ips, controlPlane, podCidrs };
}

/** Kept per Node object: a changed Node arrives as a new object. */
const addressCache = new WeakMap<NodeObject, NodeAddresses>();
export function nodeAddresses(node: NodeObject): NodeAddresses {
  let cached = addressCache.get(node);
  if (!cached) {
    cached = readNodeAddresses(node);
    addressCache.set(node, cached);
  }
  return cached;
}

export const dnsKey = (canonical: string): string => `dns:${canonical}`;
/** An index key for an IP: its normalised bytes (IPv4-mapped IPv6 as IPv4), as hex. */
export const ipKey = (ip: Bytes): string => `ip:${bytesToHex(normalizeIp(ip))}`;

/** Nodes by name, every address to the nodes that list it, and every Node's pod CIDRs: built once, shared by many decisions. */
export interface NodeIndex {
  readonly byName: ReadonlyMap<string, NodeObject>;
  readonly owners: ReadonlyMap<string, readonly string[]>;
  readonly podCidrs: readonly Cidr[];
}

/** Indexes nodes for the policy; O(addresses). The controller rebuilds it when a Node changes. */
export function indexNodes(nodes: readonly NodeObject[]): NodeIndex {
  const byName = new Map<string, NodeObject>();
  const owners = new Map<string, string[]>();
  const podCidrs: Cidr[] = [];
  for (const node of nodes) {
    const name = typeof node.metadata?.name === "string" ? node.metadata.name : "";
    if (!name) continue;
    byName.set(name, node);
    const own = nodeAddresses(node);
    podCidrs.push(...own.podCidrs);
    for (const key of [...[...own.dns].map(dnsKey), ...own.ips.map(ipKey)]) {
      const list = owners.get(key) ?? [];
      if (!list.includes(name)) list.push(name);
      owners.set(key, list);
    }
  }
  return { byName, owners, podCidrs };
}

// ---------------------------------------------------------------------------------------------
// Reserved addresses: never in a kubelet serving certificate.

export function inCidr(ip: Bytes, cidr: Cidr): boolean {
  if (ip.length !== cidr.network.length) return false;
  for (let bit = 0; bit < cidr.prefix; bit++) {
    const mask = 0x80 >> (bit & 7);
    if (((ip[bit >> 3] ?? 0) & mask) !== ((cidr.network[bit >> 3] ?? 0) & mask)) return false;
  }
  return true;
}
export function sameIp(a: Bytes, b: Bytes): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const special = (list: readonly [string, string][]) => list.map(([c, why]) => [parseCidr(c)!, why] as const);
const SPECIAL_V4 = special([
  ["0.0.0.0/8", "unspecified"], ["127.0.0.0/8", "loopback"], ["169.254.0.0/16", "link-local (cloud metadata lives here)"],
  ["224.0.0.0/4", "multicast"], ["240.0.0.0/4", "reserved (and broadcast)"],
]);
const SPECIAL_V6 = special([
  ["::/128", "unspecified"], ["::1/128", "loopback"], ["fe80::/10", "link-local"], ["ff00::/8", "multicast"], ["fd00:ec2::254/128", "cloud metadata"],
]);

/** The reserved sets, parsed once per policy configuration. */
export interface ReservedAddresses {
  readonly clusterDomains: readonly string[];
  readonly serviceCidrs: readonly Cidr[];
  readonly podCidrs: readonly Cidr[];
  /** The API servers' addresses and names (flags and discovery). */
  readonly apiServerIps: readonly Bytes[];
  readonly apiServerNames: ReadonlySet<string>;
}

/**
 * Why an IP may not be in this node's certificate, or undefined. `ip` is normalised. An IPv6
 * address that embeds an IPv4 address is also judged as that IPv4 address. An API server
 * address is allowed only to a control-plane Node that lists it itself: there it is the node's
 * own address (kubeadm advertises the control-plane node's IP), and that node holds the API
 * server's keys anyway.
 */
export function reservedIp(ip: Bytes, r: ReservedAddresses, nodePodCidrs: readonly Cidr[], requester: NodeAddresses): string | undefined {
  for (const [cidr, why] of ip.length === 4 ? SPECIAL_V4 : SPECIAL_V6) if (inCidr(ip, cidr)) return why;
  if (r.serviceCidrs.some((c) => inCidr(ip, c))) return "in the service CIDR";
  if (r.podCidrs.some((c) => inCidr(ip, c)) || nodePodCidrs.some((c) => inCidr(ip, c))) return "in a pod CIDR";
  if (r.apiServerIps.some((a) => sameIp(a, ip)) && !(requester.controlPlane && requester.ips.some((o) => sameIp(o, ip)))) return "an API server address";
  for (const { how, ipv4 } of embeddedIpv4s(ip)) {
    const why = reservedIp(ipv4, r, nodePodCidrs, requester);
    if (why) return `${how} form of ${formatIp(ipv4)}, ${why}`;
  }
  return undefined;
}

/** Why a DNS name (canonical) may not be in this node's certificate, or undefined. */
export function reservedDns(n: string, r: ReservedAddresses, requester: NodeAddresses): string | undefined {
  if (n === "kubernetes" || n.startsWith("kubernetes.")) return "the API server's service name";
  if (n === "svc" || n.endsWith(".svc")) return "a cluster service name";
  for (const domain of r.clusterDomains) {
    if (n === domain || n.endsWith(`.${domain}`)) return "a cluster service name";
  }
  if (n === "localhost" || n.endsWith(".localhost")) return "loopback";
  if (n === "metadata" || n === "metadata.google.internal" || n === "instance-data" || n.startsWith("instance-data.")) return "a cloud metadata name";
  if (isApiServerName(n, r.apiServerNames) && !(requester.controlPlane && requester.dns.has(n))) return "an API server name";
  return undefined;
}

/** Exact, or covered by a wildcard name (`*.api.example.com`, one label, as TLS matches it). */
function isApiServerName(n: string, names: ReadonlySet<string>): boolean {
  if (names.has(n)) return true;
  const dot = n.indexOf(".");
  return dot > 0 && names.has(`*${n.slice(dot)}`);
}
