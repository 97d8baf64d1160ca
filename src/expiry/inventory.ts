import { kubeconfigView } from "../kubeadm/kubeconfig.js";
import { joinPath } from "../kubeadm/store.js";
import { isSignedBy, keyMatchesCertificate, parseCertificateDer, type ParsedCertificate } from "../pki/cert.js";
import { base64ToBytes, bytesEqual, bytesToHex, type Bytes } from "../pki/der.js";
import type { VerifyKeyCache } from "../pki/signature.js";
import { parsePrivateKeyPem } from "../pki/keys.js";
import { formatName } from "../pki/name.js";
import { decodePem } from "../pki/pem.js";
import { residualSeconds } from "./kubeadm-inventory.js";

/** Byte reads for the scan; src/io supplies them. */
export interface BytesReader {
  /** The file's bytes, undefined when it does not exist; throws with a readable message otherwise. */
  readonly readBytes: (path: string) => Promise<Bytes | undefined>;
  /**
   * Whether a file may exist, from a cheap look-up (a directory listing). Used to
   * skip reads of key files that are not there; without it every candidate is read.
   */
  readonly mayExist?: (path: string) => boolean;
}

/** One certificate occurrence (or a file that should have held one). */
export interface FoundRow {
  /** What the row shows: a path, `path#2` for the second certificate of a bundle, or `file user NAME`. */
  readonly name: string;
  readonly path: string;
  readonly certificate?: ParsedCertificate;
  /** A private key that should belong to the certificate, and where it came from. */
  readonly keyPem?: string;
  readonly keyPath?: string;
  readonly error?: string;
  /** The error is that the file could not be read (permission, I/O), not what it holds. */
  readonly unreadable?: boolean;
  readonly missing?: boolean;
  /** For a certificate of a kubeconfig (`path` is the file it names, when not embedded): the kubeconfig, whether a cluster's CA or a user's client certificate, and the entry's name. */
  readonly embedded?: { readonly kubeconfig: string; readonly kind: "cluster" | "user"; readonly name: string };
}

const CERT_EXTENSIONS = /\.(crt|cer|cert|pem|der)$/i;
/** Extensions that promise a certificate; `.pem` also holds keys (cfssljson's `*-key.pem`). */
const CERT_ONLY_EXTENSIONS = /\.(crt|cer|cert|der)$/i;
const KEY_LABELS = new Set(["RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY"]);
const text = new TextDecoder();

/** Dirname and base name without the certificate extension, for finding a key beside a certificate. */
function keyCandidates(path: string): string[] {
  const slash = path.lastIndexOf("/");
  const dir = slash >= 0 ? path.slice(0, slash) : ".";
  const file = path.slice(slash + 1);
  const stem = file.replace(CERT_EXTENSIONS, "");
  const parent = dir.includes("/") ? dir.slice(0, dir.lastIndexOf("/")) : ".";
  return [
    joinPath(dir, `${stem}.key`), // kubeadm, openssl
    joinPath(dir, `${stem}-key.pem`), // cfssljson
    joinPath(parent, "private", `${stem}.key`), // easy-rsa: pki/issued/x.crt and pki/private/x.key
    joinPath(dir, "private", `${stem}.key`), // easy-rsa's CA: pki/ca.crt and pki/private/ca.key
  ].filter((p) => p !== path);
}

/** A file's bytes, or the rows that stand for it when it is missing or unreadable. */
async function readForRows(path: string, reader: BytesReader, strict: boolean): Promise<{ bytes: Bytes } | { rows: RowOf<never>[] }> {
  try {
    const bytes = await reader.readBytes(path);
    if (bytes !== undefined) return { bytes };
    return { rows: strict ? [{ name: path, path, missing: true }] : [] };
  } catch (error) {
    return { rows: [{ name: path, path, error: (error as Error).message, unreadable: true }] };
  }
}

/** A certificate occurrence read by `parse` (ParsedCertificate for FoundRow, or a lighter reading). */
export type RowOf<T> = Omit<FoundRow, "certificate"> & { readonly certificate?: T };

/**
 * The certificates in one file: PEM (any number of CERTIFICATE blocks, text
 * around them allowed) or a DER certificate. A private key in the same file
 * (kubelet-client-current.pem) goes with its certificate. When `strict`, a file
 * without a certificate becomes an error row; when scanning a tree, files
 * that are plainly not certificates (keys, configs) are passed over.
 */
