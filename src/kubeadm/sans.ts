import type { Bytes } from "../pki/der.js";
import { isDns1123Subdomain, isWildcardDns1123Subdomain } from "../pki/dns.js";
import { formatIp, indexedIp, parseCidr, parseIp } from "../pki/ip.js";
import { parseHostPort, type ClusterConfig } from "./config.js";
import type { SanProfile } from "./catalogue.js";

/** DNS and IP SANs before deduplication. */
export interface AltNames {
  readonly dnsNames: readonly string[];
  readonly ips: readonly Bytes[];
}

/** The API server's service VIP: the first address of the first service CIDR (GetAPIServerVirtualIP). */
export function apiServerVirtualIp(serviceSubnet: string): Bytes {
  const first = serviceSubnet.split(",")[0]?.trim() ?? "";
  const cidr = parseCidr(first);
  const ip = cidr && indexedIp(cidr, 1);
  if (!ip) throw new Error(`unable to get first IP address from the given CIDR (${first})`);
  return ip;
}

function appendSans(names: AltNames, sans: readonly string[]): AltNames {
  const dnsNames = [...names.dnsNames];
  const ips = [...names.ips];
  for (const san of sans) {
    const ip = parseIp(san);
    if (ip) ips.push(ip);
    else if (isDns1123Subdomain(san) || isWildcardDns1123Subdomain(san)) dnsNames.push(san);
    // Anything else was rejected when the config was resolved.
  }
  return { dnsNames, ips };
}

/** GetAPIServerAltNames (pki_helpers.go): node name, kubernetes.default.svc names, VIP, advertise address, endpoint, certSANs. */
export function apiServerAltNames(cfg: ClusterConfig): AltNames {
  let names: AltNames = {
    dnsNames: [
      cfg.nodeName,
      "kubernetes",
      "kubernetes.default",
      "kubernetes.default.svc",
      `kubernetes.default.svc.${cfg.dnsDomain}`,
    ],
    ips: [apiServerVirtualIp(cfg.serviceSubnet), cfg.advertiseAddress],
  };
  if (cfg.controlPlaneEndpoint) {
    const { host } = parseHostPort(cfg.controlPlaneEndpoint);
    const ip = parseIp(host);
    names = ip ? { dnsNames: names.dnsNames, ips: [...names.ips, ip] } : { dnsNames: [...names.dnsNames, host], ips: names.ips };
  }
  return appendSans(names, cfg.apiServerCertSans);
}

const LOOPBACK_V4 = parseIp("127.0.0.1") as Bytes;
const LOOPBACK_V6 = parseIp("::1") as Bytes;

/** getAltNames for etcd server/peer: node name, localhost, advertise address, loopbacks, then the local etcd SANs. */
export function etcdAltNames(cfg: ClusterConfig, which: "server" | "peer"): AltNames {
  const base: AltNames = {
    dnsNames: [cfg.nodeName, "localhost"],
    ips: [cfg.advertiseAddress, LOOPBACK_V4, LOOPBACK_V6],
  };
  if (cfg.etcd.external) return base;
  return appendSans(base, which === "server" ? cfg.etcd.serverCertSans : cfg.etcd.peerCertSans);
}

/** RemoveDuplicateAltNames: DNS names deduplicated and sorted (byte order); IPs deduplicated by text, first kept. */
export function dedupeAltNames(names: AltNames): AltNames {
  const dnsNames = [...new Set(names.dnsNames)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const seen = new Set<string>();
  const ips: Bytes[] = [];
  for (const ip of names.ips) {
    const key = formatIp(ip);
    if (seen.has(key)) continue;
    seen.add(key);
    ips.push(ip);
  }
  return { dnsNames, ips };
}

export function altNamesFor(profile: SanProfile, cfg: ClusterConfig): AltNames {
  switch (profile) {
    case "apiserver":
      return apiServerAltNames(cfg);
    case "etcd-server":
      return etcdAltNames(cfg, "server");
    case "etcd-peer":
      return etcdAltNames(cfg, "peer");
  }
}
