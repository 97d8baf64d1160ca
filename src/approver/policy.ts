import { paddedBase64ToBytes, type Bytes } from "../pki/der.js";
import { asciiDnsName, isDns1123Subdomain } from "../pki/dns.js";
import { EXTENSION_OIDS, EXTENSION_REQUEST_OID } from "../pki/extensions.js";
import { formatIp, normalizeIp, parseCidr, parseIp, type Cidr } from "../pki/ip.js";
import { NAME_OIDS } from "../pki/name.js";
import type { SignatureVerifier } from "../pki/signature.js";
import {
  dnsKey, dnsNameProblem, inCidr, indexNodes, ipKey, nodeAddresses, reservedDns, reservedIp, sameIp,
  type NodeAddresses, type NodeIndex, type NodeObject, type ReservedAddresses,
} from "./addresses.js";
import { DEFAULT_POLICY } from "./policy-defaults.js";
import { readRequest, RequestError, strictEcdsaSignature, type StrictRequest } from "./request.js";

export { indexNodes, type NodeIndex, type NodeObject } from "./addresses.js";

/**
 * The kubelet-serving CSR policy: a pure function of the CSR, the
 * Nodes, the configuration and the approvals made so far. The controller and `approver check`
 * both call it; neither adds rules of its own. Every rule but the signature check is
 * synchronous (assessCsr), so the controller can reserve a node's approval budget and a key in
 * the same tick as it decides, before it awaits anything.
 */

export const KUBELET_SERVING = "kubernetes.io/kubelet-serving";

/**
 * A certificates.k8s.io/v1 CertificateSigningRequest as the policy reads it. Objects from files
 * may have any shape; every field is checked for its type before a rule reads it.
 */
export interface CsrObject {
  readonly metadata?: { readonly name?: string; readonly uid?: string; readonly creationTimestamp?: string | Date };
  readonly spec?: {
    readonly request?: string;
    readonly signerName?: string;
    readonly usages?: readonly string[];
    readonly username?: string;
    readonly groups?: readonly string[];
    readonly expirationSeconds?: number;
  };
  readonly status?: {
    readonly conditions?: readonly { readonly type?: string; readonly status?: string; readonly lastUpdateTime?: string | Date; readonly lastTransitionTime?: string | Date }[];
    readonly certificate?: string;
  };
}

export interface PolicyConfig {
  /** Cluster DNS domains: names under them are reserved (flag and kubeadm-config). */
  readonly clusterDomains: readonly string[];
  /** Service CIDRs (flags, kubeadm-config, ServiceCIDR objects, the `kubernetes` Service's IPs). */
  readonly serviceCidrs: readonly string[];
  /** Assumed only while serviceCidrs holds no subnet (nothing configured or discovered): kubeadm's default. */
  readonly assumedServiceCidrs: readonly string[];
  readonly podCidrs: readonly string[];
  /** The API server's addresses and names: a node gets a certificate for one only if it is a control-plane node listing it. */
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
 * The approvals the policy must know about (empty offline): the public keys approved, for which
 * node, and when each node got one. The controller's ledger (history.ts) also counts approvals it
 * has decided but not yet written.
 */
export interface ApprovalHistory {
  /** SPKI (hex) → the node it was approved for. */
  readonly keys: ReadonlyMap<string, string>;
  /** Node name → times (ms) of its approvals. */
  readonly approvals: ReadonlyMap<string, readonly number[]>;
}

export const NO_HISTORY: ApprovalHistory = { keys: new Map(), approvals: new Map() };

export { DEFAULT_POLICY };

export type DecisionKind = "approve" | "deny" | "ignore" | "requeue";
export interface Decision {
  readonly decision: DecisionKind;
  /** CamelCase, machine-readable. */
  readonly reason: string;
  /** For people: names the offending values. */
  readonly message: string;
  /** On approve: the node and the public key (hex SPKI), for the approval history. */
  readonly node?: string;
  readonly spki?: string;
}

const decide = (decision: DecisionKind, reason: string, message: string): Decision => ({ decision, reason, message });

/** What assessCsr concluded: a decision, or an approval that waits only for the signature check. */
export type Assessment =
  | { readonly kind: "final"; readonly decision: Decision }
  | { readonly kind: "verify"; readonly request: StrictRequest; readonly approval: Decision & { readonly node: string; readonly spki: string } };

export const BAD_SIGNATURE: Decision = decide("deny", "BadSignature", "the request's self-signature does not verify with its public key");

/** The kubelet's usages: with key encipherment for RSA keys (and, up to 1.26, for ECDSA ones too), without it for others. */
const USAGE_SETS = [
  ["digital signature", "key encipherment", "server auth"],
  ["digital signature", "server auth"],
];

/** The same strings, each once, in any order. */
function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!b.includes(a[i]!) || a.indexOf(a[i]!) !== i) return false;
  return true;
}

