import { parseCertificateDer } from "../pki/cert.js";
import { latin1, scanCertificate, type CertificateScan } from "../pki/cert-scan.js";
import { bytesEqual, readOid, type Bytes } from "../pki/der.js";
import { parsePrivateKeyPem, spkiOf } from "../pki/keys.js";
import type { SignatureVerifier } from "../pki/signature.js";
import type { ChainStatus, CheckedRow, FoundRow, KeyStatus, RowOf, RowStatus, Thresholds } from "./inventory.js";
import { residualStatus } from "./inventory.js";

/**
 * The detailed rows of `certs check-expiration`, built one certificate at a time so that a scan of
 * 100,000 files keeps a few hundred bytes per certificate, not its DER.
 *
 * Chains: without `verify`, a certificate is `linked` when a certificate read has its issuer's
 * name and, where both carry one, a subject key identifier equal to its authority key identifier;
 * `self-issued` when its issuer and subject names are equal and its authority key identifier, if
 * any, is its own subject key identifier (RFC 5280 §3.2 and §6.1 call such a certificate
 * self-issued; self-signed only once its signature verifies with its own key), unless it is a leaf
 * and a CA with that name was read. Only CA certificates (cA TRUE, or v1 without BasicConstraints)
 * are taken as issuers. No signature is checked. With `verify`, every signature is checked, each (issuer key, certificate) pair once:
 * `self-signed`, `ok` (signed by a certificate read), `bad signature` (a certificate with the
 * issuer's name was read, and no such certificate signed it; for a self-issued certificate whose
 * key identifiers say it is its own issuer, its own key did not either), or `unknown issuer`.
 */

/** The scan's reading of one DER certificate; throws parseCertificateDer's error when it is not one. */
export function readScanned(der: Bytes): CertificateScan {
  const scanned = scanCertificate(der);
  if (scanned) return scanned;
  parseCertificateDer(der); // throws the message the row shows
  throw new Error("internal error: scanCertificate refused a certificate parseCertificateDer reads");
}

function fromLatin1(s: string): Bytes {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Signed bytes kept for a certificate read before the certificates that may have signed it. */
interface Pending {
  readonly sigOid: string;
  readonly tbs: Bytes;
  readonly signature: Bytes;
  /** Issuer keys already tried (latin1 SPKI). */
  readonly tried: Set<string>;
}

/** A detailed row, and whether it stands for a file that could not be read (permission, I/O) rather than what it holds. */
export interface DetailedRow extends CheckedRow {
  readonly unreadable: boolean;
}

/** The detailed rows in the order they were added; each row is made when it is read. */
export interface DetailedRowTable extends Iterable<DetailedRow> {
  readonly length: number;
  row(index: number): DetailedRow;
  /** row(index).status and .unreadable, without making the row. */
  statusAt(index: number): RowStatus;
  unreadableAt(index: number): boolean;
}

const STATUSES: readonly RowStatus[] = ["OK", "WARNING", "CRITICAL", "EXPIRED", "NOT YET VALID", "INVALID", "MISSING"];
const CHAINS: readonly ChainStatus[] = ["-", "ok", "self-signed", "bad signature", "linked", "self-issued", "unknown issuer"];
const KEYS: readonly KeyStatus[] = ["-", "match", "MISMATCH", "unreadable"];
const code = <T>(list: readonly T[], value: T): number => list.indexOf(value);

export interface DetailedRowsOptions {
  readonly now: Date;
  readonly thresholds: Thresholds;
  /** Check every signature (otherwise chains are linked by names and key identifiers). */
  readonly verify: boolean;
  readonly verifySignature: SignatureVerifier;
  /** For reading private keys found beside certificates. */
  readonly crypto: Crypto;
}

/**
 * A certificate row's subject and serial number, kept as bytes outside V8's heap: 100,000 of each
 * as JS strings are 200,000 objects (about 7 MB with their headers) that V8 copies through its
 * young generation into its old one, where they stay until the end. Two strings of char codes up
 * to 0xff and up to 65,535 characters each are kept one byte a character, one after the other, in
 * 64 kB chunks that are never copied; any other pair stays as JS strings.
 */
class RowTexts {
  private static readonly CHUNK = 64 << 10;
  private readonly chunks: Uint8Array[] = [];
  private chunk = new Uint8Array(0);
  private used = 0;
  /** chunk index × CHUNK + offset; -1 for none; -2 - k for wide[k]. */
  private starts: Int32Array;
  /** The first string's length in the low 16 bits, the second's in the high 16. */
  private lengths: Uint32Array;
  private readonly wide: (readonly [string, string])[] = [];

  constructor(expected: number) {
    this.starts = new Int32Array(expected);
    this.lengths = new Uint32Array(expected);
  }

  private static narrow(s: string): boolean {
    if (s.length > 0xffff) return false;
    for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) > 0xff) return false;
    return true;
  }

  set(i: number, texts: readonly [string, string] | undefined): void {
    if (i >= this.starts.length) {
      const size = grownSize(i);
      const starts = new Int32Array(size);
      starts.set(this.starts);
      this.starts = starts;
      const lengths = new Uint32Array(size);
      lengths.set(this.lengths);
      this.lengths = lengths;
    }
    if (texts === undefined) {
      this.starts[i] = -1;
      return;
    }
    const [a, b] = texts;
    if (!RowTexts.narrow(a) || !RowTexts.narrow(b) || a.length + b.length > RowTexts.CHUNK) {
      this.starts[i] = -2 - this.wide.length;
      this.wide.push(texts);
      return;
    }
    if (this.used + a.length + b.length > this.chunk.length) {
      this.chunk = new Uint8Array(RowTexts.CHUNK);
      this.chunks.push(this.chunk);
      this.used = 0;
    }
    const chunk = this.chunk;
    const at = this.used;
    for (let k = 0; k < a.length; k++) chunk[at + k] = a.charCodeAt(k);
    for (let k = 0; k < b.length; k++) chunk[at + a.length + k] = b.charCodeAt(k);
    this.used = at + a.length + b.length;
    this.starts[i] = (this.chunks.length - 1) * RowTexts.CHUNK + at;
    this.lengths[i] = a.length + b.length * 0x10000;
  }

  /** The first (which = 0) or second (1) string of row i. */
  get(i: number, which: 0 | 1): string | undefined {
    const start = this.starts[i]!;
    if (start === -1) return undefined;
    if (start < -1) return this.wide[-2 - start]![which];
    const chunk = this.chunks[Math.floor(start / RowTexts.CHUNK)]!;
    const lengths = this.lengths[i]!;
    const first = lengths & 0xffff;
    const at = (start % RowTexts.CHUNK) + (which === 0 ? 0 : first);
    return latin1(chunk, at, at + (which === 0 ? first : lengths >>> 16));
  }
}

