import { invalidInput, usageError } from "../errors.js";
import type { Bytes } from "../pki/der.js";
import { isDns1123Subdomain, isWildcardDns1123Subdomain } from "../pki/dns.js";
import type { ExtKeyUsage } from "../pki/extensions.js";
import { parseIp } from "../pki/ip.js";
import { LEAVES } from "./catalogue.js";
import { DEFAULTS, resolveClusterConfig } from "./config.js";
import type { LeafIdentity } from "./resolve.js";
import { apiServerAltNames, apiServerVirtualIp, dedupeAltNames, type AltNames } from "./sans.js";

/*
 * `kpki certs create`: which certificates a profile makes, with which usages and SANs. Pure: the
 * CLI loads the CA, generates the keys and writes the files. Every certificate is then built by
 * resolve.ts leafSpec, kubeadm's leaf template.
 */

/** The profiles of `certs create --profile`. */
export const CREATE_PROFILES = ["server", "client", "peer", "etcd-server", "etcd-peer", "etcd-client", "kube-apiserver", "etcd-member"] as const;
export type CreateProfile = (typeof CREATE_PROFILES)[number];

/** Which CA of a kubeadm cert dir (--cert-dir/--dir) signs a profile: the etcd profiles use etcd/ca. */
export const profileCa = (profile: CreateProfile | undefined): "ca" | "etcd-ca" => (profile?.startsWith("etcd-") ? "etcd-ca" : "ca");

const leafUsages = (name: string): readonly ExtKeyUsage[] => {
  const leaf = LEAVES.find((l) => l.name === name);
  if (!leaf) throw new Error(`catalogue has no ${name}`);
  return leaf.extKeyUsages;
};

/**
 * The extended key usages of each single-certificate profile. The etcd ones and kube-apiserver are
 * kubeadm's (catalogue.ts LEAVES, from certlist.go): etcd-server and etcd-peer are serverAuth and
 * clientAuth (etcd dials itself and its peers with them), etcd-client is etcd-healthcheck-client's
 * clientAuth, kube-apiserver is apiserver's serverAuth.
 */
export const PROFILE_USAGES: Readonly<Record<Exclude<CreateProfile, "etcd-member">, readonly ExtKeyUsage[]>> = {
  server: ["serverAuth"],
  client: ["clientAuth"],
  peer: ["serverAuth", "clientAuth"],
  "etcd-server": leafUsages("etcd-server"),
  "etcd-peer": leafUsages("etcd-peer"),
  "etcd-client": leafUsages("etcd-healthcheck-client"),
  "kube-apiserver": leafUsages("apiserver"),
};

/** The three pairs `--profile etcd-member` writes, as `<NAME>-<suffix>.{crt,key}`, in this order. */
export const ETCD_MEMBER_PAIRS = [
  { suffix: "server", profile: "etcd-server" },
  { suffix: "peer", profile: "etcd-peer" },
  { suffix: "client", profile: "etcd-client" },
] as const;

/** What `certs create` was asked for, flags already typed. */
export interface CreateRequest {
  /** The file stem (NAME.crt, NAME.key), or the member name for etcd-member. */
  readonly name: string;
  readonly profile: CreateProfile | undefined;
  /** Explicit usages instead of a profile. */
  readonly usages: readonly ExtKeyUsage[] | undefined;
  readonly commonName: string;
  readonly organizations: readonly string[];
  /** --san values as given (comma lists already split). */
  readonly sans: readonly string[];
  /** kube-apiserver only. */
  readonly serviceCidr: string;
  readonly clusterDomain: string;
}

/** One certificate to issue: its file stem and identity. */
export interface PlannedCertificate {
  readonly baseName: string;
  readonly profile: string;
  readonly identity: LeafIdentity;
}

/**
 * Splits SANs into IPs and DNS names: an IP as src/pki/ip.ts parses it (kubeadm's ParseIPSloppy),
 * else a DNS name (lower-case RFC 1123 subdomain, or `*.` and one: kubeadm's appendSANsToAltNames
 * rule). `IP:` and `DNS:` prefixes (openssl's and easy-rsa's spelling) are accepted; e-mail and URI
 * SANs are refused, as certs sign refuses them; anything else is refused by name.
 */
