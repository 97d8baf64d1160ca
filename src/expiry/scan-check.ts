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
 * The rows of the detailed table, added in order; `finish` links the chains and sets the statuses.
 * Rows are kept column by column (plain arrays of numbers are stored unboxed by V8): about 200
 * bytes a certificate, plus the names and key identifiers used for linking until `finish`.
 */
export class DetailedRows implements DetailedRowTable {
  private count = 0;
  private readonly names: string[];
  /** The path where it is not the name. */
  private readonly paths = new Map<number, string>();
  private readonly subjects: (string | undefined)[];
  private readonly issuers: (string | undefined)[];
  private readonly serials: (string | undefined)[];
  private notBefores: Float64Array;
  private notAfters: Float64Array;
  /** STATUSES index + 8 × CHAINS index + 64 × KEYS index. */
  private codes: Int32Array;
  /** The row index of the issuer found, or -1. */
  private chainIssuers: Int32Array;
  private readonly keyPaths = new Map<number, string>();
  private readonly errors = new Map<number, string>();
  private readonly unreadable = new Set<number>();
  // For linking; dropped by `finish`.
  /** Subject names of the certificates that can be issuers. */
  private subjectKeys: (string | undefined)[];
  /** Rows whose issuer name is their subject name. */
  private selfIssued = new Set<number>();
  private issuerKeys: (string | undefined)[];
  private skis = new Map<number, string>();
  private akis: (string | undefined)[];
  private spkis = new Map<number, string>();
  /** The next row with the same subject name, in reading order (only rows that can be issuers are indexed). */
  private nextSame = new Map<number, number>();
  private firstBySubject = new Map<string, number>();
  private lastBySubject = new Map<string, number>();
  private pending = new Map<number, Pending>();
  private readonly strings = new Map<string, string>();
  private readonly spkiBytes = new Map<string, Bytes>();
  private readonly sigOids = new Map<string, string>();
  /** name\0path of the rows added by addFound, to list each once. */
  private readonly seen = new Set<string>();
  private readonly opts: DetailedRowsOptions;

  /**
   * `expected`: about how many rows will be added (say the number of files scanned). The columns
   * are made that long at once: growing a column of 100,000 by copies leaves about twice its
   * size behind for the garbage collector, which at that size shows in the peak memory.
   */
  constructor(opts: DetailedRowsOptions, expected = 0) {
    this.opts = opts;
    const column = (): undefined[] => Array.from({ length: expected }, () => undefined);
    this.names = [];
    this.subjects = column();
    this.issuers = column();
    this.serials = column();
    this.subjectKeys = column();
    this.issuerKeys = column();
    this.akis = column();
    this.notBefores = new Float64Array(expected);
    this.notAfters = new Float64Array(expected);
    this.codes = new Int32Array(expected);
    this.chainIssuers = new Int32Array(expected);
  }

  get length(): number {
    return this.count;
  }

  /** Room in the typed columns for row i. */
  private grow(i: number): void {
    if (i < this.codes.length) return;
    const size = Math.max(16, 2 * i);
    const grown = <A extends Float64Array | Int32Array>(a: A, make: (n: number) => A): A => {
      const b = make(size);
      b.set(a);
      return b;
    };
    this.notBefores = grown(this.notBefores, (n) => new Float64Array(n));
    this.notAfters = grown(this.notAfters, (n) => new Float64Array(n));
    this.codes = grown(this.codes, (n) => new Int32Array(n));
    this.chainIssuers = grown(this.chainIssuers, (n) => new Int32Array(n));
  }

