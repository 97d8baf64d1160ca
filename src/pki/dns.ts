/**
 * DNS name rules from k8s.io/apimachinery validation, which kubeadm applies to
 * SANs (appendSANsToAltNames) and to the service DNS domain.
 */

const LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const SUBDOMAIN = new RegExp(`^${LABEL}(\\.${LABEL})*$`);

/** RFC 1123 subdomain, at most 253 characters (IsDNS1123Subdomain). */
export function isDns1123Subdomain(name: string): boolean {
  return name.length > 0 && name.length <= 253 && SUBDOMAIN.test(name);
}

/** `*.` followed by an RFC 1123 subdomain (IsWildcardDNS1123Subdomain). */
export function isWildcardDns1123Subdomain(name: string): boolean {
  return name.startsWith("*.") && name.length <= 253 && SUBDOMAIN.test(name.slice(2));
}

/** True when `pattern` (a DNS SAN, maybe `*.x`) covers `host`, as Go's VerifyHostname compares them. */
export function dnsNameMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase().replace(/\.$/, "");
  const h = host.toLowerCase().replace(/\.$/, "");
  if (!p.startsWith("*.")) return p === h;
  const dot = h.indexOf(".");
  return dot > 0 && h.slice(dot) === p.slice(1);
}
