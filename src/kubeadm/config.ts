import { invalidInput } from "../errors.js";
import { validateKubeadmConfig, type KubeadmConfigOptions } from "./config-schema.js";
import { isDns1123Subdomain, isWildcardDns1123Subdomain } from "../pki/dns.js";
import { parseDuration } from "../pki/duration.js";
import type { Bytes } from "../pki/der.js";
import { formatIp, parseCidr, parseIp } from "../pki/ip.js";
import { KUBEADM_KEY_ALGORITHMS, type KeyAlgorithm } from "../pki/keys.js";

/** kubeadm's defaults (cmd/kubeadm/app/constants/constants.go and apis/kubeadm/v1beta4/defaults.go). */
export const DEFAULTS = {
  kubernetesDir: "/etc/kubernetes",
  certificatesDir: "/etc/kubernetes/pki",
  serviceSubnet: "10.96.0.0/12",
  dnsDomain: "cluster.local",
  clusterName: "kubernetes",
  bindPort: 6443,
  encryptionAlgorithm: "RSA-2048",
  certificateValidityMs: 8760 * 3_600_000, // 365 days, not a calendar year
  caCertificateValidityMs: 87600 * 3_600_000, // 3650 days
  backdateMs: 5 * 60_000, // CertificateBackdate
} as const;

export type KubeadmKeyAlgorithm = (typeof KUBEADM_KEY_ALGORITHMS)[number];

/** Everything about the cluster that decides what kubeadm writes: resolved, validated, immutable. */
export interface ClusterConfig {
  readonly certificatesDir: string;
  readonly kubeconfigDir: string;
  readonly nodeName: string;
  readonly advertiseAddress: Bytes;
  readonly bindPort: number;
  readonly controlPlaneEndpoint: string | undefined;
  readonly serviceSubnet: string;
  readonly dnsDomain: string;
  readonly clusterName: string;
  readonly apiServerCertSans: readonly string[];
  readonly etcd:
    | { readonly external: false; readonly serverCertSans: readonly string[]; readonly peerCertSans: readonly string[] }
    | { readonly external: true };
  readonly encryptionAlgorithm: KeyAlgorithm;
  readonly certificateValidityMs: number;
  readonly caCertificateValidityMs: number;
}

/** Values given as command-line flags (kubeadm's names); each overrides the config file or default. */
export interface ConfigFlags {
  readonly certDir?: string | undefined;
  readonly kubeconfigDir?: string | undefined;
  readonly advertiseAddress?: string | undefined;
  readonly bindPort?: number | undefined;
  readonly controlPlaneEndpoint?: string | undefined;
  readonly certSans?: readonly string[] | undefined;
  readonly serviceCidr?: string | undefined;
  readonly dnsDomain?: string | undefined;
  readonly nodeName?: string | undefined;
  readonly encryptionAlgorithm?: string | undefined;
  /** Already parsed (the CLI's duration grammar); the config file's values are read here. */
  readonly certificateValidityMs?: number | undefined;
  readonly caCertificateValidityMs?: number | undefined;
}

/** What the machine says about itself; used where neither flags nor config decide. */
export interface HostFacts {
  readonly hostname: string;
  /** The first non-loopback address, if any. */
  readonly defaultAddress: string | undefined;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function field<T>(obj: Obj | undefined, path: string, kind: "string" | "number" | "object" | "string[]" | "boolean"): T | undefined {
  let cur: unknown = obj;
  for (const key of path.split(".")) {
    if (!isObj(cur)) return undefined;
    cur = cur[key];
  }
  if (cur === undefined || cur === null) return undefined;
  const ok =
    kind === "string[]"
      ? Array.isArray(cur) && cur.every((x) => typeof x === "string")
      : kind === "object"
        ? isObj(cur)
        : typeof cur === kind;
  if (!ok) throw invalidInput(`invalid config: ${path} must be ${kind === "string[]" ? "a list of strings" : `a ${kind}`}`);
  return cur as T;
}

/** The API server's advertise address and bind port, and certificatesDir, as a config file gives them (each undefined when it does not). */
export function configEndpoints(docs: KubeadmConfigDocuments | undefined): { advertiseAddress?: string | undefined; bindPort?: number | undefined; certificatesDir?: string | undefined } {
  return {
    advertiseAddress: field<string>(docs?.init, "localAPIEndpoint.advertiseAddress", "string"),
    bindPort: field<number>(docs?.init, "localAPIEndpoint.bindPort", "number"),
    certificatesDir: field<string>(docs?.cluster, "certificatesDir", "string"),
  };
}

/** The InitConfiguration and ClusterConfiguration documents of a kubeadm config file. */
export interface KubeadmConfigDocuments {
  readonly init: Obj | undefined;
  readonly cluster: Obj | undefined;
}

/**
 * Parses a kubeadm config file (multi-document YAML) and returns its InitConfiguration and
 * ClusterConfiguration. Every kubeadm.k8s.io document (Join, Reset and Upgrade too) is checked against
 * kubeadm's field tree (config-schema.ts): an unknown, misplaced or duplicated field is refused with
 * `<source>:<line>: ...`, or with `allowUnknownFields` passed to `warn` as kubeadm's strict-decoding
 * warning. Other groups' documents (KubeletConfiguration, KubeProxyConfiguration) are not checked.
 */
export async function parseKubeadmConfig(
  text: string,
  source = "config",
  options: KubeadmConfigOptions = {},
): Promise<KubeadmConfigDocuments> {
  let init: Obj | undefined;
  let cluster: Obj | undefined;
  for (const doc of await validateKubeadmConfig(text, source, options)) {
    if (!doc.checked) continue;
    if (doc.kind === "InitConfiguration") init = doc.value;
    else if (doc.kind === "ClusterConfiguration") cluster = doc.value;
  }
  if (!init && !cluster) throw invalidInput(`${source} has no InitConfiguration or ClusterConfiguration document`);
  return { init, cluster };
}

function validateSans(sans: readonly string[], what: string): void {
  for (const san of sans) {
    if (parseIp(san) || isDns1123Subdomain(san) || isWildcardDns1123Subdomain(san)) continue;
    throw invalidInput(`invalid ${what} "${san}": not a valid IP address, DNS name or wildcard DNS name`);
  }
}

/** A duration of the config file: Go's grammar only (metav1.Duration), as kubeadm reads it. */
function durationOf(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text, { extendedUnits: false });
  if (ms === undefined || ms <= 0) throw invalidInput(`invalid ${what} "${text}": expected a positive duration such as 8760h`);
  return ms;
}