/** DetailedRows' times: seconds from 2000-01-01T00:00:00Z in an Int32Array, NO_TIME for "not there". */
const TIME_BASE = Date.UTC(2000, 0, 1);
const NO_TIME = -0x80000000;

/** Rows beyond the expected number that the columns have room for from the start. */
const EXTRA_ROWS = 64;

/**
 * The new length of a column that has no room for row i: half as long again. A copy leaves the old
 * column to the garbage collector, which frees it only with the old generation (a full GC), so
 * columns grow little at a time; at 100,000 rows a doubling kept 5 MB of copies for nothing.
 */
const grownSize = (i: number): number => i + (i >> 1) + 64;

/** Equal strings as one small number each (issuer names and key identifiers repeat across thousands of rows). */
class Interned {
  private readonly ids = new Map<string, number>();
  readonly values: string[] = [];

  id(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.values.length;
      this.ids.set(s, id);
      this.values.push(s);
    }
    return id;
  }
}

/** Whether b[s1, e1) and b[s2, e2) hold the same bytes. */
function rangesEqual(b: Bytes, s1: number, e1: number, s2: number, e2: number): boolean {
  if (e1 - s1 !== e2 - s2) return false;
  for (let k = 0; k < e1 - s1; k++) if (b[s1 + k] !== b[s2 + k]) return false;
  return true;
}

/**
 * The rows of the detailed table, added in order; `finish` links the chains and sets the statuses.
 * Rows are kept column by column, in typed arrays and byte chunks outside V8's heap (see
 * RowTexts): about 40 bytes a certificate besides its path (shared with the scan's list) and the
 * characters of its subject and serial number; issuers, shared by many rows, and until `finish`
 * the names and key identifiers of the certificates that can be issuers are kept once each.
 */
