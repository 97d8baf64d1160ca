import { isDns1123Subdomain } from "../pki/dns.js";
import { base64ToBytes, type Bytes } from "../pki/der.js";
import { EXTENSION_OIDS, EXTENSION_REQUEST_OID } from "../pki/extensions.js";
import { formatIp, parseCidr, parseIp, type Cidr } from "../pki/ip.js";
import { NAME_OIDS } from "../pki/name.js";
import type { SignatureVerifier } from "../pki/signature.js";
import { parseStrictRequest, RequestError, type StrictRequest } from "./request.js";

/**
 * The kubelet-serving CSR policy (approver-policy.md §5 and §6): a pure
 * function of the CSR, the Nodes and the configuration. The controller and
 * `approver check` both call it; neither adds rules of its own.
 */

export const KUBELET_SERVING = "kubernetes.io/kubelet-serving";

/** The fields of a certificates.k8s.io/v1 CertificateSigningRequest the policy reads. */
export interface CsrObject {
  readonly metadata?: { readonly name?: string; readonly creationTimestamp?: string | Date };
  readonly spec?: {
    readonly request?: string;
    readonly signerName?: string;
    readonly usages?: readonly string[];
    readonly username?: string;
    readonly groups?: readonly string[];
    readonly expirationSeconds?: number;
  };
  readonly status?: { readonly conditions?: readonly { readonly type?: string; readonly status?: string }[]; readonly certificate?: string };
}

/** The fields of a v1 Node the policy reads. */
export interface NodeObject {
  readonly metadata?: { readonly name?: string; readonly creationTimestamp?: string | Date };
  readonly status?: { readonly addresses?: readonly { readonly type?: string; readonly address?: string }[] };
}

export interface PolicyConfig {
  /** The cluster DNS domain: names under `svc.<domain>` are reserved. */
  readonly clusterDomain: string;
  readonly serviceCidrs: readonly string[];
  readonly podCidrs: readonly string[];
  /** The API server's addresses and names (reserved: a node must not get a certificate for them). */
  readonly apiServerAddresses: readonly string[];
  /** Optional: every IP SAN must also be inside one of these. */
  readonly allowedIpRanges?: readonly string[] | undefined;
  /** Optional: every DNS SAN must also end in one of these suffixes (label boundary). */
  readonly dnsSuffixes?: readonly string[] | undefined;
  /** Optional: every DNS SAN must also match this regular expression, as a full match. */
  readonly dnsRegex?: string | undefined;
  /** Longest `spec.expirationSeconds` accepted; a request without one is left to the signer's cap. */
  readonly maxExpirationSeconds: number;
  /** How long a CSR may wait for its Node to appear before it is denied. */
  readonly nodeGraceSeconds: number;
  readonly maxSans: number;
  readonly maxRequestBytes: number;
  /** Deny (rather than ignore) kubelet-serving CSRs from users who are not nodes. */
  readonly denyNonNodeRequestors: boolean;
  /** At most this many approvals per node within `approvalWindowSeconds`; the rest are ignored (flood control). */
  readonly maxApprovalsPerNode: number;
  readonly approvalWindowSeconds: number;
}

/**
 * What the controller remembers of its own approvals (empty offline): the
 * public keys it approved, for which node, and when each node last got one.
 */
export interface ApprovalHistory {
  /** SPKI (hex) → the node it was approved for. */
  readonly keys: ReadonlyMap<string, string>;
  /** Node name → times (ms) of its approvals. */
  readonly approvals: ReadonlyMap<string, readonly number[]>;
}

export const NO_HISTORY: ApprovalHistory = { keys: new Map(), approvals: new Map() };

export const DEFAULT_POLICY: PolicyConfig = {
  clusterDomain: "cluster.local",
  serviceCidrs: ["10.96.0.0/12"],
  podCidrs: [],
  apiServerAddresses: [],
  maxExpirationSeconds: 365 * 86_400,
  nodeGraceSeconds: 300,
  maxSans: 64,
  maxRequestBytes: 32 * 1024,
  denyNonNodeRequestors: false,
  // The kubelet asks again every 15 minutes while unapproved; a node needs about one certificate per rotation.
  maxApprovalsPerNode: 3,
  approvalWindowSeconds: 600,
};