export function parseSans(values: readonly string[]): AltNames {
  const dnsNames: string[] = [];
  const ips: Bytes[] = [];
  for (const raw of values) {
    const value = raw.trim();
    const prefix = /^(ip|dns|email|uri):/i.exec(value)?.[1]?.toLowerCase();
    const body = prefix ? value.slice(prefix.length + 1) : value;
    if (prefix === "email" || prefix === "uri" || (!prefix && (/^[^@\s]+@[^@\s]+$/.test(body) || /^[a-z][a-z0-9+.-]*:\/\//i.test(body)))) {
      throw invalidInput(`--san "${value}" is an e-mail or URI name; kpki certificates carry only DNS and IP SANs, as kubeadm's`);
    }
    const ip = prefix === "dns" ? undefined : parseIp(body);
    if (ip) {
      ips.push(ip);
    } else if (prefix !== "ip" && (isDns1123Subdomain(body) || isWildcardDns1123Subdomain(body))) {
      dnsNames.push(body);
    } else {
      throw invalidInput(`--san "${value}" is neither an IP address nor a DNS name (a lower-case RFC 1123 subdomain, optionally starting with "*.")`);
    }
  }
  return { dnsNames, ips };
}

const LOOPBACKS = [parseIp("127.0.0.1") as Bytes, parseIp("::1") as Bytes];

/**
 * kubeadm's etcd server/peer names (sans.ts etcdAltNames: node name, localhost, 127.0.0.1, ::1),
 * with the member name in place of the node name when it is a DNS name: etcd dials its own client
 * URL (the gRPC gateway) and its peers with these certificates.
 */
function etcdSans(memberName: string, extra: AltNames): AltNames {
  return {
    dnsNames: [...(isDns1123Subdomain(memberName) ? [memberName] : []), "localhost", ...extra.dnsNames],
    ips: [...LOOPBACKS, ...extra.ips],
  };
}

/**
 * kubeadm's API server names (sans.ts apiServerAltNames) for this service range and cluster
 * domain: kubernetes, kubernetes.default, kubernetes.default.svc, kubernetes.default.svc.<domain>
 * and the first address of the service range; then the given SANs. The service CIDR and domain are
 * checked by resolveClusterConfig with kubeadm's messages.
 */
export function kubeApiserverSans(serviceCidr: string, clusterDomain: string, extra: AltNames): AltNames {
  // Only serviceSubnet and dnsDomain matter here: the node name is "kubernetes" (deduplicated away),
  // the advertise address the service VIP (likewise), no endpoint and no extra SANs.
  const cfg = resolveClusterConfig(undefined, { serviceCidr, dnsDomain: clusterDomain, nodeName: "kubernetes", certSans: [] }, { hostname: "kubernetes", defaultAddress: "0.0.0.0" });
  const vip = apiServerVirtualIp(cfg.serviceSubnet);
  const names = apiServerAltNames({ ...cfg, advertiseAddress: vip, controlPlaneEndpoint: undefined });
  return { dnsNames: [...names.dnsNames, ...extra.dnsNames], ips: [...names.ips, ...extra.ips] };
}

/** Refuses serverAuth without a SAN (as signCsr does) and no usage at all. */
function checkIdentity(id: LeafIdentity, what: string): LeafIdentity {
  if (!id.extKeyUsages.length) throw invalidInput("must specify at least one ExtKeyUsage");
  if (id.extKeyUsages.includes("serverAuth") && !id.dnsNames.length && !id.ips.length) {
    throw invalidInput(`${what} is a serving certificate (serverAuth) but names no DNS name or IP: give --san (TLS clients check the SANs, not the CN)`);
  }
  const sans = dedupeAltNames(id);
  return { ...id, dnsNames: sans.dnsNames, ips: sans.ips };
}

/** The certificates `certs create` issues for a request, checked; nothing is generated yet. */
export function planCreate(req: CreateRequest): PlannedCertificate[] {
  if (!req.profile && !req.usages?.length) throw usageError("give --profile or --usage");
  if (req.profile && req.usages?.length) throw usageError("--profile and --usage are exclusive: a profile sets the usages");
  if (req.commonName.trim() === "") throw invalidInput("the common name is empty (kubeadm requires one)");
  const extra = parseSans(req.sans);
  const base = { commonName: req.commonName, organizations: req.organizations };
  const profile = req.profile;
  if (!profile) {
    const usages = [...new Set(req.usages)];
    return [{ baseName: req.name, profile: usages.join("+"), identity: checkIdentity({ ...base, ...extra, extKeyUsages: usages }, req.name) }];
  }
  if (profile === "etcd-member") {
    return ETCD_MEMBER_PAIRS.map(({ suffix, profile: p }) => {
      const sans = p === "etcd-client" ? extra : etcdSans(req.name, extra);
      return { baseName: `${req.name}-${suffix}`, profile: p, identity: checkIdentity({ ...base, ...sans, extKeyUsages: PROFILE_USAGES[p] }, `${req.name}-${suffix}`) };
    });
  }
  const sans =
    profile === "kube-apiserver" ? kubeApiserverSans(req.serviceCidr, req.clusterDomain, extra)
    : profile === "etcd-server" || profile === "etcd-peer" ? etcdSans(req.commonName, extra)
    : extra;
  return [{ baseName: req.name, profile, identity: checkIdentity({ ...base, ...sans, extKeyUsages: PROFILE_USAGES[profile] }, req.name) }];
}

/** The defaults of the kube-apiserver profile (kubeadm's). */
export const CREATE_DEFAULTS = { serviceCidr: DEFAULTS.serviceSubnet, clusterDomain: DEFAULTS.dnsDomain, validity: "8760h" } as const;