export class DetailedRows implements DetailedRowTable {
  private count = 0;
  private readonly names: string[];
  /** The path where it is not the name. */
  private readonly paths = new Map<number, string>();
  /** Subject and serial number. */
  private readonly texts: RowTexts;
  /**
   * Per row, its issuer as an index into the three arrays below (rows issued by the same CA share
   * one), or -1 for a row without a certificate: the issuer's name as shown, its name as a `keys`
   * id (the DER, for linking) and the authority key identifier's `keys` id or -1.
   */
  private issuerRefs: Int32Array;
  private readonly refIds = new Map<string, number>();
  private readonly refTexts: string[] = [];
  private refKeys: number[] = [];
  private refAkis: number[] = [];
  /**
   * Validity as seconds from TIME_BASE (1932 to 2067, whole seconds: what UTCTime can say), 8 bytes a
   * row rather than 16; a certificate's other times (fractions, 9999-12-31) are kept in exactTimes
   * with NO_TIME here, as is a row without a certificate (and no exactTimes entry).
   */
  private notBefores: Int32Array;
  private notAfters: Int32Array;
  private readonly exactTimes = new Map<number, readonly [number, number]>();
  /** STATUSES index + 8 × CHAINS index + 64 × KEYS index. */
  private codes: Uint8Array;
  /** The row index of the issuer found, or -1. */
  private chainIssuers: Int32Array;
  private readonly keyPaths = new Map<number, string>();
  private readonly errors = new Map<number, string>();
  private readonly unreadable = new Set<number>();
  // For linking; dropped by `finish`. Names (their DER as latin1) and key identifiers are `keys` ids.
  private keys = new Interned();
  /** Subject names of the certificates that can be issuers. */
  private subjectKeys = new Map<number, number>();
  /** Rows whose issuer name is their subject name. */
  private selfIssued = new Set<number>();
  /** Subject key identifier ids, of the rows where linking may look at it. */
  private skis = new Map<number, number>();
  /** --verify: the public keys of the certificates that can be issuers (latin1 SPKI). */
  private spkis = new Map<number, string>();
  /** The next row with the same subject name, in reading order (only rows that can be issuers are indexed). */
  private nextSame = new Map<number, number>();
  private firstBySubject = new Map<number, number>();
  private lastBySubject = new Map<number, number>();
  private pending = new Map<number, Pending>();
  private readonly spkiBytes = new Map<string, Bytes>();
  private readonly sigOids = new Map<string, string>();
  /** name\0path of the rows added by addFound, to list each once. */
  private readonly seen = new Set<string>();
  private readonly opts: DetailedRowsOptions;

  /**
   * `expected`: about how many rows will be added (say the number of files scanned); room is made
   * for EXTRA_ROWS more (kubeadm's own files with --verify, kubeconfigs, the kubelet's). The columns
   * are made that long at once: growing a column of 100,000 by copies leaves about twice its
   * size behind for the garbage collector, which at that size shows in the peak memory.
   */
  constructor(opts: DetailedRowsOptions, expected = 0) {
    this.opts = opts;
    // Made with its length at once (the others are typed arrays, made so below), and filled with
    // an empty string rather than left with holes, so that V8 keeps it a plain array.
    const rows = expected + EXTRA_ROWS;
    this.names = Array.from({ length: rows }, () => "");
    this.texts = new RowTexts(rows);
    this.issuerRefs = new Int32Array(rows);
    this.notBefores = new Int32Array(rows);
    this.notAfters = new Int32Array(rows);
    this.codes = new Uint8Array(rows);
    this.chainIssuers = new Int32Array(rows);
  }

  get length(): number {
    return this.count;
  }

  /** Room in the typed columns for row i. */
  private grow(i: number): void {
    if (i < this.codes.length) return;
    const size = grownSize(i);
    const grown = <A extends Int32Array | Uint8Array>(a: A, make: (n: number) => A): A => {
      const b = make(size);
      b.set(a);
      return b;
    };
    this.notBefores = grown(this.notBefores, (n) => new Int32Array(n));
    this.notAfters = grown(this.notAfters, (n) => new Int32Array(n));
    this.codes = grown(this.codes, (n) => new Uint8Array(n));
    this.chainIssuers = grown(this.chainIssuers, (n) => new Int32Array(n));
    this.issuerRefs = grown(this.issuerRefs, (n) => new Int32Array(n));
  }

  /** Row i's notBefore and notAfter in milliseconds since the epoch; undefined without a certificate. */
  private times(i: number): readonly [number, number] | undefined {
    const nb = this.notBefores[i]!;
    if (nb === NO_TIME) return this.exactTimes.get(i);
    return [TIME_BASE + nb * 1000, TIME_BASE + this.notAfters[i]! * 1000];
  }