export type DecisionKind = "approve" | "deny" | "ignore" | "requeue";
export interface Decision {
  readonly decision: DecisionKind;
  /** CamelCase, machine-readable. */
  readonly reason: string;
  /** For people: names the offending values. */
  readonly message: string;
  /** On approve: the node and the public key (hex SPKI), for the controller's history. */
  readonly node?: string;
  readonly spki?: string;
}

const decide = (decision: DecisionKind, reason: string, message: string): Decision => ({ decision, reason, message });

const USAGE_SETS = [
  ["digital signature", "key encipherment", "server auth"],
  ["digital signature", "server auth"],
];

/** Lower case, one trailing dot removed: how DNS names are compared. */
export const canonicalDns = (name: string): string => name.toLowerCase().replace(/\.$/, "");

const SPECIAL_V4: readonly [string, string][] = [
  ["0.0.0.0/8", "unspecified"], ["127.0.0.0/8", "loopback"], ["169.254.0.0/16", "link-local (cloud metadata lives here)"],
  ["224.0.0.0/4", "multicast"], ["255.255.255.255/32", "broadcast"],
];
const SPECIAL_V6: readonly [string, string][] = [
  ["::/128", "unspecified"], ["::1/128", "loopback"], ["fe80::/10", "link-local"], ["ff00::/8", "multicast"], ["fd00:ec2::254/128", "cloud metadata"],
];

function inCidr(ip: Bytes, cidr: Cidr): boolean {
  if (ip.length !== cidr.network.length) return false;
  for (let bit = 0; bit < cidr.prefix; bit++) {
    const mask = 0x80 >> (bit & 7);
    if (((ip[bit >> 3] ?? 0) & mask) !== ((cidr.network[bit >> 3] ?? 0) & mask)) return false;
  }
  return true;
}
const cidrs = (list: readonly string[]): Cidr[] => list.map((c) => parseCidr(c.trim())).filter((c): c is Cidr => c !== undefined);
const sameIp = (a: Bytes, b: Bytes): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** The policy's lists parsed once per PolicyConfig object, not once per decision. */
interface Compiled {
  readonly clusterDomain: string;
  readonly serviceCidrs: readonly Cidr[];
  readonly podCidrs: readonly Cidr[];
  readonly apiServerIps: readonly Bytes[];
  readonly apiServerNames: ReadonlySet<string>;
  readonly allowedIpRanges: readonly Cidr[] | undefined;
  readonly dnsSuffixes: readonly string[] | undefined;
  readonly dnsRegex: RegExp | undefined;
}
const SPECIAL_V4_CIDRS = SPECIAL_V4.map(([c, why]) => [parseCidr(c)!, why] as const);
const SPECIAL_V6_CIDRS = SPECIAL_V6.map(([c, why]) => [parseCidr(c)!, why] as const);
const compiledConfigs = new WeakMap<PolicyConfig, Compiled>();
function compile(cfg: PolicyConfig): Compiled {
  let c = compiledConfigs.get(cfg);
  if (!c) {
    const apiServerIps = cfg.apiServerAddresses.map((a) => parseIp(a)).filter((ip): ip is Bytes => ip !== undefined);
    c = {
      clusterDomain: canonicalDns(cfg.clusterDomain),
      serviceCidrs: cidrs(cfg.serviceCidrs),
      podCidrs: cidrs(cfg.podCidrs),
      apiServerIps,
      apiServerNames: new Set(cfg.apiServerAddresses.filter((a) => parseIp(a) === undefined).map(canonicalDns)),
      allowedIpRanges: cfg.allowedIpRanges?.length ? cidrs(cfg.allowedIpRanges) : undefined,
      dnsSuffixes: cfg.dnsSuffixes?.length ? cfg.dnsSuffixes.map((s) => canonicalDns(s).replace(/^\./, "")) : undefined,
      // full match: an unanchored pattern cannot be bypassed
      dnsRegex: cfg.dnsRegex !== undefined ? new RegExp(`^(?:${cfg.dnsRegex})$`) : undefined,
    };
    compiledConfigs.set(cfg, c);
  }
  return c;
}

