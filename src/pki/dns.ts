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

/**
 * A DNS name as names are compared: ASCII only, A-Z lower-cased, one trailing dot removed.
 * Undefined for a name with any non-ASCII character: Unicode case mapping would otherwise turn
 * some into ASCII names (U+212A KELVIN SIGN lower-cases to "k", U+0130 to "i̇").
 */
export function asciiDnsName(name: string): string | undefined {
  if (!/^[\x00-\x7f]*$/.test(name)) return undefined;
  const lower = /[A-Z]/.test(name) ? name.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32)) : name;
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/**
 * Whether a host name's last label is a number (all digits, or 0x and hex digits): the WHATWG
 * URL parser then reads the whole host as an IPv4 address ("ends in a number"), as inet_aton
 * does, so such a name is an address, not a DNS name (10.0.0.6, 0x0a000006, 167772166).
 */
export function endsInNumber(name: string): boolean {
  const labels = name.split(".");
  if (labels.length > 1 && labels[labels.length - 1] === "") labels.pop();
  const last = labels[labels.length - 1] ?? "";
  return /^[0-9]+$/.test(last) || /^0x[0-9a-f]*$/i.test(last);
}