export async function rowsFromFile(path: string, reader: BytesReader, strict: boolean): Promise<FoundRow[]> {
  return certificateRowsFromFile(path, reader, strict, parseCertificateDer);
}

/** rowsFromFile with each certificate read by `parse`, which throws parseCertificateDer's errors. */
export async function certificateRowsFromFile<T>(path: string, reader: BytesReader, strict: boolean, parse: (der: Bytes) => T): Promise<RowOf<T>[]> {
  const read = await readForRows(path, reader, strict);
  if ("rows" in read) return read.rows;
  return certificateRowsFromBytes(path, read.bytes, reader, strict, parse);
}

const BEGIN_CERTIFICATE = "-----BEGIN CERTIFICATE-----";
const END_CERTIFICATE = "-----END CERTIFICATE-----";
/** Base64 digit values by character code; -1 for characters that are not base64 digits. */
const BASE64_VALUES = Int8Array.from({ length: 128 }, (_, c) => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".indexOf(String.fromCharCode(c)));

const startsWithAt = (b: Bytes, at: number, ascii: string): boolean => {
  if (at + ascii.length > b.length) return false;
  for (let i = 0; i < ascii.length; i++) if (b[at + i] !== ascii.charCodeAt(i)) return false;
  return true;
};

/**
 * The DER of a file that is exactly one PEM CERTIFICATE block (what kubeadm, openssl and cfssl
 * write), decoded straight from the bytes; undefined for anything else, which decodePem then reads.
 * For the files it accepts the result is decodePem's: the BEGIN line ends with LF or CRLF, the
 * body is base64 with ASCII white space anywhere and up to two `=` at the end (a multiple of 4
 * characters; leftover bits ignored, as atob does), the END line follows it with at most one line
 * ending after.
 */
export function singleCertificatePem(b: Bytes): Bytes | undefined {
  if (!startsWithAt(b, 0, BEGIN_CERTIFICATE)) return undefined;
  let p = BEGIN_CERTIFICATE.length;
  if (b[p] === 0x0d) p++;
  if (b[p] !== 0x0a) return undefined;
  p++;
  let end = b.length;
  if (b[end - 1] === 0x0a) end--;
  if (b[end - 1] === 0x0d) end--;
  const endLine = end - END_CERTIFICATE.length;
  if (endLine < p || !startsWithAt(b, endLine, END_CERTIFICATE)) return undefined;
  const out = new Uint8Array((((endLine - p) >> 2) + 1) * 3);
  let n = 0;
  let acc = 0;
  let digits = 0;
  let pads = 0;
  for (let i = p; i < endLine; i++) {
    const c = b[i]!;
    if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) continue;
    if (c === 0x3d) {
      pads++;
      continue;
    }
    const v = c < 128 ? BASE64_VALUES[c]! : -1;
    if (v < 0 || pads) return undefined;
    acc = (acc << 6) | v;
    if (++digits % 4 === 0) {
      out[n++] = acc >> 16;
      out[n++] = (acc >> 8) & 0xff;
      out[n++] = acc & 0xff;
      acc = 0;
    }
  }
  if (pads > 2 || (digits + pads) % 4 !== 0 || (pads && digits % 4 === 0)) return undefined;
  if (digits % 4 === 3) {
    out[n++] = acc >> 10;
    out[n++] = (acc >> 2) & 0xff;
  } else if (digits % 4 === 2) out[n++] = acc >> 4;
  return out.subarray(0, n);
}

/** The rows with, on the first certificate (when it could be read), the key found beside the file. */
async function withKeyBeside<T>(rows: RowOf<T>[], path: string, reader: BytesReader): Promise<RowOf<T>[]> {
  if (rows[0]?.certificate === undefined) return rows;
  for (const candidate of keyCandidates(path)) {
    if (reader.mayExist && !reader.mayExist(candidate)) continue;
    let keyBytes: Bytes | undefined;
    try {
      keyBytes = await reader.readBytes(candidate);
    } catch {
      continue;
    }
    if (keyBytes === undefined) continue;
    rows[0] = { ...rows[0], keyPem: text.decode(keyBytes), keyPath: candidate };
    break;
  }
  return rows;
}