  private setTimes(i: number, notBefore: number, notAfter: number): void {
    const nb = (notBefore - TIME_BASE) / 1000;
    const na = (notAfter - TIME_BASE) / 1000;
    if ((nb | 0) === nb && (na | 0) === na && nb !== NO_TIME && na !== NO_TIME) {
      this.notBefores[i] = nb;
      this.notAfters[i] = na;
    } else {
      this.notBefores[i] = NO_TIME;
      this.notAfters[i] = NO_TIME;
      this.exactTimes.set(i, [notBefore, notAfter]);
    }
  }

  row(i: number): DetailedRow {
    const times = this.times(i);
    const issuerRow = this.chainIssuers[i]!;
    const issuer = this.issuerRefs[i]!;
    return {
      name: this.names[i]!,
      path: this.paths.get(i) ?? this.names[i]!,
      subject: this.texts.get(i, 0),
      issuer: issuer >= 0 ? this.refTexts[issuer] : undefined,
      serialNumber: this.texts.get(i, 1),
      notBefore: times ? new Date(times[0]) : undefined,
      notAfter: times ? new Date(times[1]) : undefined,
      residualTime: times ? Math.trunc((times[1] - this.opts.now.getTime()) / 1000) : undefined,
      status: this.statusAt(i),
      chain: this.chainAt(i),
      chainIssuer: issuerRow >= 0 ? this.names[issuerRow] : undefined,
      key: this.keyAt(i),
      keyPath: this.keyPaths.get(i),
      error: this.errors.get(i),
      unreadable: this.unreadable.has(i),
    };
  }

  statusAt(i: number): RowStatus {
    return STATUSES[this.codes[i]! & 7]!;
  }

  private chainAt(i: number): ChainStatus {
    return CHAINS[(this.codes[i]! >> 3) & 7]!;
  }

  private keyAt(i: number): KeyStatus {
    return KEYS[this.codes[i]! >> 6]!;
  }

  private setCodes(i: number, status: RowStatus, chain: ChainStatus, key: KeyStatus): void {
    this.codes[i] = code(STATUSES, status) + 8 * code(CHAINS, chain) + 64 * code(KEYS, key);
  }

  unreadableAt(i: number): boolean {
    return this.unreadable.has(i);
  }

  *[Symbol.iterator](): Iterator<DetailedRow> {
    for (let i = 0; i < this.count; i++) yield this.row(i);
  }

