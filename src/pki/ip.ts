import type { Bytes } from "./der.js";
/**
 * IP addresses as Go's net package handles them: kubeadm parses with
 * ParseIPSloppy, prints with IP.String(), and encodes IPv4 SANs as 4 bytes.
 */

/** A parsed address: 4 bytes for IPv4 (also for IPv4-mapped IPv6), 16 for IPv6. */
export type IpBytes = Bytes;

function parseIpv4(text: string, sloppy: boolean): Bytes | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? "";
    if (!/^[0-9]{1,3}$/.test(p)) return undefined;
    // Go's strict parser rejects leading zeros; ParseIPSloppy reads them as decimal.
    if (!sloppy && p.length > 1 && p.startsWith("0")) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIpv6(text: string, sloppy: boolean): Bytes | undefined {
  if (text.includes("%")) return undefined; // zones are not valid in SANs
  let head = text;
  let tail4: Bytes | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    tail4 = parseIpv4(text.slice(lastColon + 1), sloppy);
    if (!tail4) return undefined;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const toGroups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const groups = s.split(":");
    const out: number[] = [];
    for (const g of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = toGroups(halves[0] ?? "");
  const right = halves.length === 2 ? toGroups(halves[1] ?? "") : [];
  if (!left || !right) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - left.length - right.length;
    if (missing < 1) return undefined;
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    groups = left;
  }
  if (groups.length !== 8) return undefined;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  if (tail4) out.set(tail4, 12);
  return out;
}

const isV4Mapped = (b: Bytes): boolean =>
  b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;

/** Collapses IPv4-mapped IPv6 to 4 bytes, as Go's To4() does before encoding a SAN. */
export function normalizeIp(bytes: Bytes): IpBytes {
  return isV4Mapped(bytes) ? bytes.slice(12) : bytes;
}

/**
 * Parses an IP address; undefined when `text` is not one. `sloppy` accepts
 * IPv4 octets with leading zeros, like k8s.io/utils/net ParseIPSloppy.
 */
export function parseIp(text: string, { sloppy = true }: { sloppy?: boolean } = {}): IpBytes | undefined {
  const raw = text.includes(":") ? parseIpv6(text, sloppy) : parseIpv4(text, sloppy);
  return raw ? normalizeIp(raw) : undefined;
}

/** Go's net.IP.String(): dotted IPv4; IPv6 lower-case with the longest run (>= 2) of zero groups as `::`. */
export function formatIp(bytes: Bytes): string {
  const b = normalizeIp(bytes);
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) return `?${Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) return groups.map((g) => g.toString(16)).join(":");
  const left = groups.slice(0, bestStart).map((g) => g.toString(16)).join(":");
  const right = groups.slice(bestStart + bestLen).map((g) => g.toString(16)).join(":");
  return `${left}::${right}`;
}

/** A parsed CIDR: the masked network address and the prefix length. */
export interface Cidr {
  readonly network: IpBytes;
  readonly prefix: number;
}

/** Parses `a.b.c.d/n` or `v6/n` (sloppy, like ParseCIDRSloppy); the address is masked to the network. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const addrText = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(prefixText)) return undefined;
  const raw = addrText.includes(":") ? parseIpv6(addrText, true) : parseIpv4(addrText, true);
  if (!raw) return undefined;
  const prefix = Number(prefixText);
  if (prefix > raw.length * 8) return undefined;
  const network = raw.slice();
  for (let bit = prefix; bit < network.length * 8; bit++) {
    const i = bit >> 3;
    network[i] = (network[i] ?? 0) & ~(0x80 >> (bit & 7));
  }
  return { network, prefix };
}

/** The address at `index` inside the CIDR (k8s.io/utils/net GetIndexedIP); undefined if outside it. */
export function indexedIp(cidr: Cidr, index: number): IpBytes | undefined {
  const size = BigInt(cidr.network.length * 8 - cidr.prefix);
  if (BigInt(index) >= 1n << size) return undefined;
  const out = cidr.network.slice();
  let carry = index;
  for (let i = out.length - 1; i >= 0 && carry > 0; i--) {
    const sum = (out[i] ?? 0) + (carry & 0xff);
    out[i] = sum & 0xff;
    carry = Math.floor(carry / 256) + (sum >> 8);
  }
  return out;
}

/**
 * The IPv4 addresses an IPv6 address carries, by the standard embeddings: IPv4-compatible
 * (::a.b.c.d, RFC 4291 §2.5.5.1), NAT64 well-known prefix (64:ff9b::/96, RFC 6052), 6to4
 * (2002:AABB:CCDD::/48, RFC 3056) and Teredo (2001:0::/32, server and obfuscated client, RFC
 * 4380). IPv4-mapped addresses are already 4 bytes after normalizeIp. Used to judge such an
 * address as its IPv4 as well, since a translator or tunnel delivers it there.
 */
export function embeddedIpv4s(ip: IpBytes): { readonly how: string; readonly ipv4: IpBytes }[] {
  if (ip.length !== 16) return [];
  const out: { how: string; ipv4: IpBytes }[] = [];
  const zeros = (from: number, to: number): boolean => ip.subarray(from, to).every((b) => b === 0);
  if (zeros(0, 12) && !zeros(12, 16)) out.push({ how: "IPv4-compatible", ipv4: ip.slice(12) });
  if (ip[0] === 0x00 && ip[1] === 0x64 && ip[2] === 0xff && ip[3] === 0x9b && zeros(4, 12)) out.push({ how: "NAT64", ipv4: ip.slice(12) });
  if (ip[0] === 0x20 && ip[1] === 0x02) out.push({ how: "6to4", ipv4: ip.slice(2, 6) });
  if (ip[0] === 0x20 && ip[1] === 0x01 && ip[2] === 0x00 && ip[3] === 0x00) {
    out.push({ how: "Teredo server", ipv4: ip.slice(4, 8) });
    out.push({ how: "Teredo client", ipv4: ip.slice(12).map((b) => b ^ 0xff) });
  }
  return out;
}