async function certificateRowsFromBytes<T>(path: string, bytes: Bytes, reader: BytesReader, strict: boolean, parse: (der: Bytes) => T): Promise<RowOf<T>[]> {
  const reportable = strict || CERT_EXTENSIONS.test(path);
  const fail = (error: string): RowOf<T>[] => (reportable ? [{ name: path, path, error }] : []);
  if (bytes.length === 0) return fail("empty file");

  const single = singleCertificatePem(bytes);
  if (single) {
    const rows: RowOf<T>[] = [];
    try {
      rows.push({ name: path, path, certificate: parse(single) });
    } catch (error) {
      return [{ name: path, path, error: (error as Error).message }];
    }
    return withKeyBeside(rows, path, reader);
  }
  const asText = text.decode(bytes);
  if (asText.includes("-----BEGIN ")) {
    let blocks;
    try {
      blocks = decodePem(asText);
    } catch (error) {
      return fail((error as Error).message);
    }
    const certBlocks = blocks.filter((b) => b.label === "CERTIFICATE");
    const keyBlock = blocks.find((b) => KEY_LABELS.has(b.label));
    if (certBlocks.length === 0) {
      if (keyBlock) {
        // A key file met in a walk is no error; a key where a certificate should be is.
        return strict || CERT_ONLY_EXTENSIONS.test(path) ? fail(`holds a private key (${keyBlock.label}), not a certificate`) : [];
      }
      return fail(`no CERTIFICATE block (found ${[...new Set(blocks.map((b) => b.label))].join(", ") || "none"})`);
    }
    const keyPem = keyBlock ? asText.slice(asText.indexOf(`-----BEGIN ${keyBlock.label}-----`)) : undefined;
    const rows: RowOf<T>[] = [];
    certBlocks.forEach((block, i) => {
      const name = certBlocks.length > 1 ? `${path}#${i + 1}` : path;
      try {
        const certificate = parse(block.der);
        rows.push({ name, path, certificate, ...(i === 0 && keyPem ? { keyPem, keyPath: path } : {}) });
      } catch (error) {
        rows.push({ name, path, error: (error as Error).message });
      }
    });
    return keyPem ? rows : withKeyBeside(rows, path, reader);
  }
  if (bytes[0] === 0x30) {
    try {
      return [{ name: path, path, certificate: parse(bytes) }];
    } catch (error) {
      return fail(`DER data is not a certificate: ${(error as Error).message}`);
    }
  }
  return fail("neither PEM nor DER data");
}

/**
 * Every user's client certificate and every cluster's CA in a kubeconfig,
 * embedded (`*-data`) or by file path (relative to the kubeconfig's folder).
 */