/** The signature algorithms a node may sign its request with (SHA-1 and MD5 are refused; RSA-PSS is not used by kubelets). */
const SIGNATURE_ALGORITHMS: Readonly<Record<string, "rsa" | "ec" | "ed25519">> = {
  "1.2.840.113549.1.1.11": "rsa", "1.2.840.113549.1.1.12": "rsa", "1.2.840.113549.1.1.13": "rsa",
  "1.2.840.10045.4.3.2": "ec", "1.2.840.10045.4.3.3": "ec", "1.2.840.10045.4.3.4": "ec",
  "1.3.101.112": "ed25519",
};

const WEAK_CURVES: Readonly<Record<string, string>> = { "1.2.840.10045.3.1.1": "P-192", "1.3.132.0.33": "P-224" };

// ---------------------------------------------------------------------------------------------
// The CSR object's fields, checked by type before any rule reads them.

interface CsrFields {
  readonly created: number;
  readonly request: string;
  readonly usages: readonly string[];
  readonly username: string;
  readonly groups: readonly string[];
  readonly expirationSeconds: number | undefined;
  readonly decided: string | undefined;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");

/** A metav1.Time: an RFC 3339 string (or a Date, as client-node deserialises it) → ms; undefined if it is neither. */
export function timeOf(v: unknown): number | undefined {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.getTime();
  if (typeof v !== "string" || !RFC3339.test(v)) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

function readFields(csr: Record<string, unknown>, spec: Record<string, unknown>): CsrFields | Decision {
  const invalid = (field: string, expected: string, value: unknown): Decision =>
    decide("deny", "InvalidObject", `${field} must be ${expected}, not ${value === undefined ? "missing" : JSON.stringify(value)?.slice(0, 80) ?? typeof value}`);
  const metadata = isRecord(csr["metadata"]) ? csr["metadata"] : {};
  const created = timeOf(metadata["creationTimestamp"]);
  if (created === undefined) return invalid("metadata.creationTimestamp", "an RFC 3339 time", metadata["creationTimestamp"]);
  for (const field of ["usages", "groups"] as const) {
    if (spec[field] !== undefined && !isStringArray(spec[field])) return invalid(`spec.${field}`, "an array of strings", spec[field]);
  }
  for (const field of ["username", "request"] as const) {
    if (spec[field] !== undefined && typeof spec[field] !== "string") return invalid(`spec.${field}`, "a string", spec[field]);
  }
  const expiration = spec["expirationSeconds"];
  if (expiration !== undefined && expiration !== null && (typeof expiration !== "number" || !Number.isSafeInteger(expiration))) {
    return invalid("spec.expirationSeconds", "an integer", expiration);
  }
  const status = csr["status"] ?? {};
  if (!isRecord(status)) return invalid("status", "an object", status);
  const conditions = status["conditions"] ?? [];
  if (!Array.isArray(conditions) || !conditions.every((c) => isRecord(c) && typeof c["type"] === "string")) {
    return invalid("status.conditions", "an array of conditions with a type", conditions);
  }
  if (status["certificate"] !== undefined && typeof status["certificate"] !== "string") return invalid("status.certificate", "a string", status["certificate"]);
  const final = (conditions as Record<string, unknown>[]).find((c) => c["type"] === "Approved" || c["type"] === "Denied" || c["type"] === "Failed");
  return {
    created,
    request: (spec["request"] as string | undefined) ?? "",
    usages: (spec["usages"] as string[] | undefined) ?? [],
    username: (spec["username"] as string | undefined) ?? "",
    groups: (spec["groups"] as string[] | undefined) ?? [],
    expirationSeconds: typeof expiration === "number" ? expiration : undefined,
    decided: final ? `the CSR is already ${String(final["type"])}` : status["certificate"] ? "the CSR already has a certificate" : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Configuration, parsed once per PolicyConfig object.

interface Compiled extends ReservedAddresses {
  readonly allowedIpRanges: readonly Cidr[] | undefined;
  readonly dnsSuffixes: readonly string[] | undefined;
  readonly dnsRegex: RegExp | undefined;
}
const cidrs = (list: readonly string[]): Cidr[] => list.map((c) => parseCidr(c.trim())).filter((c): c is Cidr => c !== undefined);
const canonicalNames = (list: readonly string[]): string[] => list.map((n) => asciiDnsName(n.trim())).filter((n): n is string => !!n);
const compiledConfigs = new WeakMap<PolicyConfig, Compiled>();
function compile(cfg: PolicyConfig): Compiled {
  let c = compiledConfigs.get(cfg);
  if (!c) {
    const service = cidrs(cfg.serviceCidrs);
    const isSubnet = (x: Cidr): boolean => x.prefix < x.network.length * 8;
    c = {
      clusterDomains: canonicalNames(cfg.clusterDomains),
      serviceCidrs: service.some(isSubnet) ? service : [...service, ...cidrs(cfg.assumedServiceCidrs)],
      podCidrs: cidrs(cfg.podCidrs),
      apiServerIps: cfg.apiServerAddresses.map((a) => parseIp(a.trim())).filter((ip): ip is Bytes => ip !== undefined),
      apiServerNames: new Set(canonicalNames(cfg.apiServerAddresses.filter((a) => parseIp(a.trim()) === undefined))),
      allowedIpRanges: cfg.allowedIpRanges?.length ? cidrs(cfg.allowedIpRanges) : undefined,
      dnsSuffixes: cfg.dnsSuffixes?.length ? canonicalNames(cfg.dnsSuffixes).map((s) => s.replace(/^\./, "")) : undefined,
      // full match: an unanchored pattern cannot be bypassed
      dnsRegex: cfg.dnsRegex !== undefined ? new RegExp(`^(?:${cfg.dnsRegex})$`) : undefined,
    };
    compiledConfigs.set(cfg, c);
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Requests. A pending CSR is decided again on every Node event; the controller keeps what it read
// of each pending CSR's request in a RequestCache, so each is read once. (A process-wide cache
// costs more than it saves: its entries live long enough to be promoted, and the garbage
// collector then takes about a fifth of a burst's CPU.)

/** What was read of each spec.request, by its text. */
export type RequestCache = Map<string, StrictRequest | RequestError>;

function readSpecRequest(request: string, maxBytes: number, cache?: RequestCache): StrictRequest | Decision {
  const size = Math.floor((request.length * 3) / 4) - (request.endsWith("==") ? 2 : request.endsWith("=") ? 1 : 0);
  if (size > maxBytes) return decide("deny", "RequestTooLarge", `the request is ${size} bytes; the limit is ${maxBytes}`);
  let r = cache?.get(request);
  if (!r) {
    // Standard base64 with padding, nothing else (what a []byte field holds in JSON).
    const raw = paddedBase64ToBytes(request);
    if (!raw) return decide("deny", "MalformedRequest", "spec.request is not base64");
    try {
      r = readRequest(raw);
    } catch (error) {
      if (!(error instanceof RequestError)) throw error;
      r = error;
    }
    cache?.set(request, r);
  }
  return r instanceof RequestError ? decide("deny", "MalformedRequest", r.message) : r;
}

const EMPTY_NODE: NodeAddresses = { dns: new Set(), ips: [], controlPlane: false, podCidrs: [] };

/** The key rules: RSA ≥ 2048 bits with an odd modulus and an odd exponent ≥ 3; P-256, P-384 or P-521 with an uncompressed point on the curve; Ed25519. */
function keyProblem(req: StrictRequest): Decision | undefined {
  const key = req.key;
  switch (key.type) {
    case "rsa":
      if (key.bits < 2048) return decide("deny", "WeakKey", `RSA key of ${key.bits} bits; at least 2048 are required`);
      if (key.bits > 8192) return decide("deny", "UnsupportedKey", `RSA key of ${key.bits} bits; at most 8192 are accepted`);
      if (((key.modulus[key.modulus.length - 1] ?? 0) & 1) === 0) return decide("deny", "WeakKey", "the RSA modulus is even");
      if (key.exponent < 3n) return decide("deny", "WeakKey", `RSA public exponent ${key.exponent}: with an exponent below 3 a signature can be forged without the private key`);
      if (key.exponent % 2n === 0n) return decide("deny", "WeakKey", `RSA public exponent ${key.exponent} is even`);
      if (key.exponent > 0x7fffffffn) return decide("deny", "UnsupportedKey", `RSA public exponent ${key.exponent} is above 2^31-1`);
      return undefined;
    case "ec":
      if (WEAK_CURVES[key.curveOid]) return decide("deny", "WeakKey", `elliptic curve ${WEAK_CURVES[key.curveOid]}; P-256, P-384 or P-521 are required`);
      if (!key.curve) return decide("deny", "UnsupportedKey", `elliptic curve ${key.curveOid}; P-256, P-384 or P-521 are required`);
      if (key.form === "compressed") return decide("deny", "UnsupportedKey", `a compressed ${key.curve} point (Go's crypto/x509 reads only uncompressed points)`);
      if (!key.onCurve) return decide("deny", "UnsupportedKey", `the public key is not a point on ${key.curve}`);
      return undefined;
    case "ed25519":
      return undefined;
    case "invalid":
      return decide("deny", "UnsupportedKey", `${key.algorithm} key: ${key.reason}`);
    case "other":
      return decide("deny", "UnsupportedKey", `unsupported key algorithm ${key.oid}`);
  }
}

/** The subject, attributes, extensions, signature algorithm and key of a request that reads. */
function requestProblem(req: StrictRequest, username: string): Decision | undefined {
  // One pass over the subject (this runs for every CSR of a burst).
  const unexpected: string[] = [];
  const cns: string[] = [];
  const os: string[] = [];
  let multiValued = false;
  for (const rdn of req.rdns) {
    if (rdn.length !== 1) multiValued = true;
    for (const a of rdn) {
      if (a.oid === NAME_OIDS.commonName) cns.push(a.value);
      else if (a.oid === NAME_OIDS.organization) os.push(a.value);
      else unexpected.push(a.oid);
    }
  }
  if (unexpected.length) return decide("deny", "UnexpectedSubjectAttribute", `the subject has attributes other than CN and O: ${unexpected.join(", ")}`);
  if (cns.length !== 1) return decide("deny", "SubjectMismatch", `the subject has ${cns.length} CN values; exactly one is allowed`);
  if (cns[0] !== username) return decide("deny", "SubjectMismatch", `CN ${JSON.stringify(cns[0])} is not the requester ${JSON.stringify(username)}`);
  if (os.length !== 1 || os[0] !== "system:nodes") return decide("deny", "OrganizationMismatch", `O is [${os.join(", ")}]; it must be exactly [system:nodes]`);
  if (multiValued) return decide("deny", "UnexpectedSubjectAttribute", "the subject has a multi-valued RDN");
  const attributes = req.attributes;
  if (attributes.length > 1 || (attributes.length === 1 && attributes[0]!.oid !== EXTENSION_REQUEST_OID)) {
    return decide("deny", "UnexpectedAttribute", `the request carries attributes other than one extensionRequest: ${attributes.map((a) => a.oid).join(", ")}`);
  }
  if (req.extensions.some((e) => e.oid !== EXTENSION_OIDS.subjectAltName)) {
    return decide("deny", "UnexpectedExtension", `the request asks for extensions other than subjectAltName: ${req.extensions.map((e) => e.oid).join(", ")}`);
  }
  if (!SIGNATURE_ALGORITHMS[req.signatureAlgorithm]) {
    return decide("deny", "UnsupportedSignatureAlgorithm", `signature algorithm ${req.signatureAlgorithm}; SHA-256/384/512 with RSA or ECDSA, or Ed25519, are accepted`);
  }
  return keyProblem(req);
}

/** The SANs' kinds, count and form; on success their canonical DNS names and normalised IPs. */
function sanProblem(req: StrictRequest, cfg: PolicyConfig): Decision | { readonly dnsNames: string[]; readonly ips: Bytes[] } {
  if (req.emailAddresses.length || req.uris.length || req.otherNames.length) {
    const what = [...req.emailAddresses.map((e) => `email:${e}`), ...req.uris.map((u) => `URI:${u}`), ...req.otherNames.map((t) => `[tag 0x${t.toString(16)}]`)];
    return decide("deny", "ForbiddenSANType", `only DNS and IP SANs are allowed: ${what.join(", ")}`);
  }
  const sanCount = req.dnsNames.length + req.ips.length;
  if (sanCount === 0) return decide("deny", "NoSANs", "the request has no DNS or IP SAN");
  if (sanCount > cfg.maxSans) return decide("deny", "TooManySANs", `${sanCount} SANs; the limit is ${cfg.maxSans}`);
  const problems = req.dnsNames.map((d) => [d, dnsNameProblem(d)] as const).filter(([, p]) => p);
  for (const reason of ["WildcardDNSName", "DNSNameIsIPAddress", "MalformedDNSName"] as const) {
    const bad = problems.filter(([, p]) => p?.reason === reason);
    if (bad.length) return decide("deny", reason, `not allowed as DNS names: ${bad.map(([d, p]) => `${JSON.stringify(d)} ${p!.why}`).join(", ")}`);
  }
  return { dnsNames: req.dnsNames.map((d) => asciiDnsName(d)!), ips: req.ips.map((ip) => normalizeIp(ip)) };
}

/** Names and addresses no kubelet certificate may carry (see addresses.ts). */
function reservedProblem(req: StrictRequest, sans: { readonly dnsNames: string[]; readonly ips: Bytes[] }, own: NodeAddresses, index: NodeIndex, compiled: Compiled): Decision | undefined {
  const { dnsNames, ips } = sans;
  const reservedNames = dnsNames.map((d, i) => [req.dnsNames[i]!, reservedDns(d, compiled, own)] as const).filter(([, why]) => why);
  if (reservedNames.length) return decide("deny", "ReservedDNSName", `reserved DNS names: ${reservedNames.map(([d, why]) => `${d} (${why})`).join(", ")}`);
  const reservedIps = ips.map((ip) => [ip, reservedIp(ip, compiled, index.podCidrs, own)] as const).filter(([, why]) => why);
  if (reservedIps.length) return decide("deny", "ReservedIP", `reserved IP addresses: ${reservedIps.map(([ip, why]) => `${formatIp(ip)} (${why})`).join(", ")}`);
  return undefined;
}

/** Every SAN an address of this Node and of no other; then the allow-lists, which restrict and never widen. */
function ownershipProblem(req: StrictRequest, sans: { readonly dnsNames: string[]; readonly ips: Bytes[] }, nodeName: string, own: NodeAddresses, index: NodeIndex, compiled: Compiled): Decision | undefined {
  const { dnsNames, ips } = sans;
  const notOwned = [
    ...req.dnsNames.filter((_, i) => !own.dns.has(dnsNames[i]!)),
    ...ips.filter((ip) => !own.ips.some((o) => sameIp(o, ip))).map(formatIp),
  ];
  if (notOwned.length) return decide("deny", "SANNotOwnedByNode", `not addresses of node ${nodeName}: ${notOwned.join(", ")}`);
  const claimed: string[] = [];
  req.dnsNames.forEach((d, i) => {
    for (const other of index.owners.get(dnsKey(dnsNames[i]!)) ?? []) if (other !== nodeName) claimed.push(`${d} (node ${other})`);
  });
  for (const ip of ips) {
    for (const other of index.owners.get(ipKey(ip)) ?? []) if (other !== nodeName) claimed.push(`${formatIp(ip)} (node ${other})`);
  }
  if (claimed.length) return decide("deny", "SANClaimedByOtherNode", `also addresses of other nodes: ${claimed.join(", ")}`);
  const ranges = compiled.allowedIpRanges;
  if (ranges) {
    const outside = ips.filter((ip) => !ranges.some((r) => inCidr(ip, r))).map(formatIp);
    if (outside.length) return decide("deny", "IPNotAllowed", `outside --allowed-ip-ranges: ${outside.join(", ")}`);
  }
  const suffixes = compiled.dnsSuffixes;
  if (suffixes) {
    const outside = req.dnsNames.filter((_, i) => !suffixes.some((s) => dnsNames[i]!.endsWith(`.${s}`)));
    if (outside.length) return decide("deny", "DNSNameNotAllowed", `not under --dns-suffix ${suffixes.join(", ")}: ${outside.join(", ")}`);
  }
  const re = compiled.dnsRegex;
  if (re) {
    const outside = req.dnsNames.filter((_, i) => !re.test(dnsNames[i]!));
    if (outside.length) return decide("deny", "DNSNameNotAllowed", `not matching --dns-regex: ${outside.join(", ")}`);
  }
  return undefined;
}

/**
 * Every rule but the signature check, synchronously. `history` is what the controller's ledger
 * holds (approvals made and reserved); offline it is empty. `cache` keeps what was read of each
 * request for the next decision of the same CSR.
 */
export function assessCsr(
  csr: CsrObject,
  nodes: readonly NodeObject[] | NodeIndex,
  cfg: PolicyConfig,
  now: Date,
  history: ApprovalHistory = NO_HISTORY,
  cache?: RequestCache,
): Assessment {
  const final = (d: Decision): Assessment => ({ kind: "final", decision: d });
  const obj: unknown = csr;
  if (!isRecord(obj)) return final(decide("deny", "InvalidObject", "the CSR is not an object"));
  const spec = obj["spec"] ?? {};
  if (!isRecord(spec)) return final(decide("deny", "InvalidObject", "spec must be an object"));

  // 1. Ours? Only kubelet-serving (a CSR for another signer is left alone whatever else it holds).
  const signerName = spec["signerName"];
  if (signerName !== KUBELET_SERVING) {
    return final(decide("ignore", "NotKubeletServing", `signerName is ${JSON.stringify(typeof signerName === "string" ? signerName : "")}, not ${KUBELET_SERVING}`));
  }
  const f = readFields(obj, spec);
  if ("decision" in f) return final(f);
  if (f.decided) return final(decide("ignore", "AlreadyDecided", f.decided));

  // 2. Requested by a node, as itself.
  const m = /^system:node:(.*)$/.exec(f.username);
  if (!m) {
    const msg = `spec.username ${JSON.stringify(f.username)} is not system:node:<name>`;
    return final(cfg.denyNonNodeRequestors ? decide("deny", "NotANode", msg) : decide("ignore", "NotANode", msg));
  }
  const nodeName = m[1] ?? "";
  if (!isDns1123Subdomain(nodeName)) return final(decide("deny", "InvalidNodeName", `node name ${JSON.stringify(nodeName)} is not a valid DNS-1123 subdomain`));
  if (!f.groups.includes("system:nodes")) return final(decide("deny", "NotInNodesGroup", `spec.groups [${f.groups.join(", ")}] does not contain system:nodes`));

  // 3. Usages and lifetime.
  if (!USAGE_SETS.some((s) => sameSet(f.usages, s))) {
    return final(decide("deny", "UsagesMismatch", `usages [${f.usages.join(", ")}] are not {digital signature, key encipherment, server auth} or {digital signature, server auth}`));
  }
  if (f.expirationSeconds !== undefined && f.expirationSeconds < 600) {
    return final(decide("deny", "InvalidExpiration", `expirationSeconds ${f.expirationSeconds} is below the minimum of 600`));
  }
  if (f.expirationSeconds !== undefined && f.expirationSeconds > cfg.maxExpirationSeconds) {
    return final(decide("deny", "ExpirationTooLong", `expirationSeconds ${f.expirationSeconds} is above the maximum ${cfg.maxExpirationSeconds}`));
  }

  // 4. The request itself: one reading (request.ts), then its subject, attributes and key.
  const req = readSpecRequest(f.request, cfg.maxRequestBytes, cache);
  if ("decision" in req) return final(req);
  const bad = requestProblem(req, f.username);
  if (bad) return final(bad);

  // 5. SANs: present, of allowed kinds, well-formed, not reserved.
  const sans = sanProblem(req, cfg);
  if ("decision" in sans) return final(sans);
  const index = Array.isArray(nodes) ? indexNodes(nodes) : (nodes as NodeIndex);
  const node = index.byName.get(nodeName);
  const own = node ? nodeAddresses(node) : EMPTY_NODE;
  const compiled = compile(cfg);
  const reserved = reservedProblem(req, sans, own, index, compiled);
  if (reserved) return final(reserved);

  // 6. The requester's Node: it exists, is not newer than the CSR, and has addresses.
  if (!node) {
    const waited = (now.getTime() - f.created) / 1000;
    return final(waited < cfg.nodeGraceSeconds
      ? decide("requeue", "NodeNotFound", `node ${nodeName} does not exist yet (waited ${Math.floor(waited)}s of ${cfg.nodeGraceSeconds}s)`)
      : decide("deny", "NodeNotFound", `node ${nodeName} does not exist (waited ${Math.floor(waited)}s)`));
  }
  const nodeCreated = timeOf(node.metadata?.creationTimestamp);
  if (nodeCreated !== undefined && f.created < nodeCreated) {
    return final(decide("deny", "StaleRequest", `the CSR was created before node ${nodeName} (the node was re-created since)`));
  }
  if (own.dns.size === 0 && own.ips.length === 0) return final(decide("requeue", "NodeHasNoAddresses", `node ${nodeName} has no status.addresses yet`));

  // 7. Every SAN is an address of this Node, and of no other Node; the allow-lists.
  const notOwn = ownershipProblem(req, sans, nodeName, own, index, compiled);
  if (notOwn) return final(notOwn);

  // 8. Abuse controls, from the approvals made (and, in the controller, reserved) so far.
  const keyOwner = history.keys.get(req.spkiHex);
  if (keyOwner !== undefined && keyOwner !== nodeName) {
    return final(decide("deny", "KeyReused", `this public key was already approved for node ${keyOwner}`));
  }
  const recent = (history.approvals.get(nodeName) ?? []).filter((t) => now.getTime() - t < cfg.approvalWindowSeconds * 1000);
  if (recent.length >= cfg.maxApprovalsPerNode) {
    return final(decide("ignore", "RateLimited", `node ${nodeName} already got ${recent.length} approvals in the last ${cfg.approvalWindowSeconds}s`));
  }

  const shown = [...req.dnsNames, ...sans.ips.map(formatIp)];
  return {
    kind: "verify",
    request: req,
    approval: { ...decide("approve", "NodeAddressesVerified", `every SAN (${shown.join(", ")}) is an address of node ${nodeName} and of no other node`), node: nodeName, spki: req.spkiHex },
  };
}

/**
 * The request's self-signature, judged as Go's CheckSignature judges it: the key must fit the
 * algorithm, an ECDSA signature must be strict DER with positive r and s (ecdsa.VerifyASN1), an
 * RSA signature as long as the modulus (rsa.VerifyPKCS1v15), an Ed25519 one 64 bytes.
 */
export async function checkSignature(req: StrictRequest, verify: SignatureVerifier): Promise<boolean> {
  const kind = SIGNATURE_ALGORITHMS[req.signatureAlgorithm];
  const key = req.key;
  if (kind === "rsa") {
    if (key.type !== "rsa" || req.signature.length !== key.modulus.length) return false;
  } else if (kind === "ec") {
    if (key.type !== "ec" || !strictEcdsaSignature(req.signature)) return false;
  } else if (kind === "ed25519") {
    if (key.type !== "ed25519" || req.signature.length !== 64) return false;
  } else {
    return false;
  }
  return verify(req.signatureAlgorithm, req.spki, req.signature, req.info);
}

/** Decides what to do with one CSR. `now` is the caller's clock (grace periods, the approval window). */
export async function decideCsr(
  csr: CsrObject,
  nodes: readonly NodeObject[] | NodeIndex,
  cfg: PolicyConfig,
  now: Date,
  verify: SignatureVerifier,
  history: ApprovalHistory = NO_HISTORY,
): Promise<Decision> {
  const a = assessCsr(csr, nodes, cfg, now, history);
  if (a.kind === "final") return a.decision;
  return (await checkSignature(a.request, verify)) ? a.approval : BAD_SIGNATURE;
}

/** The SPKI (hex) of a spec.request, or undefined if it does not read (for rebuilding the approval history). */
export function requestKeyOf(request: unknown, maxBytes = DEFAULT_POLICY.maxRequestBytes): string | undefined {
  if (typeof request !== "string") return undefined;
  const r = readSpecRequest(request, maxBytes);
  return "decision" in r ? undefined : r.spkiHex;
}