/** Why an IP may never be in a kubelet serving certificate, or undefined. */
function reservedIp(ip: Bytes, c: Compiled): string | undefined {
  for (const [cidr, why] of ip.length === 4 ? SPECIAL_V4_CIDRS : SPECIAL_V6_CIDRS) if (inCidr(ip, cidr)) return why;
  if (c.serviceCidrs.some((r) => inCidr(ip, r))) return "in the service CIDR";
  if (c.podCidrs.some((r) => inCidr(ip, r))) return "in the pod CIDR";
  if (c.apiServerIps.some((a) => sameIp(a, ip))) return "an API server address";
  return undefined;
}

/** Why a DNS name may never be in a kubelet serving certificate, or undefined. */
function reservedDns(name: string, c: Compiled): string | undefined {
  const n = canonicalDns(name);
  const domain = c.clusterDomain;
  if (n === "kubernetes" || n.startsWith("kubernetes.")) return "the API server's service name";
  if (n === "svc" || n.endsWith(".svc") || n === `svc.${domain}` || n.endsWith(`.svc.${domain}`) || n === domain || n.endsWith(`.${domain}`)) {
    return "a cluster service name";
  }
  if (n === "localhost" || n.endsWith(".localhost")) return "loopback";
  if (n === "metadata" || n === "metadata.google.internal" || n === "instance-data" || n.startsWith("instance-data.")) return "a cloud metadata name";
  if (c.apiServerNames.has(n)) return "an API server name";
  return undefined;
}

const NAME_SYNTAX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * The DNS names and IPs a Node owns, from status.addresses (a Hostname that is an IP counts as an IP,
 * as the kubelet sends it). Kept per Node object: a changed Node arrives as a new object.
 */
const addressCache = new WeakMap<NodeObject, { dns: ReadonlySet<string>; ips: readonly Bytes[] }>();
function nodeAddresses(node: NodeObject): { dns: ReadonlySet<string>; ips: readonly Bytes[] } {
  let cached = addressCache.get(node);
  if (!cached) {
    cached = readNodeAddresses(node);
    addressCache.set(node, cached);
  }
  return cached;
}
function readNodeAddresses(node: NodeObject): { dns: Set<string>; ips: Bytes[] } {
  const dns = new Set<string>();
  const ips: Bytes[] = [];
  for (const a of node.status?.addresses ?? []) {
    if (!a.address) continue;
    const ip = parseIp(a.address, { sloppy: false });
    if ((a.type === "InternalIP" || a.type === "ExternalIP" || a.type === "Hostname") && ip) ips.push(ip);
    else if (a.type === "Hostname" || a.type === "InternalDNS" || a.type === "ExternalDNS") dns.add(canonicalDns(a.address));
  }
  return { dns, ips };
}

const time = (t: string | Date | undefined): number | undefined => (t === undefined ? undefined : new Date(t).getTime());

/** Nodes by name, and every address to the nodes that list it: built once, shared by many decisions. */
export interface NodeIndex {
  readonly byName: ReadonlyMap<string, NodeObject>;
  readonly owners: ReadonlyMap<string, readonly string[]>;
}

const dnsKey = (name: string): string => `dns:${canonicalDns(name)}`;
const ipKey = (ip: Bytes): string => `ip:${formatIp(ip)}`;

/** Indexes nodes for decideCsr; O(addresses). The controller rebuilds it when a Node changes. */
export function indexNodes(nodes: readonly NodeObject[]): NodeIndex {
  const byName = new Map<string, NodeObject>();
  const owners = new Map<string, string[]>();
  for (const node of nodes) {
    const name = node.metadata?.name ?? "";
    byName.set(name, node);
    const own = nodeAddresses(node);
    for (const key of [...[...own.dns].map((d) => `dns:${d}`), ...own.ips.map(ipKey)]) {
      const list = owners.get(key) ?? [];
      if (!list.includes(name)) list.push(name);
      owners.set(key, list);
    }
  }
  return { byName, owners };
}