export async function rowsFromKubeconfig(path: string, reader: BytesReader, strict = true): Promise<FoundRow[]> {
  const read = await readForRows(path, reader, strict);
  if ("rows" in read) return read.rows;
  const { bytes } = read;
  const { parse } = await import("yaml");
  let doc: unknown;
  try {
    doc = parse(text.decode(bytes));
  } catch (error) {
    return [{ name: path, path, error: `not a kubeconfig: ${(error as Error).message.split("\n")[0]}` }];
  }
  const root = (doc ?? {}) as Record<string, unknown>;
  if (typeof root !== "object" || (!Array.isArray(root["users"]) && !Array.isArray(root["clusters"]))) {
    return [{ name: path, path, error: "not a kubeconfig: no users or clusters" }];
  }
  const current = root["current-context"];
  const rows: FoundRow[] = [];
  if (typeof current !== "string" || current === "") rows.push({ name: `${path} current-context`, path, error: "kubeconfig has no current-context" });
  else {
    try {
      kubeconfigView(root, path); // the document is parsed once, above
    } catch (error) {
      rows.push({ name: `${path} current-context`, path, error: (error as Error).message });
    }
  }
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  const resolvePath = (p: string): string => (p.startsWith("/") ? p : joinPath(dir, p));
  const decode = (value: string): string => text.decode(base64ToBytes(value.replace(/\s+/g, "")));

  const fromRef = async (name: string, embedded: NonNullable<FoundRow["embedded"]>, data: unknown, file: unknown): Promise<FoundRow[]> => {
    if (typeof data === "string") {
      let pem: string;
      try {
        pem = decode(data);
      } catch {
        return [{ name, path, embedded, error: "embedded data is not valid base64" }];
      }
      const certs = decodePem(pem).filter((b) => b.label === "CERTIFICATE");
      if (!certs.length) return [{ name, path, embedded, error: "embedded data holds no certificate" }];
      return certs.map((b, i) => {
        try {
          return { name: certs.length > 1 ? `${name}#${i + 1}` : name, path, embedded, certificate: parseCertificateDer(b.der) };
        } catch (error) {
          return { name, path, embedded, error: (error as Error).message };
        }
      });
    }
    if (typeof file === "string") {
      const rowsOfFile = await rowsFromFile(resolvePath(file), reader, true);
      return rowsOfFile.map((r, i) => ({ ...r, embedded, name: `${name}${rowsOfFile.length > 1 ? `#${i + 1}` : ""} (${r.path})` }));
    }
    return [];
  };

  for (const u of Array.isArray(root["users"]) ? (root["users"] as Record<string, unknown>[]) : []) {
    const user = (u?.["user"] ?? {}) as Record<string, unknown>;
    const entry = String(u?.["name"] ?? "?");
    const found = await fromRef(`${path} user ${entry}`, { kubeconfig: path, kind: "user", name: entry }, user["client-certificate-data"], user["client-certificate"]);
    let keyPem: string | undefined;
    let keyPath: string | undefined;
    try {
      if (typeof user["client-key-data"] === "string") {
        keyPem = decode(user["client-key-data"]);
        keyPath = `${path} (client-key-data)`;
      } else if (typeof user["client-key"] === "string") {
        const keyBytes = await reader.readBytes(resolvePath(user["client-key"]));
        if (keyBytes) {
          keyPem = text.decode(keyBytes);
          keyPath = resolvePath(user["client-key"]);
        }
      }
    } catch {
      keyPem = undefined;
    }
    found.forEach((row, i) => rows.push(i === 0 && keyPem && !row.keyPem ? { ...row, keyPem, keyPath: keyPath ?? path } : row));
  }
  for (const c of Array.isArray(root["clusters"]) ? (root["clusters"] as Record<string, unknown>[]) : []) {
    const cluster = (c?.["cluster"] ?? {}) as Record<string, unknown>;
    const entry = String(c?.["name"] ?? "?");
    rows.push(...(await fromRef(`${path} cluster ${entry} CA`, { kubeconfig: path, kind: "cluster", name: entry }, cluster["certificate-authority-data"], cluster["certificate-authority"])));
  }
  return rows;
}

/**
 * kubelet.conf and the kubelet's own certificates (not in kubeadm's report: the kubelet rotates
 * them): its client certificate, and its serving certificate, which is kubelet-server-current.pem
 * when it is issued through a CSR (serverTLSBootstrap) or the self-signed kubelet.crt otherwise; the
 * kubelet writes kubelet.crt only without serverTLSBootstrap (cmd/kubelet/app/server.go InitializeTLS).
 * Whichever of the two exists is reported; kubelet.crt is reported missing only when neither does.
 */
export async function kubeletRows(kubeconfigDir: string, kubeletDir: string, reader: BytesReader): Promise<FoundRow[]> {
  const present = (rows: FoundRow[]): FoundRow[] => rows.filter((r) => !r.missing);
  const served = present(await rowsFromFile(joinPath(kubeletDir, "kubelet-server-current.pem"), reader, true));
  const selfSigned = await rowsFromFile(joinPath(kubeletDir, "kubelet.crt"), reader, true);
  return [
    ...(await rowsFromKubeconfig(joinPath(kubeconfigDir, "kubelet.conf"), reader)),
    ...(await rowsFromFile(joinPath(kubeletDir, "kubelet-client-current.pem"), reader, true)),
    ...served,
    ...(served.length ? present(selfSigned) : selfSigned),
  ];
}

export type RowStatus = "OK" | "WARNING" | "CRITICAL" | "EXPIRED" | "NOT YET VALID" | "INVALID" | "MISSING";
/**
 * ok, self-signed, bad signature: a signature was checked (kpki inspect, check-expiration --verify);
 * linked, self-issued: the issuer was found by names and key identifiers only, no signature was
 * checked (check-expiration without --verify; see src/expiry/scan-check.ts); unknown issuer: no
 * certificate read has the issuer's name; -: no certificate.
 */
export type ChainStatus = "ok" | "self-signed" | "bad signature" | "linked" | "self-issued" | "unknown issuer" | "-";
export type KeyStatus = "match" | "MISMATCH" | "unreadable" | "-";

/** A row with its checks. */
export interface CheckedRow {
  readonly name: string;
  readonly path: string;
  readonly subject?: string | undefined;
  readonly issuer?: string | undefined;
  readonly serialNumber?: string | undefined;
  readonly notBefore?: Date | undefined;
  readonly notAfter?: Date | undefined;
  readonly residualTime?: number | undefined;
  readonly status: RowStatus;
  readonly chain: ChainStatus;
  /** The certificate that signed it (or, for `linked`, that has its issuer's name and key identifier), when found in what was read. */
  readonly chainIssuer?: string | undefined;
  readonly key: KeyStatus;
  readonly keyPath?: string | undefined;
  readonly error?: string | undefined;
}

/** Thresholds in milliseconds; undefined when not given. */
export interface Thresholds {
  readonly warnMs?: number | undefined;
  readonly critMs?: number | undefined;
}


/**
 * The expiry status rule, for kubeadm's rows and the detailed ones alike: from the residual time in
 * whole seconds (kubeadm's), against the thresholds.
 */
export function residualStatus(residualSeconds: number, t: Thresholds): "OK" | "WARNING" | "CRITICAL" | "EXPIRED" {
  const residualMs = residualSeconds * 1000;
  if (residualMs < 0) return "EXPIRED";
  if (t.critMs !== undefined && residualMs <= t.critMs) return "CRITICAL";
  if (t.warnMs !== undefined && residualMs <= t.warnMs) return "WARNING";
  return "OK";
}

/** Status from validity and thresholds. */
export function statusOf(notBefore: Date, notAfter: Date, now: Date, t: Thresholds): RowStatus {
  if (notBefore.getTime() > now.getTime()) return "NOT YET VALID";
  return residualStatus(residualSeconds(notAfter, now), t);
}

/**
 * Checks every row: residual time and status, the chain to an issuer among all
 * certificates found (a self-signed root, a CA in the tree, or unknown), and
 * whether the key beside it belongs to it.
 */
export async function checkRows(rows: readonly FoundRow[], now: Date, t: Thresholds, crypto: Crypto): Promise<CheckedRow[]> {
  // Issuer candidates indexed by subject name, and imported issuer keys cached: checking
  // 10,000 leaves of one CA is then 10,000 signature checks, not 10^8 name comparisons.
  const bySubject = new Map<string, (FoundRow & { certificate: ParsedCertificate })[]>();
  for (const r of rows) {
    if (!r.certificate) continue;
    const key = bytesToHex(r.certificate.subjectDer);
    const list = bySubject.get(key) ?? [];
    list.push(r as FoundRow & { certificate: ParsedCertificate });
    bySubject.set(key, list);
  }
  const keyCache: VerifyKeyCache = new Map();
  const out: CheckedRow[] = [];
  for (const row of rows) {
    const c = row.certificate;
    if (!c) {
      out.push({ name: row.name, path: row.path, status: row.missing ? "MISSING" : "INVALID", chain: "-", key: "-", ...(row.error ? { error: row.error } : {}) });
      continue;
    }
    let chain: ChainStatus = "unknown issuer";
    let chainIssuer: string | undefined;
    if (bytesEqual(c.issuerDer, c.subjectDer) && (await isSignedBy(c, c, crypto, keyCache))) chain = "self-signed";
    else {
      const candidates = (bySubject.get(bytesToHex(c.issuerDer)) ?? []).filter((p) => p.certificate !== c);
      for (const cand of candidates) {
        if (await isSignedBy(c, cand.certificate, crypto, keyCache)) {
          chain = "ok";
          chainIssuer = cand.name;
          break;
        }
      }
      if (chain !== "ok" && candidates.length) chain = "bad signature";
    }
    let key: KeyStatus = "-";
    if (row.keyPem !== undefined) {
      try {
        key = (await keyMatchesCertificate(c, await parsePrivateKeyPem(row.keyPem, crypto), crypto)) ? "match" : "MISMATCH";
      } catch {
        key = "unreadable";
      }
    }
    const status = chain === "bad signature" || key === "MISMATCH" ? "INVALID" : statusOf(c.notBefore, c.notAfter, now, t);
    out.push({
      name: row.name,
      path: row.path,
      subject: formatName({ commonName: c.commonName, organizations: c.organizations }),
      issuer: formatName({ commonName: c.issuer.commonName, organizations: c.issuer.organizations ?? [] }),
      serialNumber: c.serialHex,
      notBefore: c.notBefore,
      notAfter: c.notAfter,
      residualTime: residualSeconds(c.notAfter, now),
      status,
      chain,
      ...(chainIssuer ? { chainIssuer } : {}),
      key,
      ...(row.keyPath ? { keyPath: row.keyPath } : {}),
      ...(chain === "bad signature" ? { error: "signature does not verify with the issuer found" } : key === "MISMATCH" ? { error: `${row.keyPath} does not belong to this certificate` } : {}),
    });
  }
  return out;
}