/** Splits kubeadm's `host`, `host:port` or `[v6]:port` endpoint; throws kubeadm's message on failure. */
export function parseHostPort(endpoint: string): { host: string; port: number | undefined } {
  const fail = () => invalidInput(`error parsing cluster controlPlaneEndpoint "${endpoint}"`);
  let host = endpoint;
  let portText: string | undefined;
  if (endpoint.startsWith("[")) {
    const close = endpoint.indexOf("]");
    if (close < 0) throw fail();
    host = endpoint.slice(1, close);
    const rest = endpoint.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw fail();
      portText = rest.slice(1);
    }
    if (!parseIp(host)) throw fail();
  } else if ((endpoint.match(/:/g) ?? []).length === 1) {
    [host = "", portText] = endpoint.split(":");
  } else if (parseIp(endpoint)) {
    host = endpoint; // bare IPv6
  }
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) throw fail();
    port = Number(portText);
  }
  if (!parseIp(host) && !isDns1123Subdomain(host)) throw fail();
  return { host, port };
}

/**
 * Resolves the cluster configuration from (in order of precedence) flags, the
 * kubeadm config file and kubeadm's defaults, with the host's name and address
 * as the last resort for nodeName and advertiseAddress. Validates every value.
 */
export function resolveClusterConfig(
  docs: KubeadmConfigDocuments | undefined,
  flags: ConfigFlags,
  host: HostFacts,
): ClusterConfig {
  const init = docs?.init;
  const cluster = docs?.cluster;

  const certificatesDir = flags.certDir ?? field<string>(cluster, "certificatesDir", "string") ?? DEFAULTS.certificatesDir;
  const kubeconfigDir = flags.kubeconfigDir ?? DEFAULTS.kubernetesDir;

  const nodeName = (flags.nodeName ?? field<string>(init, "nodeRegistration.name", "string") ?? host.hostname)
    .trim()
    .toLowerCase();
  if (!isDns1123Subdomain(nodeName)) {
    throw invalidInput(`invalid node name "${nodeName}": must be a lower-case RFC 1123 subdomain (set --node-name)`);
  }

  const addressText = flags.advertiseAddress ?? field<string>(init, "localAPIEndpoint.advertiseAddress", "string") ?? host.defaultAddress;
  if (addressText === undefined) {
    throw invalidInput("no advertise address: this machine has no non-loopback address; set --apiserver-advertise-address");
  }
  const given = parseIp(addressText);
  if (!given) {
    throw invalidInput(
      `error parsing LocalAPIEndpoint AdvertiseAddress ${addressText}: is not a valid textual representation of an IP address`,
    );
  }
  // kubeadm resolves an unspecified address (0.0.0.0, ::) to the default route's address, as the API
  // server does with its bind address (ChooseAPIServerBindAddress → ResolveBindAddress); it never
  // goes into the certificates or the kubeconfigs as it is.
  const unspecified = given.every((b) => b === 0);
  const advertiseAddress = unspecified ? (host.defaultAddress !== undefined ? parseIp(host.defaultAddress) : undefined) : given;
  if (!advertiseAddress) {
    throw invalidInput(`advertise address ${addressText} is unspecified and this machine has no non-loopback address to use instead; set --apiserver-advertise-address`);
  }
  const bindPort = flags.bindPort ?? field<number>(init, "localAPIEndpoint.bindPort", "number") ?? DEFAULTS.bindPort;
  if (!Number.isInteger(bindPort) || bindPort < 1 || bindPort > 65535) {
    throw invalidInput(`invalid API server bind port ${bindPort}: must be 1-65535`);
  }

  const controlPlaneEndpoint = flags.controlPlaneEndpoint ?? field<string>(cluster, "controlPlaneEndpoint", "string") ?? undefined;
  if (controlPlaneEndpoint !== undefined && controlPlaneEndpoint !== "") parseHostPort(controlPlaneEndpoint);

  const serviceSubnet = flags.serviceCidr ?? field<string>(cluster, "networking.serviceSubnet", "string") ?? DEFAULTS.serviceSubnet;
  for (const cidr of serviceSubnet.split(",")) {
    if (!parseCidr(cidr.trim())) throw invalidInput(`invalid service CIDR "${cidr}": expected a CIDR such as 10.96.0.0/12`);
  }
  const dnsDomain = flags.dnsDomain ?? field<string>(cluster, "networking.dnsDomain", "string") ?? DEFAULTS.dnsDomain;
  if (!isDns1123Subdomain(dnsDomain)) throw invalidInput(`invalid service DNS domain "${dnsDomain}": must be an RFC 1123 subdomain`);

  const clusterName = field<string>(cluster, "clusterName", "string") ?? DEFAULTS.clusterName;

  const apiServerCertSans = flags.certSans ?? field<string[]>(cluster, "apiServer.certSANs", "string[]") ?? [];
  validateSans(apiServerCertSans, "API server certificate SAN");

  const external = field<Obj>(cluster, "etcd.external", "object");
  let etcd: ClusterConfig["etcd"];
  if (external) {
    etcd = { external: true };
  } else {
    const serverCertSans = field<string[]>(cluster, "etcd.local.serverCertSANs", "string[]") ?? [];
    const peerCertSans = field<string[]>(cluster, "etcd.local.peerCertSANs", "string[]") ?? [];
    validateSans(serverCertSans, "etcd server certificate SAN");
    validateSans(peerCertSans, "etcd peer certificate SAN");
    etcd = { external: false, serverCertSans, peerCertSans };
  }

  let algorithm: string = flags.encryptionAlgorithm ?? field<string>(cluster, "encryptionAlgorithm", "string") ?? "";
  // v1beta3's PublicKeysECDSA feature gate, as ClusterConfiguration.EncryptionAlgorithmType() reads it.
  const ecdsaGate = field<boolean>(cluster, "featureGates.PublicKeysECDSA", "boolean");
  if (flags.encryptionAlgorithm === undefined && ecdsaGate !== undefined) algorithm = ecdsaGate ? "ECDSA-P256" : "RSA-2048";
  if (algorithm === "") algorithm = DEFAULTS.encryptionAlgorithm;
  if (!(KUBEADM_KEY_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw invalidInput(`Invalid encryption algorithm "${algorithm}". Must be one of ${KUBEADM_KEY_ALGORITHMS.join(", ")}`);
  }

  const certificateValidityMs =
    flags.certificateValidityMs ?? durationOf(field<string>(cluster, "certificateValidityPeriod", "string"), "certificateValidityPeriod") ?? DEFAULTS.certificateValidityMs;
  const caCertificateValidityMs =
    flags.caCertificateValidityMs ??
    durationOf(field<string>(cluster, "caCertificateValidityPeriod", "string"), "caCertificateValidityPeriod") ??
    DEFAULTS.caCertificateValidityMs;

  return {
    certificatesDir,
    kubeconfigDir,
    nodeName,
    advertiseAddress,
    bindPort,
    controlPlaneEndpoint: controlPlaneEndpoint === "" ? undefined : controlPlaneEndpoint,
    serviceSubnet,
    dnsDomain,
    clusterName,
    apiServerCertSans,
    etcd,
    encryptionAlgorithm: algorithm as KeyAlgorithm,
    certificateValidityMs,
    caCertificateValidityMs,
  };
}

/** kubeadm's config-validation warnings (ValidateCertValidity); never errors. */
export function validityWarnings(cfg: ClusterConfig, format: (ms: number) => string): string[] {
  const out: string[] = [];
  if (cfg.certificateValidityMs > DEFAULTS.certificateValidityMs) {
    out.push(
      `certificateValidityPeriod: the value ${format(cfg.certificateValidityMs)} is more than the recommended default for certificate expiration: ${format(DEFAULTS.certificateValidityMs)}`,
    );
  }
  if (cfg.caCertificateValidityMs > DEFAULTS.caCertificateValidityMs) {
    out.push(
      `caCertificateValidityPeriod: the value ${format(cfg.caCertificateValidityMs)} is more than the recommended default for CA certificate expiration: ${format(DEFAULTS.caCertificateValidityMs)}`,
    );
  }
  if (cfg.certificateValidityMs > cfg.caCertificateValidityMs) {
    out.push(
      `certificateValidityPeriod: the value ${format(cfg.certificateValidityMs)} is more than the caCertificateValidityPeriod: ${format(cfg.caCertificateValidityMs)}`,
    );
  }
  return out;
}

/** The advertise address as Go prints it. */
export const advertiseAddressText = (cfg: ClusterConfig): string => formatIp(cfg.advertiseAddress);