  row(i: number): DetailedRow {
    const nb = this.notBefores[i]!;
    const na = this.notAfters[i]!;
    const issuerRow = this.chainIssuers[i]!;
    const hasCert = !Number.isNaN(na);
    return {
      name: this.names[i]!,
      path: this.paths.get(i) ?? this.names[i]!,
      subject: this.subjects[i],
      issuer: this.issuers[i],
      serialNumber: this.serials[i],
      notBefore: hasCert ? new Date(nb) : undefined,
      notAfter: hasCert ? new Date(na) : undefined,
      residualTime: hasCert ? Math.trunc((na - this.opts.now.getTime()) / 1000) : undefined,
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

  /** One string object for equal strings (issuer names and key identifiers repeat across thousands of rows). */
  private intern(s: string): string {
    const known = this.strings.get(s);
    if (known !== undefined) return known;
    this.strings.set(s, s);
    return s;
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
    this.names.push(row.name);
    if (row.path !== row.name) this.paths.set(i, row.path);
    const c = row.certificate;
    this.chainIssuers[i] = -1;
    if (!c) {
      this.subjects[i] = undefined;
      this.issuers[i] = undefined;
      this.serials[i] = undefined;
      this.notBefores[i] = Number.NaN;
      this.notAfters[i] = Number.NaN;
      this.setCodes(i, row.missing ? "MISSING" : "INVALID", "-", "-");
      this.subjectKeys[i] = undefined;
      this.issuerKeys[i] = undefined;
      this.akis[i] = undefined;
      if (row.error !== undefined) this.errors.set(i, row.error);
      if (row.unreadable) this.unreadable.add(i);
      return;
    }
    const b = c.der;
    this.subjects[i] = c.subject;
    this.issuers[i] = this.intern(c.issuer);
    this.serials[i] = c.serialHex;
    this.notBefores[i] = c.notBefore;
    this.notAfters[i] = c.notAfter;
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
    const issuerKey = this.intern(latin1(b, c.issuerStart, c.issuerEnd));
    this.issuerKeys[i] = issuerKey;
    const subjectKey = latin1(b, c.subjectStart, c.subjectEnd);
    if (subjectKey === issuerKey) this.selfIssued.add(i);
    // Only a CA certificate (BasicConstraints cA TRUE, or no BasicConstraints: a v1 certificate)
    // can be an issuer (RFC 5280 §4.2.1.9 and §6.1.4 (k)); a leaf's subject is not kept.
    const canIssue = c.isCa || !c.hasBasicConstraints;
    if (canIssue) this.subjectKeys[i] = subjectKey;
    // The subject key identifier matters for linking an issuer, or a certificate to itself.
    if (c.skiStart >= 0 && (canIssue || subjectKey === issuerKey)) this.skis.set(i, latin1(b, c.skiStart, c.skiEnd));

    this.akis[i] = c.akiStart >= 0 ? this.intern(latin1(b, c.akiStart, c.akiEnd)) : undefined;
    // --verify checks signatures as certificates come, so it indexes every subject now; the names
    // alone are linked in `finish`, where only the subjects some certificate names as issuer are indexed.
    if (this.opts.verify) {
      if (canIssue) this.index(i, subjectKey);
      await this.verifyEarly(i, c);
    }
  }

  private index(i: number, subjectKey: string): void {
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

  /** The rows with the subject name `name`, in reading order. */
  private *named(name: string | undefined): Generator<number> {
    for (let j = name === undefined ? undefined : this.firstBySubject.get(name); j !== undefined; j = this.nextSame.get(j)) yield j;
  }

  /** --verify: the checks that can be made with the certificates read so far. */
  private async verifyEarly(i: number, c: CertificateScan): Promise<void> {
    const b = c.der;
    const spki = this.intern(latin1(b, c.spkiStart, c.spkiEnd));
    this.spkis.set(i, spki);
    const oidKey = latin1(b, c.sigOidStart, c.sigOidEnd);
    let sigOid = this.sigOids.get(oidKey);
    if (sigOid === undefined) {
      sigOid = readOid({ tag: 0x06, constructed: false, content: b.subarray(c.sigOidStart, c.sigOidEnd), encoded: b.subarray(c.sigOidStart, c.sigOidEnd) });
      this.sigOids.set(oidKey, sigOid);
    }
    const tbs = b.subarray(c.tbsStart, c.tbsEnd);
    const signature = b.subarray(c.signatureStart, c.signatureEnd);
    const selfIssued = this.selfIssued.has(i);
    if (selfIssued && (await this.opts.verifySignature(sigOid, this.keyBytes(spki), signature, tbs))) {
      this.setChain(i, "self-signed");
      return;
    }
    const tried = new Set<string>();
    if (selfIssued) tried.add(spki);
    for (const j of this.named(this.issuerKeys[i])) {
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
    for (const j of this.named(this.issuerKeys[i])) {
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
    const aki = this.akis[i];
    const claimsSelf = this.selfIssued.has(i) && (aki === undefined || aki === this.skis.get(i));
    this.setChain(i, named || claimsSelf ? "bad signature" : "unknown issuer");
  }

  /** Without --verify: the issuer by names and key identifiers. */
  private link(i: number): void {
    const selfIssued = this.selfIssued.has(i);
    const aki = this.akis[i];
    if (selfIssued && aki !== undefined && aki === this.skis.get(i)) return this.setChain(i, "self-issued");
    let byName = -1;
    for (const j of this.named(this.issuerKeys[i])) {
      if (j === i) continue;
      const ski = this.skis.get(j);
      if (aki !== undefined && ski === aki) return this.setChain(i, "linked", j);
      if (byName < 0 && (aki === undefined || ski === undefined)) byName = j;
    }
    // Issuer and subject names equal, no authority key identifier: a CA is taken as its own issuer; a
    // leaf (which cannot issue) as issued by a CA of that name when one was read (cfssl gives a
    // server certificate its CA's name and no authority key identifier).
    const canIssue = this.subjectKeys[i] !== undefined;
    if (selfIssued && aki === undefined && (canIssue || byName < 0)) this.setChain(i, "self-issued");
    else if (byName >= 0) this.setChain(i, "linked", byName);
    else this.setChain(i, "unknown issuer");
  }

  /** Links every chain, sets every status; the table is complete after it. */
  async finish(): Promise<DetailedRowTable> {
    const { now, thresholds } = this.opts;
    const nowMs = now.getTime();
    if (!this.opts.verify) {
      const issuerNames = new Set(this.issuerKeys);
      for (let i = 0; i < this.count; i++) {
        const subjectKey = this.subjectKeys[i];
        if (subjectKey !== undefined && issuerNames.has(subjectKey)) this.index(i, subjectKey);
      }
    }
    for (let i = 0; i < this.count; i++) {
      if (this.issuerKeys[i] === undefined) continue; // no certificate
      const pending = this.pending.get(i);
      if (!this.opts.verify) this.link(i);
      else if (pending) await this.verifyLate(i, pending);
      const chain = this.chainAt(i);
      const key = this.keyAt(i);
      const nb = this.notBefores[i]!;
      const na = this.notAfters[i]!;
      const status: RowStatus =
        chain === "bad signature" || key === "MISMATCH" ? "INVALID" : nb > nowMs ? "NOT YET VALID" : residualStatus(Math.trunc((na - nowMs) / 1000), thresholds);
      this.setCodes(i, status, chain, key);
      if (chain === "bad signature") this.errors.set(i, "signature does not verify with the issuer found");
      else if (key === "MISMATCH") this.errors.set(i, `${this.keyPaths.get(i)} does not belong to this certificate`);
    }
    // What linking needed is not needed any more.
    this.subjectKeys = [];
    this.selfIssued = new Set();
    this.issuerKeys = [];
    this.nextSame = new Map();
    this.skis = new Map();
    this.akis = [];
    this.spkis = new Map();
    this.firstBySubject = new Map();
    this.lastBySubject = new Map();
    this.pending = new Map();
    this.spkiBytes.clear();
    return this;
  }
}
