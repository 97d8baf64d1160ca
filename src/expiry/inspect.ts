import { readRequestDer } from "../approver/request.js";
import { CAS, LEAVES, KUBECONFIGS } from "../kubeadm/catalogue.js";
import { isSignedBy, parseCertificateDer, type ParsedCertificate } from "../pki/cert.js";
import { parseCsrDer } from "../pki/csr.js";
import { bytesEqual, bytesToHex, children, decodeOne, readOid, TAG, type Bytes, type DerNode } from "../pki/der.js";
import { EXT_KEY_USAGE_OIDS, EXTENSION_OIDS, EXTENSION_REQUEST_OID, KEY_USAGE_BITS, readGeneralNames } from "../pki/extensions.js";
import { formatIp } from "../pki/ip.js";
import { KEY_OIDS, NAMED_CURVES } from "../pki/keys.js";
import { SIGNATURE_ALGORITHMS } from "../pki/signature.js";
import { checkRows, type FoundRow } from "./inventory.js";

/**
 * What `kpki inspect` shows of certificates, chains and CSRs. Pure: the caller reads the files
 * (src/expiry/inventory.ts rowsFromFile / rowsFromKubeconfig) and passes the time in.
 * Text forms follow `openssl x509 -noout -subject -issuer -serial -dates -fingerprint -sha256
 * -nameopt sep_comma_plus_space,sname,utf8`, so the fields can be compared with openssl's.
 */

// ---------------------------------------------------------------------------------------------
// Distinguished names, all attributes (src/pki/name.ts reads only CN and O).

/** openssl's short names of the attribute types (crypto/objects/objects.txt). */
const ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  "2.5.4.3": "CN",
  "2.5.4.4": "SN",
  "2.5.4.5": "serialNumber",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.9": "street",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.12": "title",
  "2.5.4.17": "postalCode",
  "2.5.4.42": "GN",
  "1.2.840.113549.1.9.1": "emailAddress",
  "0.9.2342.19200300.100.1.1": "UID",
  "0.9.2342.19200300.100.1.25": "DC",
};

function stringValue(node: DerNode): string {
  const c = node.content;
  switch (node.tag) {
    case 0x1e: {
      // BMPString: UTF-16BE
      let out = "";
      for (let i = 0; i + 1 < c.length; i += 2) out += String.fromCharCode(((c[i] ?? 0) << 8) | (c[i + 1] ?? 0));
      return out;
    }
    case 0x14: // TeletexString, read as Latin-1 as openssl does
      return String.fromCharCode(...c);
    default:
      return new TextDecoder().decode(c);
  }
}

/** A DER Name as `O=a + O=b, CN=c`: RDNs in encoded order, `, ` between RDNs, ` + ` inside one. */
export function formatDistinguishedName(name: Bytes): string {
  const rdns = children(decodeOne(name)).map((rdn) =>
    children(rdn)
      .map((atv) => {
        const [type, value] = children(atv);
        if (!type || !value) return "";
        const oid = readOid(type);
        return `${ATTRIBUTE_NAMES[oid] ?? oid}=${stringValue(value)}`;
      })
      .join(" + "),
  );
  return rdns.join(", ");
}

// ---------------------------------------------------------------------------------------------
// Keys and extensions.

/** A public key: its algorithm, size in bits and, for EC keys, the curve. */
export interface PublicKeyFacts {
  /** RSA, ECDSA, Ed25519, or the algorithm's OID. */
  readonly algorithm: string;
  readonly size: number | null;
  readonly curve: string | null;
}

const CURVE_BITS: Readonly<Record<string, number>> = { "P-256": 256, "P-384": 384, "P-521": 521 };

/** The algorithm, size and curve of a SubjectPublicKeyInfo. */
export function publicKeyFacts(spki: Bytes): PublicKeyFacts {
  const [algNode, bitsNode] = children(decodeOne(spki));
  const [oidNode, params] = algNode ? children(algNode) : [];
  const oid = oidNode ? readOid(oidNode) : "";
  const bits = bitsNode?.content.subarray(1) ?? new Uint8Array();
  if (oid === KEY_OIDS.rsaEncryption) {
    const modulus = children(decodeOne(bits as Bytes))[0]?.content ?? new Uint8Array();
    let start = 0;
    while (start < modulus.length - 1 && modulus[start] === 0) start++;
    const top = modulus[start] ?? 0;
    return { algorithm: "RSA", size: (modulus.length - start - 1) * 8 + (top === 0 ? 0 : Math.floor(Math.log2(top)) + 1), curve: null };
  }
  if (oid === KEY_OIDS.ecPublicKey) {
    const curveOid = params?.tag === TAG.oid ? readOid(params) : "";
    const curve = NAMED_CURVES[curveOid] ?? (curveOid || null);
    return { algorithm: "ECDSA", size: curve !== null ? CURVE_BITS[curve] ?? null : null, curve };
  }
  if (oid === KEY_OIDS.ed25519) return { algorithm: "Ed25519", size: 256, curve: null };
  return { algorithm: oid, size: null, curve: null };
}

interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Bytes;
}

/** The Extensions SEQUENCE as a list. */
function readExtensionList(node: DerNode): Extension[] {
  return children(node).map((ext) => {
    const fields = children(ext);
    const value = fields[fields.length - 1];
    return {
      oid: fields[0] ? readOid(fields[0]) : "",
      critical: fields.length === 3 && fields[1]?.tag === TAG.boolean && fields[1].content[0] !== 0,
      value: (value?.content ?? new Uint8Array()) as Bytes,
    };
  });
}

/** The extensions of a certificate's TBSCertificate ([3] EXPLICIT). */
function certificateExtensions(tbsDer: Bytes): Extension[] {
  const node = children(decodeOne(tbsDer)).find((n) => n.tag === 0xa3);
  const inner = node ? children(node)[0] : undefined;
  return inner ? readExtensionList(inner) : [];
}

/** The extensions requested in a CSR's extensionRequest attribute(s). */
function requestedExtensions(csrDer: Bytes): Extension[] {
  const info = children(decodeOne(csrDer))[0];
  const attrs = info ? children(info).find((n) => n.tag === 0xa0) : undefined;
  const out: Extension[] = [];
  for (const attr of attrs ? children(attrs) : []) {
    const [type, values] = children(attr);
    if (!type || !values || readOid(type) !== EXTENSION_REQUEST_OID) continue;
    for (const v of children(values)) out.push(...readExtensionList(v));
  }
  return out;
}

/** Names of the extensions kpki shows; the rest appear as OIDs. */
const EXTENSION_NAMES: Readonly<Record<string, string>> = {
  [EXTENSION_OIDS.subjectKeyIdentifier]: "subjectKeyIdentifier",
  [EXTENSION_OIDS.keyUsage]: "keyUsage",
  [EXTENSION_OIDS.subjectAltName]: "subjectAltName",
  [EXTENSION_OIDS.basicConstraints]: "basicConstraints",
  [EXTENSION_OIDS.authorityKeyIdentifier]: "authorityKeyIdentifier",
  [EXTENSION_OIDS.extKeyUsage]: "extKeyUsage",
};

/** The names of GeneralName kinds other than DNS, IP, email and URI, by tag (RFC 5280 §4.2.1.6). */
const OTHER_NAME_KINDS: Readonly<Record<number, string>> = { 0xa0: "otherName", 0xa3: "x400Address", 0xa4: "directoryName", 0xa5: "ediPartyName", 0x88: "registeredID" };

export interface SubjectAltNames {
  readonly dns: readonly string[];
  readonly ip: readonly string[];
  readonly email: readonly string[];
  readonly uri: readonly string[];
  /** The kinds of the other names (otherName, directoryName, registeredID, ...), one entry each. */
  readonly other: readonly string[];
}

export interface BasicConstraints {
  readonly ca: boolean;
  readonly pathLen: number | null;
}

/** What the usual extensions say; absent ones are empty or null. */
interface ExtensionFacts {
  readonly subjectAltNames: SubjectAltNames;
  readonly keyUsage: readonly string[];
  readonly extendedKeyUsage: readonly string[];
  readonly basicConstraints: BasicConstraints | null;
  readonly subjectKeyId: string | null;
  readonly authorityKeyId: string | null;
}

/** Bytes as openssl prints key identifiers and fingerprints: upper-case hex pairs joined by colons. */
export const colonHex = (bytes: Uint8Array): string => (bytesToHex(bytes).toUpperCase().match(/../g) ?? []).join(":");