/** Decides what to do with one CSR. `now` is the controller's clock (grace periods). */
export async function decideCsr(
  csr: CsrObject,
  nodes: readonly NodeObject[] | NodeIndex,
  cfg: PolicyConfig,
  now: Date,
  verify: SignatureVerifier,
  history: ApprovalHistory = NO_HISTORY,
): Promise<Decision> {
  const index = Array.isArray(nodes) ? indexNodes(nodes) : (nodes as NodeIndex);
  const spec = csr.spec ?? {};
  // 1. Ours? Only kubelet-serving, and only while undecided.
  if (spec.signerName !== KUBELET_SERVING) return decide("ignore", "NotKubeletServing", `signerName is ${JSON.stringify(spec.signerName ?? "")}, not ${KUBELET_SERVING}`);
  const final = (csr.status?.conditions ?? []).find((c) => c.type === "Approved" || c.type === "Denied" || c.type === "Failed");
  if (final) return decide("ignore", "AlreadyDecided", `the CSR is already ${final.type}`);
  if (csr.status?.certificate) return decide("ignore", "AlreadyDecided", "the CSR already has a certificate");

  // 2. Requested by a node, as itself.
  const username = spec.username ?? "";
  const m = /^system:node:(.*)$/.exec(username);
  if (!m) {
    const msg = `spec.username ${JSON.stringify(username)} is not system:node:<name>`;
    return cfg.denyNonNodeRequestors ? decide("deny", "NotANode", msg) : decide("ignore", "NotANode", msg);
  }
  const nodeName = m[1] ?? "";
  if (!isDns1123Subdomain(nodeName)) return decide("deny", "InvalidNodeName", `node name ${JSON.stringify(nodeName)} is not a valid DNS-1123 subdomain`);
  if (!(spec.groups ?? []).includes("system:nodes")) return decide("deny", "NotInNodesGroup", `spec.groups [${(spec.groups ?? []).join(", ")}] does not contain system:nodes`);

  // 3. The request itself, read strictly.
  let req: StrictRequest;
  let pem: string;
  try {
    const raw = base64ToBytes((spec.request ?? "").replace(/\s+/g, ""));
    if (raw.length > cfg.maxRequestBytes) return decide("deny", "RequestTooLarge", `the request is ${raw.length} bytes; the limit is ${cfg.maxRequestBytes}`);
    pem = new TextDecoder("utf-8", { fatal: true }).decode(raw);
    req = await parseStrictRequest(pem, verify);
  } catch (error) {
    return decide("deny", "MalformedRequest", error instanceof RequestError ? error.message : `spec.request is not base64 PEM: ${(error as Error).message}`);
  }
  if (!req.signatureValid) return decide("deny", "BadSignature", "the request's self-signature does not verify with its public key");
  const unexpected = req.subjectAttributes.filter((a) => a.oid !== NAME_OIDS.commonName && a.oid !== NAME_OIDS.organization).map((a) => a.oid);
  if (unexpected.length) return decide("deny", "UnexpectedSubjectAttribute", `the subject has attributes other than CN and O: ${unexpected.join(", ")}`);
  const cns = req.subjectAttributes.filter((a) => a.oid === NAME_OIDS.commonName).map((a) => a.value);
  const os = req.subjectAttributes.filter((a) => a.oid === NAME_OIDS.organization).map((a) => a.value);
  if (cns.length !== 1) return decide("deny", "SubjectMismatch", `the subject has ${cns.length} CN values; exactly one is allowed`);
  if (cns[0] !== username) return decide("deny", "SubjectMismatch", `CN ${JSON.stringify(cns[0])} is not the requester ${JSON.stringify(username)}`);
  if (os.length !== 1 || os[0] !== "system:nodes") return decide("deny", "OrganizationMismatch", `O is [${os.join(", ")}]; it must be exactly [system:nodes]`);
  if (req.rdnSizes.some((n) => n !== 1)) return decide("deny", "UnexpectedSubjectAttribute", "the subject has a multi-valued RDN");
  const badAttrs = req.attributeOids.filter((o) => o !== EXTENSION_REQUEST_OID);
  if (badAttrs.length || req.attributeOids.length > 1) {
    return decide("deny", "UnexpectedAttribute", `the request carries attributes other than one extensionRequest: ${req.attributeOids.join(", ")}`);
  }
  const badExts = req.extensionOids.filter((o) => o !== EXTENSION_OIDS.subjectAltName);
  if (badExts.length || req.extensionOids.length > 1) {
    return decide("deny", "UnexpectedExtension", `the request asks for extensions other than one subjectAltName: ${req.extensionOids.join(", ")}`);
  }
  const key = req.key;
  if (key.type === "rsa" && key.bits < 2048) return decide("deny", "WeakKey", `RSA key of ${key.bits} bits; at least 2048 are required`);
  if (key.type === "ec" && key.curve !== "P-256" && key.curve !== "P-384") return decide("deny", "WeakKey", `elliptic curve ${key.curve}; P-256 or P-384 are required`);
  if (key.type === "other") return decide("deny", "WeakKey", `unsupported key algorithm ${key.oid}`);

  // 4. Usages and lifetime.
  const usages = [...(spec.usages ?? [])];
  const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && new Set(a).size === a.length && b.every((x) => a.includes(x));
  if (!USAGE_SETS.some((s) => sameSet(usages, s))) {
    return decide("deny", "UsagesMismatch", `usages [${usages.join(", ")}] are not {digital signature, key encipherment, server auth} or {digital signature, server auth}`);
  }
  if (spec.expirationSeconds !== undefined && spec.expirationSeconds > cfg.maxExpirationSeconds) {
    return decide("deny", "ExpirationTooLong", `expirationSeconds ${spec.expirationSeconds} is above the maximum ${cfg.maxExpirationSeconds}`);
  }

  // 5. SANs: present, of allowed kinds, well-formed, not reserved.
  if (req.emailAddresses.length || req.uris.length || req.otherNames.length) {
    const what = [...req.emailAddresses.map((e) => `email:${e}`), ...req.uris.map((u) => `URI:${u}`), ...req.otherNames.map((t) => `[tag 0x${t.toString(16)}]`)];
    return decide("deny", "ForbiddenSANType", `only DNS and IP SANs are allowed: ${what.join(", ")}`);
  }
  if (req.dnsNames.length + req.ips.length === 0) return decide("deny", "NoSANs", "the request has no DNS or IP SAN");
  if (req.dnsNames.length + req.ips.length > cfg.maxSans) return decide("deny", "TooManySANs", `${req.dnsNames.length + req.ips.length} SANs; the limit is ${cfg.maxSans}`);
  const wild = req.dnsNames.filter((d) => d.includes("*"));
  if (wild.length) return decide("deny", "WildcardDNSName", `wildcard DNS names are not allowed: ${wild.join(", ")}`);
  const malformed = req.dnsNames.filter((d) => canonicalDns(d).length > 253 || !NAME_SYNTAX.test(canonicalDns(d)));
  if (malformed.length) return decide("deny", "MalformedDNSName", `not valid DNS names: ${malformed.map((d) => JSON.stringify(d)).join(", ")}`);
  const compiled = compile(cfg);
  const reservedNames = req.dnsNames.map((d) => [d, reservedDns(d, compiled)] as const).filter(([, why]) => why);
  if (reservedNames.length) return decide("deny", "ReservedDNSName", `reserved DNS names: ${reservedNames.map(([d, why]) => `${d} (${why})`).join(", ")}`);
  const reservedIps = req.ips.map((ip) => [ip, reservedIp(ip, compiled)] as const).filter(([, why]) => why);
  if (reservedIps.length) return decide("deny", "ReservedIP", `reserved IP addresses: ${reservedIps.map(([ip, why]) => `${formatIp(ip)} (${why})`).join(", ")}`);

  // 6. The requester's Node: it exists, is not newer than the CSR, and has addresses.
  const node = index.byName.get(nodeName);
  const created = time(csr.metadata?.creationTimestamp) ?? now.getTime();
  if (!node) {
    const waited = (now.getTime() - created) / 1000;
    return waited < cfg.nodeGraceSeconds
      ? decide("requeue", "NodeNotFound", `node ${nodeName} does not exist yet (waited ${Math.floor(waited)}s of ${cfg.nodeGraceSeconds}s)`)
      : decide("deny", "NodeNotFound", `node ${nodeName} does not exist (waited ${Math.floor(waited)}s)`);
  }
  const nodeCreated = time(node.metadata?.creationTimestamp);
  if (nodeCreated !== undefined && created < nodeCreated) {
    return decide("deny", "StaleRequest", `the CSR was created before node ${nodeName} (the node was re-created since)`);
  }
  const own = nodeAddresses(node);
  if (own.dns.size === 0 && own.ips.length === 0) return decide("requeue", "NodeHasNoAddresses", `node ${nodeName} has no status.addresses yet`);

  // 7. Every SAN is an address of this Node, and of no other Node.
  const notOwned = [
    ...req.dnsNames.filter((d) => !own.dns.has(canonicalDns(d))),
    ...req.ips.filter((ip) => !own.ips.some((o) => sameIp(o, ip))).map(formatIp),
  ];
  if (notOwned.length) return decide("deny", "SANNotOwnedByNode", `not addresses of node ${nodeName}: ${notOwned.join(", ")}`);
  const claimed: string[] = [];
  for (const [shown, key] of [...req.dnsNames.map((d) => [d, dnsKey(d)] as const), ...req.ips.map((ip) => [formatIp(ip), ipKey(ip)] as const)]) {
    for (const other of index.owners.get(key) ?? []) if (other !== nodeName) claimed.push(`${shown} (node ${other})`);
  }
  if (claimed.length) return decide("deny", "SANClaimedByOtherNode", `also addresses of other nodes: ${claimed.join(", ")}`);

  // 8. Optional allow-lists: they restrict, never widen.
  const ranges = compiled.allowedIpRanges;
  if (ranges) {
    const outside = req.ips.filter((ip) => !ranges.some((r) => inCidr(ip, r))).map(formatIp);
    if (outside.length) return decide("deny", "IPNotAllowed", `outside --allowed-ip-ranges: ${outside.join(", ")}`);
  }
  const suffixes = compiled.dnsSuffixes;
  if (suffixes) {
    const outside = req.dnsNames.filter((d) => !suffixes.some((s) => canonicalDns(d).endsWith(`.${s}`)));
    if (outside.length) return decide("deny", "DNSNameNotAllowed", `not under --dns-suffix ${suffixes.join(", ")}: ${outside.join(", ")}`);
  }
  const re = compiled.dnsRegex;
  if (re) {
    const outside = req.dnsNames.filter((d) => !re.test(canonicalDns(d)));
    if (outside.length) return decide("deny", "DNSNameNotAllowed", `not matching --dns-regex: ${outside.join(", ")}`);
  }

  // 9. Abuse controls, from the controller's memory of its own approvals.
  const keyOwner = history.keys.get(req.spkiHex);
  if (keyOwner !== undefined && keyOwner !== nodeName) {
    return decide("deny", "KeyReused", `this public key was already approved for node ${keyOwner}`);
  }
  const recent = (history.approvals.get(nodeName) ?? []).filter((t) => now.getTime() - t < cfg.approvalWindowSeconds * 1000);
  if (recent.length >= cfg.maxApprovalsPerNode) {
    return decide("ignore", "RateLimited", `node ${nodeName} already got ${recent.length} approvals in the last ${cfg.approvalWindowSeconds}s`);
  }

  const sans = [...req.dnsNames, ...req.ips.map(formatIp)];
  return { ...decide("approve", "NodeAddressesVerified", `every SAN (${sans.join(", ")}) is an address of node ${nodeName} and of no other node`), node: nodeName, spki: req.spkiHex };
}
