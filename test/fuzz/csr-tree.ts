/**
 * PKCS #10 knowledge for the mutator (RFC 2986 §4): where the subject, key, attributes,
 * extensionRequest, SAN extension and GeneralNames sit in a CertificationRequestInfo tree,
 * readable labels for paths, builders, and the values a hostile node would inject.
 *
 *   CertificationRequestInfo ::= SEQUENCE { version INTEGER, subject Name,
 *       subjectPKInfo SubjectPublicKeyInfo, attributes [0] IMPLICIT SET OF Attribute }
 *   Attribute ::= SEQUENCE { type OID, values SET OF ANY }            -- extensionRequest: PKCS #9 §5.4.2
 *   Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }  -- RFC 5280 §4.1
 *   GeneralName ::= CHOICE { otherName [0], rfc822Name [1], dNSName [2], ..., uniformResourceIdentifier [6], iPAddress [7], registeredID [8] }
 */
import { expand, findAll, isOid, oidNode, prim, seq, set, TAGS, utf8, type Found, type Node, type Path } from "./der-tree.js";

export const OIDS = {
  commonName: "2.5.4.3",
  serialNumber: "2.5.4.5",
  country: "2.5.4.6",
  organization: "2.5.4.10",
  organizationalUnit: "2.5.4.11",
  x500UniqueIdentifier: "2.5.4.45",
  emailAddress: "1.2.840.113549.1.9.1",
  challengePassword: "1.2.840.113549.1.9.7",
  extensionRequest: "1.2.840.113549.1.9.14",
  msExtensionRequest: "1.3.6.1.4.1.311.2.1.14",
  userId: "0.9.2342.19200300.100.1.1",
  domainComponent: "0.9.2342.19200300.100.1.25",
  subjectAltName: "2.5.29.17",
  /** The obsolete subjectAltName OID of X.509 v3 drafts. */
  subjectAltNameObsolete: "2.5.29.7",
  issuerAltName: "2.5.29.18",
  keyUsage: "2.5.29.15",
  basicConstraints: "2.5.29.19",
  nameConstraints: "2.5.29.30",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

/** GeneralName tags (RFC 5280 §4.2.1.6), IMPLICIT: primitive except otherName [0] and directoryName [4]. */
export const GN = { otherName: 0xa0, email: 0x81, dns: 0x82, directoryName: 0xa4, uri: 0x86, ip: 0x87, registeredId: 0x88 } as const;

/** The node every seed describes. */
export const NODE = {
  commonName: "system:node:n1",
  organization: "system:nodes",
  dnsNames: ["n1", "n1.int.example.com"],
  ips: ["10.0.0.11", "fd00::11"],
} as const;

/** Values a hostile kubelet would like to be certified for. */
export const EVIL = {
  dnsNames: ["kubernetes.default.svc.cluster.local", "kubernetes", "n2", "n10", "*.n1", "localhost", "n1.attacker.example"],
  /** 10.0.0.12 is node n2's; 10.96.0.1 the kubernetes service; 192.0.2.100 an API server address. */
  ips: ["10.0.0.12", "10.96.0.1", "192.0.2.100", "127.0.0.1"],
  commonNames: ["system:node:n2", "system:node:n10", "system:kube-controller-manager", "system:node:"],
  organizations: ["system:masters", "system:node", "system:authenticated"],
  /** IPv4 addresses put into 16-byte forms (and 10.0.0.11, the node's own). */
  embeddedIpv4: ["10.0.0.11", "10.0.0.12", "10.96.0.1", "127.0.0.1", "169.254.169.254"],
  /** IP literals written as dNSName text. */
  ipLiterals: ["10.0.0.12", "10.0.0.11", "10.0.0.6", "10.96.0.1", "::ffff:10.0.0.12", "010.000.000.011", "fd00::12", "127.1"],
} as const;

// ---------------------------------------------------------------------------------------------
// IP addresses

export function ipv4(text: string): Uint8Array<ArrayBuffer> {
  const parts = text.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new RangeError(`not IPv4: ${text}`);
  return Uint8Array.from(parts);
}

/** IPv6 text (with `::` and an optional dotted IPv4 tail) → 16 bytes. */
export function ipv6(text: string): Uint8Array<ArrayBuffer> {
  let head = text;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    const v4 = ipv4(text.slice(lastColon + 1));
    tail = [((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0)];
    head = text.slice(0, lastColon + 1); // "::ffff:" → "::ffff"; "::" stays
    if (!head.endsWith("::")) head = head.slice(0, -1);
  }
  const groups = (s: string): number[] => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const halves = head.split("::");
  const left = groups(halves[0] ?? "");
  const right = [...(halves.length > 1 ? groups(halves[1] ?? "") : []), ...tail];
  const all = halves.length > 1 ? [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right] : [...left, ...tail];
  if (all.length !== 8 || all.some((g) => !(g >= 0 && g <= 0xffff))) throw new RangeError(`not IPv6: ${text}`);
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

export const ipBytes = (text: string): Uint8Array<ArrayBuffer> => (text.includes(":") ? ipv6(text) : ipv4(text));

/** 16-byte encodings of an IPv4 address: RFC 4291 §2.5.5 (mapped, compatible), RFC 6052 (NAT64), RFC 3056 (6to4). */
export const IPV4_IN_IPV6 = {
  mapped: (v4: Uint8Array): Uint8Array<ArrayBuffer> => Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4]),
  compatible: (v4: Uint8Array): Uint8Array<ArrayBuffer> => Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...v4]),
  nat64: (v4: Uint8Array): Uint8Array<ArrayBuffer> => Uint8Array.from([0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, ...v4]),
  sixToFour: (v4: Uint8Array): Uint8Array<ArrayBuffer> => Uint8Array.from([0x20, 0x02, ...v4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
} as const;

// ---------------------------------------------------------------------------------------------
// Builders

export const dnsName = (text: string | Uint8Array): Node => prim(GN.dns, typeof text === "string" ? utf8(text) : text);
export const ipName = (bytes: Uint8Array): Node => prim(GN.ip, bytes);

/** An Extension whose OCTET STRING is already opened (children, not content). */
export function extension(oid: string, value: Node, critical?: Node): Node {
  return seq(oidNode(oid), ...(critical ? [critical] : []), { tag: TAGS.octetString, children: [value] });
}

export const sanExtension = (names: Node[], critical?: Node): Node => extension(OIDS.subjectAltName, seq(...names), critical);

export const extensionRequest = (extensions: Node[]): Node => seq(oidNode(OIDS.extensionRequest), set(seq(...extensions)));

export const attributeTypeAndValue = (oid: string, tag: number, value: Uint8Array): Node => seq(oidNode(oid), prim(tag, value));

/** One attribute with a text value: a PrintableString when Go's marshaller would pick it, else a UTF8String. */
export function textAtv(oid: string, text: string): Node {
  const printable = /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(text);
  return attributeTypeAndValue(oid, printable ? TAGS.printableString : TAGS.utf8String, utf8(text));
}

/** One RDN holding one attribute (see textAtv). */
export function rdn(oid: string, text: string): Node {
  return set(textAtv(oid, text));
}

// ---------------------------------------------------------------------------------------------
// Locators (lenient: undefined when a mutation has moved things)

export const subjectOf = (info: Node): Node | undefined => info.children?.[1];
export const spkiOf = (info: Node): Node | undefined => info.children?.[2];
export const attributesOf = (info: Node): Node | undefined => info.children?.find((c, i) => i >= 3 && c.tag === 0xa0) ?? info.children?.[3];

/** Every AttributeTypeAndValue in the subject: SEQUENCE { type, value } inside an RDN SET. */
export function atvsOf(info: Node): Found[] {
  const subject = subjectOf(info);
  if (!subject?.children) return [];
  return findAll(info, (n, p) => p.length === 3 && p[0] === 1 && n.children !== undefined && n.children[0]?.tag === TAGS.oid);
}

/** The subject ATVs whose type is `oid` (DER-encoded exactly). */
export const atvsOfType = (info: Node, oid: string): Found[] => atvsOf(info).filter((f) => isOid(f.node.children?.[0], oid));

/** extensionRequest attributes (by exact OID). */
export function extensionRequestsOf(info: Node): Node[] {
  return attributesOf(info)?.children?.filter((a) => isOid(a.children?.[0], OIDS.extensionRequest)) ?? [];
}

/** The Extensions SEQUENCE of the first extensionRequest attribute's first value. */
export const extensionsOf = (info: Node): Node | undefined => extensionRequestsOf(info)[0]?.children?.[1]?.children?.[0];

/** Every Extension node (any extensionRequest, any value) whose OID is `oid`. */
export function extensionsWithOid(info: Node, oid: string): Node[] {
  const out: Node[] = [];
  for (const attr of extensionRequestsOf(info)) {
    for (const value of attr.children?.[1]?.children ?? []) {
      for (const ext of value.children ?? []) if (isOid(ext.children?.[0], oid)) out.push(ext);
    }
  }
  return out;
}

/** The extnValue OCTET STRING of an Extension (its last OCTET STRING child). */
export const extnValueOf = (ext: Node): Node | undefined => [...(ext.children ?? [])].reverse().find((c) => c.tag === TAGS.octetString);

/** The GeneralNames SEQUENCE of the first SAN extension, when its value is opened. */
export function generalNamesOf(info: Node): Node | undefined {
  const san = extensionsWithOid(info, OIDS.subjectAltName)[0];
  const value = san ? extnValueOf(san) : undefined;
  return value?.children?.[0];
}

/** Opens every extnValue OCTET STRING in the extensionRequest attributes (see der-tree `expand`), in place. */
export function openExtensionValues(info: Node): Node {
  for (const attr of extensionRequestsOf(info)) {
    for (const value of attr.children?.[1]?.children ?? []) {
      for (const ext of value.children ?? []) {
        const v = extnValueOf(ext);
        if (v) expand(v);
      }
    }
  }
  return info;
}

// ---------------------------------------------------------------------------------------------
// Labels

type State = "info" | "subject" | "rdn" | "atv" | "spki" | "algid" | "attrs" | "attr" | "values" | "exts" | "ext" | "extvalue" | "gns" | "any";

function step(state: State, node: Node, i: number): [string, State] {
  switch (state) {
    case "info":
      return i === 0 ? ["version", "any"] : i === 1 ? ["subject", "subject"] : i === 2 ? ["spki", "spki"] : i === 3 ? ["attrs", "attrs"] : [`info[${i}]`, "any"];
    case "subject":
      return [`rdn[${i}]`, "rdn"];
    case "rdn":
      return [`atv[${i}]`, "atv"];
    case "atv":
      return i === 0 ? ["type", "any"] : i === 1 ? ["value", "any"] : [`[${i}]`, "any"];
    case "spki":
      return i === 0 ? ["alg", "algid"] : i === 1 ? ["key", "any"] : [`[${i}]`, "any"];
    case "algid":
      return i === 0 ? ["oid", "any"] : [`params[${i}]`, "any"];
    case "attrs":
      return [`attr[${i}]`, "attr"];
    case "attr":
      return i === 0 ? ["type", "any"] : i === 1 ? ["values", "values"] : [`[${i}]`, "any"];
    case "values":
      return [`v[${i}]`, "exts"];
    case "exts":
      return [`ext[${i}]`, "ext"];
    case "ext":
      if (node.tag === TAGS.oid) return ["oid", "any"];
      if (node.tag === TAGS.boolean) return ["critical", "any"];
      if (node.tag === TAGS.octetString) return ["value", "extvalue"];
      return [`[${i}]`, "any"];
    case "extvalue":
      return [i === 0 ? "names" : `names[${i}]`, "gns"];
    case "gns":
      return [`gn[${i}]`, "any"];
    case "any":
      return [`[${i}]`, "any"];
  }
}

/** A readable label for a path in a CertificationRequestInfo, e.g. "subject.rdn[1].atv[0].value". */
export function labelOf(info: Node, path: Path): string {
  if (path.length === 0) return "info";
  let state: State = "info";
  let node: Node | undefined = info;
  const parts: string[] = [];
  for (const i of path) {
    node = node?.children?.[i];
    if (!node) {
      parts.push(`[${i}]`);
      break;
    }
    const [name, next] = step(state, node, i);
    parts.push(name);
    state = next;
  }
  return parts.join(".").replace(/\.\[/g, "[");
}