function extensionFacts(exts: readonly Extension[]): ExtensionFacts {
  let subjectAltNames: SubjectAltNames = { dns: [], ip: [], email: [], uri: [], other: [] };
  let keyUsage: string[] = [];
  const extendedKeyUsage: string[] = [];
  let basicConstraints: BasicConstraints | null = null;
  let subjectKeyId: string | null = null;
  let authorityKeyId: string | null = null;
  for (const ext of exts) {
    switch (ext.oid) {
      case EXTENSION_OIDS.subjectAltName: {
        const g = readGeneralNames(ext.value);
        subjectAltNames = { dns: g.dnsNames, ip: g.ips.map(formatIp), email: g.emailAddresses, uri: g.uris, other: g.otherTags.map((t) => OTHER_NAME_KINDS[t] ?? `tag 0x${t.toString(16)}`) };
        break;
      }
      case EXTENSION_OIDS.keyUsage: {
        const bits = decodeOne(ext.value).content.subarray(1);
        keyUsage = Object.entries(KEY_USAGE_BITS)
          .filter(([, bit]) => ((bits[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1)
          .map(([name]) => name);
        break;
      }
      case EXTENSION_OIDS.extKeyUsage:
        for (const node of children(decodeOne(ext.value))) {
          const o = readOid(node);
          extendedKeyUsage.push(Object.entries(EXT_KEY_USAGE_OIDS).find(([, v]) => v === o)?.[0] ?? o);
        }
        break;
      case EXTENSION_OIDS.basicConstraints: {
        let ca = false;
        let pathLen: number | null = null;
        for (const n of children(decodeOne(ext.value))) {
          if (n.tag === TAG.boolean) ca = n.content[0] !== 0;
          if (n.tag === TAG.integer) pathLen = n.content.reduce((v, b) => v * 256 + b, 0);
        }
        basicConstraints = { ca, pathLen };
        break;
      }
      case EXTENSION_OIDS.subjectKeyIdentifier:
        subjectKeyId = colonHex(decodeOne(ext.value).content);
        break;
      case EXTENSION_OIDS.authorityKeyIdentifier: {
        const id = children(decodeOne(ext.value)).find((n) => n.tag === 0x80);
        authorityKeyId = id ? colonHex(id.content) : null;
        break;
      }
      default:
        break;
    }
  }
  return { subjectAltNames, keyUsage, extendedKeyUsage, basicConstraints, subjectKeyId, authorityKeyId };
}

// ---------------------------------------------------------------------------------------------
// kubeadm roles.

const ekuSuffix = (ekus: readonly string[]): string => {
  const parts = [...(ekus.includes("serverAuth") ? ["serving"] : []), ...(ekus.includes("clientAuth") ? ["client"] : [])];
  return parts.length ? ` (${parts.join(", ")})` : "";
};
const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && [...a].sort().join("\n") === [...b].sort().join("\n");

/**
 * The kubeadm catalogue entry a certificate matches (src/kubeadm/catalogue.ts), as
 * `kubeadm apiserver (serving)`, `kubeadm ca`, `kubeadm admin.conf (client)`: by subject CN and O,
 * issuer CN and extended key usages. etcd's server and peer certificates have the same subject
 * and usages; `path` (etcd/server.crt, etcd/peer.crt) tells them apart, else both are named.
 */
export function kubeadmRole(cert: ParsedCertificate, path = ""): string | undefined {
  const issuerCn = cert.issuer.commonName;
  if (cert.isCa) {
    const ca = CAS.find((c) => c.commonName === cert.commonName && issuerCn === c.commonName);
    return ca ? `kubeadm ${ca.name}` : undefined;
  }
  const caCn = (name: string): string | undefined => CAS.find((c) => c.name === name)?.commonName;
  const leaves = LEAVES.filter(
    (l) =>
      caCn(l.ca) === issuerCn &&
      (typeof l.commonName === "string" ? l.commonName === cert.commonName : true) &&
      sameSet(l.organizations, cert.organizations) &&
      sameSet(l.extKeyUsages, cert.extKeyUsages),
  );
  if (leaves.length) {
    const byPath = leaves.filter((l) => path.endsWith(`${l.baseName}.crt`) || path.endsWith(`${l.baseName}.pem`));
    const chosen = byPath.length ? byPath : leaves;
    return `kubeadm ${chosen.map((l) => l.name).join(" or ")}${ekuSuffix(cert.extKeyUsages)}`;
  }
  if (issuerCn !== caCn("ca") || !sameSet(cert.extKeyUsages, ["clientAuth"])) return undefined;
  const conf = KUBECONFIGS.find((k) =>
    typeof k.user === "string" ? k.user === cert.commonName && sameSet(k.organizations, cert.organizations) : cert.commonName.startsWith("system:node:") && sameSet(k.organizations, cert.organizations),
  );
  return conf ? `kubeadm ${conf.fileName}${ekuSuffix(cert.extKeyUsages)}` : undefined;
}

// ---------------------------------------------------------------------------------------------
// Certificates and chains.

/** How a certificate's signature was checked (see InspectedCertificate.verification). */
export type Verification = "next" | "self-signed" | "issuer found" | "unknown issuer" | "bad signature" | "not signed by next";

/** One certificate, every field `kpki inspect` shows (the JSON/YAML field names). */
export interface InspectedCertificate extends ExtensionFacts {
  /** Where it was read: a path, `path#2` for the second of a bundle, `FILE user NAME`, `HOST:PORT#1`. */
  readonly name: string;
  readonly chainPosition: number;
  readonly chainLength: number;
  readonly subject: string;
  readonly issuer: string;
  /** Upper-case hex, as openssl's `-serial`. */
  readonly serialNumber: string;
  /** RFC 3339, UTC. */
  readonly notBefore: string;
  readonly notAfter: string;
  /** Whole days from now to notAfter, rounded down (negative once expired). */
  readonly daysLeft: number;
  /** OK, EXPIRED, NOT YET VALID, or INVALID (a bad signature, a key that does not match). */
  readonly status: string;
  readonly publicKey: PublicKeyFacts;
  readonly signatureAlgorithm: string;
  /** SHA-256 of the DER, colon-separated upper-case hex (openssl's `-fingerprint -sha256`). */
  readonly sha256Fingerprint: string;
  /**
   * next: signed by the next certificate of its chain; self-signed; issuer found: signed by another
   * certificate read (named in signedBy: a kubeconfig's cluster CA, a --ca certificate); unknown
   * issuer: no certificate read has its issuer's name; bad signature: one has, and it did not sign
   * it; not signed by next: the next certificate of the chain is not its issuer.
   */
  readonly verification: Verification;
  readonly signedBy: string | null;
  /** The private key found with it (in the same file, beside it, in the kubeconfig) and whether it matches. */
  readonly privateKey: { readonly path: string; readonly status: string } | null;
  readonly kubeadmRole: string | null;
}

/** The certificates of one source (a file, a kubeconfig entry, a TLS server), in the order given. */
export interface InspectedChain {
  readonly source: string;
  /** Every certificate is signed by the next one and the last is self-signed or its issuer is not among them. */
  readonly verified: boolean;
  /** With --ca: the chain verifies and ends at (or is signed by) one of its certificates; null without. */
  readonly trusted: boolean | null;
  readonly problems: readonly string[];
  readonly certificates: readonly InspectedCertificate[];
}

const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, "Z");

/** The chain a row belongs to: its name without the `#N` of a bundle. */
const sourceOf = (row: FoundRow): string => row.name.replace(/#\d+(?= \(|$)/, "");

/**
 * Inspects rows read by rowsFromFile / rowsFromKubeconfig (or made from a TLS peer's chain): groups
 * them into chains by source, checks each certificate against the next (the last against itself or
 * any certificate read, and `anchors`), and whether a key found with it matches (checkRows).
 * Rows without a certificate are left to the caller.
 */
export async function inspectRows(rows: readonly FoundRow[], options: { now: Date; crypto: Crypto; anchors?: readonly ParsedCertificate[] }): Promise<InspectedChain[]> {
  const { now, crypto } = options;
  const anchors = options.anchors ?? [];
  const anchorRows: FoundRow[] = anchors.map((c, i) => ({ name: `--ca #${i + 1}`, path: "--ca", certificate: c }));
  const certRows = rows.filter((r): r is FoundRow & { certificate: ParsedCertificate } => r.certificate !== undefined);
  const checked = await checkRows([...certRows, ...anchorRows], now, {}, crypto);
  const groups = new Map<string, number[]>();
  certRows.forEach((r, i) => groups.set(sourceOf(r), [...(groups.get(sourceOf(r)) ?? []), i]));

  const chains: InspectedChain[] = [];
  for (const [source, indexes] of groups) {
    const problems: string[] = [];
    const certificates: InspectedCertificate[] = [];
    for (const [pos, index] of indexes.entries()) {
      const row = certRows[index]!;
      const check = checked[index]!;
      const cert = row.certificate;
      const next = indexes[pos + 1] !== undefined ? certRows[indexes[pos + 1]!]!.certificate : undefined;
      let verification: Verification;
      let signedBy: string | null = null;
      if (next) {
        verification = (await isSignedBy(cert, next, crypto)) ? "next" : "not signed by next";
        if (verification === "next") signedBy = certRows[indexes[pos + 1]!]!.name;
        else problems.push(`#${pos + 1} (${formatDistinguishedName(cert.subjectDer)}) is not signed by #${pos + 2} (${formatDistinguishedName(next.subjectDer)})`);
      } else if (check.chain === "self-signed") verification = "self-signed";
      else if (check.chain === "ok") {
        verification = "issuer found";
        signedBy = check.chainIssuer ?? null;
      } else if (check.chain === "bad signature") {
        verification = "bad signature";
        problems.push(`#${pos + 1} (${formatDistinguishedName(cert.subjectDer)}): the certificate named as its issuer did not sign it`);
      } else verification = "unknown issuer";
      if (check.key === "MISMATCH") problems.push(`#${pos + 1}: the private key ${check.keyPath ?? ""} does not belong to it`);
      const facts = extensionFacts(certificateExtensions(cert.tbsDer));
      certificates.push({
        name: row.name,
        chainPosition: pos + 1,
        chainLength: indexes.length,
        subject: formatDistinguishedName(cert.subjectDer),
        issuer: formatDistinguishedName(cert.issuerDer),
        serialNumber: cert.serialHex.toUpperCase(),
        notBefore: rfc3339(cert.notBefore),
        notAfter: rfc3339(cert.notAfter),
        daysLeft: Math.floor((cert.notAfter.getTime() - now.getTime()) / 86_400_000),
        status: check.status,
        publicKey: publicKeyFacts(cert.spki),
        signatureAlgorithm: cert.signatureAlgorithm,
        sha256Fingerprint: colonHex(new Uint8Array(await crypto.subtle.digest("SHA-256", cert.der))),
        ...facts,
        verification,
        signedBy,
        privateKey: check.key !== "-" ? { path: check.keyPath ?? "", status: check.key } : null,
        kubeadmRole: kubeadmRole(cert, row.path) ?? null,
      });
    }
    const verified = certificates.every((c) => c.verification !== "not signed by next" && c.verification !== "bad signature");
    let trusted: boolean | null = null;
    if (options.anchors) {
      const last = certificates[certificates.length - 1];
      const lastCert = certRows[indexes[indexes.length - 1]!]!.certificate;
      const isAnchor = indexes.some((i) => anchors.some((a) => bytesEqual(a.der, certRows[i]!.certificate.der)));
      let signedByAnchor = false;
      for (const a of anchors) if (!signedByAnchor && (await isSignedBy(lastCert, a, crypto))) signedByAnchor = true;
      trusted = verified && (isAnchor || signedByAnchor);
      if (!trusted && verified) problems.push(`the chain does not end at a --ca certificate (the last is issued by ${last?.issuer ?? "?"})`);
    }
    chains.push({ source, verified, trusted, problems, certificates });
  }
  return chains;
}

// ---------------------------------------------------------------------------------------------
// CSRs.

export interface InspectedRequest {
  readonly subject: string;
  readonly subjectAltNames: SubjectAltNames;
  readonly publicKey: PublicKeyFacts;
  readonly signatureAlgorithm: string;
  /** Every extension of the extensionRequest, in order: its name (or OID) and criticality. */
  readonly requestedExtensions: readonly { readonly name: string; readonly critical: boolean }[];
  readonly keyUsage: readonly string[];
  readonly extendedKeyUsage: readonly string[];
  readonly basicConstraints: BasicConstraints | null;
  /** Whether the request's self-signature verifies with its own public key. */
  readonly signatureValid: boolean;
  /** Whether the approver's strict reader (src/approver/request.ts) accepts it: the canonical DER of PKCS#10. */
  readonly canonical: boolean;
  /** Why the strict reader refuses it; null when canonical. */
  readonly canonicalError: string | null;
  readonly sha256Fingerprint: string;
}

/** Inspects one DER CSR. */
export async function inspectRequest(der: Bytes, crypto: Crypto): Promise<InspectedRequest> {
  const csr = await parseCsrDer(der, crypto);
  let canonicalError: string | null = null;
  try {
    readRequestDer(der);
  } catch (error) {
    canonicalError = (error as Error).message;
  }
  const exts = requestedExtensions(der);
  const facts = extensionFacts(exts);
  const sigAlgNode = children(decodeOne(der))[1];
  const sigOid = sigAlgNode && children(sigAlgNode)[0] ? readOid(children(sigAlgNode)[0]!) : "";
  return {
    subject: formatDistinguishedName(csr.subjectDer),
    subjectAltNames: facts.subjectAltNames,
    publicKey: publicKeyFacts(csr.spki),
    signatureAlgorithm: SIGNATURE_ALGORITHMS[sigOid as keyof typeof SIGNATURE_ALGORITHMS]?.name ?? sigOid,
    requestedExtensions: exts.map((e) => ({ name: EXTENSION_NAMES[e.oid] ?? e.oid, critical: e.critical })),
    keyUsage: facts.keyUsage,
    extendedKeyUsage: facts.extendedKeyUsage,
    basicConstraints: facts.basicConstraints,
    signatureValid: csr.signatureValid,
    canonical: canonicalError === null,
    canonicalError,
    sha256Fingerprint: colonHex(new Uint8Array(await crypto.subtle.digest("SHA-256", der))),
  };
}

// ---------------------------------------------------------------------------------------------
// Inputs.

/** What a file holds, from its first bytes. */
export type InputKind = "certificate-pem" | "csr-pem" | "der" | "kubeconfig" | "unknown";

const CSR_LABEL = /-----BEGIN (NEW )?CERTIFICATE REQUEST-----/;

export function classifyInput(bytes: Bytes): InputKind {
  if (bytes[0] === 0x30) return "der";
  const text = new TextDecoder().decode(bytes.subarray(0, 1 << 20));
  if (text.includes("-----BEGIN CERTIFICATE-----")) return "certificate-pem";
  if (CSR_LABEL.test(text)) return "csr-pem";
  if (/^(apiVersion|clusters|users|kind|contexts|current-context):/m.test(text)) return "kubeconfig";
  if (text.includes("-----BEGIN ")) return "certificate-pem"; // rowsFromFile names what it holds instead
  return "unknown";
}

/** Whether DER bytes are a certificate (else perhaps a CSR). */
export function isCertificateDer(der: Bytes): boolean {
  try {
    parseCertificateDer(der);
    return true;
  } catch {
    return false;
  }
}

/** `HOST:PORT` or `[IPv6]:PORT` (port 1-65535), else undefined. */
export function parseHostPort(arg: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/.exec(arg);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (m[1] ?? m[2])!, port };
}

/** FoundRows for a TLS peer's chain as it was sent, one per certificate. */
export function rowsFromPeerChain(source: string, ders: readonly Bytes[]): FoundRow[] {
  return ders.map((der, i) => {
    const name = `${source}#${i + 1}`;
    try {
      return { name, path: source, certificate: parseCertificateDer(der) };
    } catch (error) {
      return { name, path: source, error: (error as Error).message };
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Text output.

const list = (items: readonly string[]): string => (items.length ? items.join(", ") : "-");

export function sanText(s: SubjectAltNames): string {
  return list([...s.dns.map((d) => `DNS:${d}`), ...s.ip.map((i) => `IP:${i}`), ...s.email.map((e) => `email:${e}`), ...s.uri.map((u) => `URI:${u}`), ...s.other]);
}

export const keyText = (k: PublicKeyFacts): string => [k.algorithm, k.curve ?? (k.size !== null ? String(k.size) : "")].filter((x) => x !== "").join(" ") + (k.curve === null && k.size !== null ? " bits" : "");

const constraintsText = (b: BasicConstraints | null): string =>
  b === null ? "-" : `CA:${b.ca ? "TRUE" : "FALSE"}${b.pathLen !== null ? `, pathlen:${b.pathLen}` : ""}`;

const VERIFICATION_TEXT: Readonly<Record<Verification, string>> = {
  next: "signed by the next certificate",
  "self-signed": "self-signed",
  "issuer found": "signed by",
  "unknown issuer": "issuer not among the certificates read",
  "bad signature": "BAD SIGNATURE: not signed by the certificate named as its issuer",
  "not signed by next": "NOT signed by the next certificate",
};

const daysText = (days: number): string => (days < 0 ? `expired ${-days} days ago` : `${days} days left`);

/** The detailed text of chains: one block per certificate, then one line per chain. */
export function renderChainsText(chains: readonly InspectedChain[]): string {
  const out: string[] = [];
  for (const chain of chains) {
    for (const c of chain.certificates) {
      const rows: [string, string][] = [
        ["Subject", c.subject || "(empty)"],
        ["Issuer", c.issuer || "(empty)"],
        ["Serial", c.serialNumber],
        ["Not before", c.notBefore],
        ["Not after", `${c.notAfter} (${daysText(c.daysLeft)})`],
        ["Status", c.status],
        ["SANs", sanText(c.subjectAltNames)],
        ["Key", keyText(c.publicKey)],
        ["Key usage", list(c.keyUsage)],
        ["Ext key usage", list(c.extendedKeyUsage)],
        ["Basic constr.", constraintsText(c.basicConstraints)],
        ["Subject key ID", c.subjectKeyId ?? "-"],
        ["Auth. key ID", c.authorityKeyId ?? "-"],
        ["SHA-256", c.sha256Fingerprint],
        ["Signature", c.signatureAlgorithm],
        ["Verification", c.verification === "issuer found" ? `signed by ${c.signedBy ?? "?"}` : VERIFICATION_TEXT[c.verification]],
        ...(c.privateKey ? ([["Private key", `${c.privateKey.status} (${c.privateKey.path})`]] as [string, string][]) : []),
        ["kubeadm role", c.kubeadmRole ?? "-"],
      ];
      out.push(`Certificate ${c.chainPosition} of ${c.chainLength}: ${c.name}\n${rows.map(([k, v]) => `  ${`${k}:`.padEnd(16)}${v}`).join("\n")}\n`);
    }
    out.push(`${chainLine(chain)}\n`);
  }
  return out.join("\n");
}

/** `chain SOURCE: verified (3 certificates)` and the problems. */
export function chainLine(chain: InspectedChain): string {
  const n = chain.certificates.length;
  const what = `${n} certificate${n === 1 ? "" : "s"}`;
  const trust = chain.trusted === null ? "" : chain.trusted ? ", trusted by --ca" : ", NOT trusted by --ca";
  const head = `Chain ${chain.source}: ${chain.verified ? "verified" : "does NOT verify"} (${what}${trust})`;
  return [head, ...chain.problems.map((p) => `  ${p}`)].join("\n");
}

/** One line per certificate. */
export function renderChainsShort(chains: readonly InspectedChain[]): string {
  return chains
    .flatMap((chain) =>
      chain.certificates.map(
        (c) =>
          `${c.name}  ${c.subject || "(empty)"}  issuer=${c.issuer || "(empty)"}  notAfter=${c.notAfter} (${daysText(c.daysLeft)})  ${c.verification === "issuer found" ? `signed by ${c.signedBy ?? "?"}` : c.verification}${c.kubeadmRole ? `  ${c.kubeadmRole}` : ""}\n`,
      ),
    )
    .join("");
}

/** The text of a CSR. */
export function renderRequestText(name: string, r: InspectedRequest, short: boolean): string {
  if (short) {
    return `${name}  ${r.subject || "(empty)"}  SANs=${sanText(r.subjectAltNames)}  ${keyText(r.publicKey)}  signature ${r.signatureValid ? "valid" : "INVALID"}  ${r.canonical ? "canonical" : "not canonical"}\n`;
  }
  const rows: [string, string][] = [
    ["Subject", r.subject || "(empty)"],
    ["SANs", sanText(r.subjectAltNames)],
    ["Key", keyText(r.publicKey)],
    ["Requested ext.", list(r.requestedExtensions.map((e) => `${e.name}${e.critical ? " (critical)" : ""}`))],
    ["Key usage", list(r.keyUsage)],
    ["Ext key usage", list(r.extendedKeyUsage)],
    ["Basic constr.", constraintsText(r.basicConstraints)],
    ["Signature", `${r.signatureAlgorithm}, ${r.signatureValid ? "verifies with its own key" : "DOES NOT VERIFY"}`],
    ["Canonical", r.canonical ? "yes (the approver's strict reader accepts it)" : `no: ${r.canonicalError ?? ""}`],
    ["SHA-256", r.sha256Fingerprint],
  ];
  return `Certificate request: ${name}\n${rows.map(([k, v]) => `  ${`${k}:`.padEnd(16)}${v}`).join("\n")}\n`;
}