  /** A row read by rowsFromFile, rowsFromKubeconfig or kubeletRows. */
  async addFound(row: FoundRow): Promise<void> {
    const id = `${row.name}\u0000${row.path}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    const { certificate, ...rest } = row;
    await this.add(certificate ? { ...rest, certificate: readScanned(certificate.der) } : rest, false);
  }

  /** A row of a scanned file (the scan lists each file once, but it may repeat an addFound row). */
  async add(row: RowOf<CertificateScan>, fromScan = true): Promise<void> {
    if (fromScan && this.seen.size && this.seen.has(`${row.name}\u0000${row.path}`)) return;
    const i = this.count++;
    this.grow(i);
    if (i < this.names.length) this.names[i] = row.name;
    else this.names.push(row.name);
    if (row.path !== row.name) this.paths.set(i, row.path);
    const c = row.certificate;
    this.chainIssuers[i] = -1;
    if (!c) {
      this.texts.set(i, undefined);
      this.issuerRefs[i] = -1;
      this.notBefores[i] = NO_TIME;
      this.notAfters[i] = NO_TIME;
      this.setCodes(i, row.missing ? "MISSING" : "INVALID", "-", "-");
      if (row.error !== undefined) this.errors.set(i, row.error);
      if (row.unreadable) this.unreadable.add(i);
      return;
    }
    const b = c.der;
    this.texts.set(i, [c.subject, c.serialHex]);
    this.setTimes(i, c.notBefore, c.notAfter);
    let key: KeyStatus = "-";
    if (row.keyPem !== undefined) {
      if (row.keyPath !== undefined) this.keyPaths.set(i, row.keyPath);
      try {
        const pair = await parsePrivateKeyPem(row.keyPem, this.opts.crypto);
        key = bytesEqual(await spkiOf(pair.publicKey, this.opts.crypto), b.subarray(c.spkiStart, c.spkiEnd)) ? "match" : "MISMATCH";
      } catch {
        key = "unreadable";
      }
    }
    this.setCodes(i, "OK", "-", key);
    const issuerKey = this.keys.id(latin1(b, c.issuerStart, c.issuerEnd));
    const selfIssued = rangesEqual(b, c.subjectStart, c.subjectEnd, c.issuerStart, c.issuerEnd);
    if (selfIssued) this.selfIssued.add(i);
    // Only a CA certificate (BasicConstraints cA TRUE, or no BasicConstraints: a v1 certificate)
    // can be an issuer (RFC 5280 §4.2.1.9 and §6.1.4 (k)); a leaf's subject is not kept.
    const canIssue = c.isCa || !c.hasBasicConstraints;
    const subjectKey = canIssue ? (selfIssued ? issuerKey : this.keys.id(latin1(b, c.subjectStart, c.subjectEnd))) : -1;
    if (canIssue) this.subjectKeys.set(i, subjectKey);
    // The subject key identifier matters for linking an issuer, or a certificate to itself.
    if (c.skiStart >= 0 && (canIssue || selfIssued)) this.skis.set(i, this.keys.id(latin1(b, c.skiStart, c.skiEnd)));

    const aki = c.akiStart >= 0 ? this.keys.id(latin1(b, c.akiStart, c.akiEnd)) : -1;
    // The issuer's name as shown follows from its DER, so (name, key identifier) picks one text.
    const refKey = `${issuerKey} ${aki}`;
    let ref = this.refIds.get(refKey);
    if (ref === undefined) {
      ref = this.refTexts.length;
      this.refIds.set(refKey, ref);
      this.refTexts.push(c.issuer);
      this.refKeys.push(issuerKey);
      this.refAkis.push(aki);
    }
    this.issuerRefs[i] = ref;
    // --verify checks signatures as certificates come, so it indexes every subject now; the names
    // alone are linked in `finish`, where only the subjects some certificate names as issuer are indexed.
    if (this.opts.verify) {
      if (canIssue) this.index(i, subjectKey);
      await this.verifyEarly(i, c, canIssue, selfIssued);
    }
  }

  private index(i: number, subjectKey: number): void {
    const first = this.firstBySubject.get(subjectKey);
    if (first === undefined) this.firstBySubject.set(subjectKey, i);
    else {
      this.nextSame.set(this.lastBySubject.get(subjectKey) ?? first, i);
      this.lastBySubject.set(subjectKey, i);
    }
  }

  /** The issuer key as bytes, one object per key (src/io/node-signature.ts keeps a KeyObject per object). */
  private keyBytes(spki: string): Bytes {
    let bytes = this.spkiBytes.get(spki);
    if (!bytes) this.spkiBytes.set(spki, (bytes = fromLatin1(spki)));
    return bytes;
  }

  private setChain(i: number, chain: ChainStatus, issuer = -1): void {
    this.setCodes(i, this.statusAt(i), chain, this.keyAt(i));
    this.chainIssuers[i] = issuer;
  }

  /** Row i's issuer name as a `keys` id; -1 without a certificate. */
  private issuerKeyOf(i: number): number {
    const ref = this.issuerRefs[i]!;
    return ref < 0 ? -1 : this.refKeys[ref]!;
  }

  /** Row i's authority key identifier as a `keys` id; -1 when it has none. */
  private akiOf(i: number): number {
    const ref = this.issuerRefs[i]!;
    return ref < 0 ? -1 : this.refAkis[ref]!;
  }

  /** The rows with the subject name `name` (a `keys` id), in reading order. */
  private *named(name: number): Generator<number> {
    for (let j = name < 0 ? undefined : this.firstBySubject.get(name); j !== undefined; j = this.nextSame.get(j)) yield j;
  }

  /** --verify: the checks that can be made with the certificates read so far. */
  private async verifyEarly(i: number, c: CertificateScan, canIssue: boolean, selfIssued: boolean): Promise<void> {
    const b = c.der;
    // The key is kept only where it may verify a signature: its own, or (an issuer) another's.
    const spki = canIssue || selfIssued ? latin1(b, c.spkiStart, c.spkiEnd) : undefined;
    if (canIssue && spki !== undefined) this.spkis.set(i, spki);
    const oidKey = latin1(b, c.sigOidStart, c.sigOidEnd);
    let sigOid = this.sigOids.get(oidKey);
    if (sigOid === undefined) {
      sigOid = readOid({ tag: 0x06, constructed: false, content: b.subarray(c.sigOidStart, c.sigOidEnd), encoded: b.subarray(c.sigOidStart, c.sigOidEnd) });
      this.sigOids.set(oidKey, sigOid);
    }
    const tbs = b.subarray(c.tbsStart, c.tbsEnd);
    const signature = b.subarray(c.signatureStart, c.signatureEnd);
    if (selfIssued && spki !== undefined && (await this.opts.verifySignature(sigOid, this.keyBytes(spki), signature, tbs))) {
      this.setChain(i, "self-signed");
      return;
    }
    const tried = new Set<string>();
    if (selfIssued && spki !== undefined) tried.add(spki);
    for (const j of this.named(this.issuerKeyOf(i))) {
      const candidate = this.spkis.get(j);
      if (j === i || candidate === undefined || tried.has(candidate)) continue;
      tried.add(candidate);
      if (await this.opts.verifySignature(sigOid, this.keyBytes(candidate), signature, tbs)) {
        this.setChain(i, "ok", j);
        return;
      }
    }
    this.pending.set(i, { sigOid, tbs: tbs.slice(), signature: signature.slice(), tried });
  }

  /** --verify: the certificates read after row i that may have signed it. */
  private async verifyLate(i: number, p: Pending): Promise<void> {
    let named = false;
    for (const j of this.named(this.issuerKeyOf(i))) {
      if (j === i) continue;
      named = true;
      const candidate = this.spkis.get(j);
      if (candidate === undefined || p.tried.has(candidate)) continue;
      p.tried.add(candidate);
      if (await this.opts.verifySignature(p.sigOid, this.keyBytes(candidate), p.signature, p.tbs)) {
        this.setChain(i, "ok", j);
        return;
      }
    }
    const aki = this.akiOf(i);
    const claimsSelf = this.selfIssued.has(i) && (aki < 0 || aki === this.skis.get(i));
    this.setChain(i, named || claimsSelf ? "bad signature" : "unknown issuer");
  }

  /** Without --verify: the issuer by names and key identifiers. */
  private link(i: number): void {
    const selfIssued = this.selfIssued.has(i);
    const aki = this.akiOf(i);
    if (selfIssued && aki >= 0 && aki === this.skis.get(i)) return this.setChain(i, "self-issued");
    let byName = -1;
    for (const j of this.named(this.issuerKeyOf(i))) {
      if (j === i) continue;
      const ski = this.skis.get(j);
      if (aki >= 0 && ski === aki) return this.setChain(i, "linked", j);
      if (byName < 0 && (aki < 0 || ski === undefined)) byName = j;
    }
    // Issuer and subject names equal, no authority key identifier: a CA is taken as its own issuer; a
    // leaf (which cannot issue) as issued by a CA of that name when one was read (cfssl gives a
    // server certificate its CA's name and no authority key identifier).
    const canIssue = this.subjectKeys.has(i);
    if (selfIssued && aki < 0 && (canIssue || byName < 0)) this.setChain(i, "self-issued");
    else if (byName >= 0) this.setChain(i, "linked", byName);
    else this.setChain(i, "unknown issuer");
  }

  /** Links every chain, sets every status; the table is complete after it. */
  async finish(): Promise<DetailedRowTable> {
    const { now, thresholds } = this.opts;
    const nowMs = now.getTime();
    if (!this.opts.verify) {
      const issuerNames = new Set(this.refKeys);
      for (const [i, subjectKey] of this.subjectKeys) if (issuerNames.has(subjectKey)) this.index(i, subjectKey);
    }
    for (let i = 0; i < this.count; i++) {
      if (this.issuerRefs[i]! < 0) continue; // no certificate
      const pending = this.pending.get(i);
      if (!this.opts.verify) this.link(i);
      else if (pending) await this.verifyLate(i, pending);
      const chain = this.chainAt(i);
      const key = this.keyAt(i);
      const [nb, na] = this.times(i) ?? [Number.NaN, Number.NaN];
      const status: RowStatus =
        chain === "bad signature" || key === "MISMATCH" ? "INVALID" : nb > nowMs ? "NOT YET VALID" : residualStatus(Math.trunc((na - nowMs) / 1000), thresholds);
      this.setCodes(i, status, chain, key);
      if (chain === "bad signature") this.errors.set(i, "signature does not verify with the issuer found");
      else if (key === "MISMATCH") this.errors.set(i, `${this.keyPaths.get(i)} does not belong to this certificate`);
    }
    // What linking needed is not needed any more.
    this.keys = new Interned();
    this.subjectKeys = new Map();
    this.selfIssued = new Set();
    this.refKeys = [];
    this.nextSame = new Map();
    this.skis = new Map();
    this.refAkis = [];
    this.spkis = new Map();
    this.firstBySubject = new Map();
    this.lastBySubject = new Map();
    this.pending = new Map();
    this.spkiBytes.clear();
    return this;
  }
}
