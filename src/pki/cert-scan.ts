import type { Bytes } from "./der.js";
import { readOid, type DerNode } from "./der.js";
import { EXTENSION_OIDS } from "./extensions.js";
import { NAME_OIDS } from "./name.js";

/**
 * A certificate's expiry facts, read by walking its DER once without building a tree of nodes:
 * what `certs check-expiration --scan` reports of each of thousands of files. It accepts exactly
 * the bytes parseCertificateDer (cert.ts) accepts, with the same DER rules (definite minimal
 * lengths, one-byte tags, nothing after the certificate, every element of the certificate, the
 * TBSCertificate, the names, the validity and the extensions kpki reads well-formed); on anything
 * else it returns undefined and the caller asks parseCertificateDer for the message.
 * test/expiry/cert-scan.test.ts compares the two on valid and mutated certificates.
 */
export interface CertificateScan {
  /** The bytes walked; the ranges below are offsets into it. */
  readonly der: Bytes;
  readonly serialHex: string;
  /** Subject and issuer as formatName prints them (`O=a, CN=b`). */
  readonly subject: string;
  readonly issuer: string;
  /** The encoded Name elements, [start, end). */
  readonly subjectStart: number;
  readonly subjectEnd: number;
  readonly issuerStart: number;
  readonly issuerEnd: number;
  /** Milliseconds since the epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly isCa: boolean;
  /** Whether a BasicConstraints extension is present (a certificate without one may be a v1 CA). */
  readonly hasBasicConstraints: boolean;
  /** SubjectKeyIdentifier and AuthorityKeyIdentifier keyIdentifier contents, [start, end); -1 when absent. */
  readonly skiStart: number;
  readonly skiEnd: number;
  readonly akiStart: number;
  readonly akiEnd: number;
  readonly spkiStart: number;
  readonly spkiEnd: number;
  readonly tbsStart: number;
  readonly tbsEnd: number;
  /** The signature algorithm's OID element content, and the signature bits after the unused-bits byte. */
  readonly sigOidStart: number;
  readonly sigOidEnd: number;
  readonly signatureStart: number;
  readonly signatureEnd: number;
}

/** Thrown inside the walk; never leaves this module. */
class Reject extends Error {}
const reject = (): never => {
  throw new Reject();
};

// The element read last (readElement's rules, der.ts): tag, content [start, end).
let tag = 0;
let start = 0;
let end = 0;

/** Reads the element at `pos` inside [.., limit): readElement's strict rules. Returns the position after it. */
function element(b: Bytes, pos: number, limit: number): number {
  if (pos >= limit) reject();
  tag = b[pos]!;
  if ((tag & 0x1f) === 0x1f) reject();
  let p = pos + 1;
  if (p >= limit) reject();
  const first = b[p++]!;
  let length = first;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) reject();
    length = 0;
    for (let i = 0; i < count; i++) {
      if (p >= limit) reject();
      const x = b[p++]!;
      if (i === 0 && x === 0) reject();
      length = length * 256 + x;
    }
    if (length < 0x80) reject();
  }
  start = p;
  end = p + length;
  if (end > limit) reject();
  return end;
}

/** Checks that [from, to) is a run of well-formed elements (what `children` reads). */
function elements(b: Bytes, from: number, to: number): void {
  for (let p = from; p < to; ) p = element(b, p, to);
}

/** One element spanning exactly [from, to) (decodeOne); leaves it in tag/start/end. */
function one(b: Bytes, from: number, to: number): void {
  if (element(b, from, to) !== to) reject();
}

const constructed = (t: number): boolean => (t & 0x20) !== 0;

/** The OID content [s, e) as readOid's dotted text would compare to `dotted`, for a 2.5.29.x or 2.5.4.x arc. */
function oidIs(b: Bytes, s: number, e: number, dotted: string, second: number, last: number): boolean {
  // The canonical encoding 0x55 <second> <last> is what every encoder writes; any other byte
  // string readOid may still read as the same text (redundant 0x80 bytes), so it is decoded then.
  if (e - s === 3 && b[s] === 0x55 && b[s + 1] === second && b[s + 2] === last) return true;
  if (e - s === 3 && b[s] === 0x55) return false;
  return readOid(nodeAt(b, s, e)) === dotted;
}

/** A DerNode for readOid over content [s, e). */
const nodeAt = (b: Bytes, s: number, e: number): DerNode => ({ tag: 0x06, constructed: false, content: b.subarray(s, e), encoded: b.subarray(s, e) });

const utf8 = new TextDecoder();

/** TextDecoder's reading of [s, e), without a decoder call for ASCII. */
function text(b: Bytes, s: number, e: number): string {
  for (let i = s; i < e; i++) if (b[i]! >= 0x80) return utf8.decode(b.subarray(s, e));
  return latin1(b, s, e);
}

/** Plain arrays of char codes by length, reused (resizing one array each call costs more than the copy). */
const codeArrays: number[][] = [];

/**
 * Bytes [s, e) as one char code each, made as one flat string: `+=` per character builds a rope,
 * and fromCharCode.apply over a plain array is about 2.5x faster than over a typed array (Node 20).
 */
export function latin1(b: Uint8Array, s: number, e: number): string {
  const n = e - s;
  if (n > 1024) return latin1(b, s, s + 1024) + latin1(b, s + 1024, e);
  const codes = (codeArrays[n] ??= new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) codes[i] = b[s + i]!;
  return String.fromCharCode.apply(null, codes);
}

/** readName over the Name element's content [s, e), formatted as formatName does. */
function name(b: Bytes, s: number, e: number): string {
  let commonName = "";
  let orgs: string[] | undefined;
  for (let p = s; p < e; ) {
    p = element(b, p, e);
    if (!constructed(tag)) reject();
    const rdnEnd = end;
    for (let q = start; q < rdnEnd; ) {
      q = element(b, q, rdnEnd);
      if (!constructed(tag)) reject();
      const atvEnd = end;
      // [type, value, ...]: readName skips an attribute with fewer than two elements.
      if (start === atvEnd) continue;
      const afterType = element(b, start, atvEnd);
      const typeTag = tag;
      const ts = start;
      const te = end;
      if (afterType >= atvEnd) {
        continue;
      }
      element(b, afterType, atvEnd);
      const vs = start;
      const ve = end;
      if (end < atvEnd) elements(b, end, atvEnd);
      if (typeTag !== 0x06) reject();
      if (oidIs(b, ts, te, NAME_OIDS.commonName, 0x04, 0x03)) commonName = text(b, vs, ve);
      else if (oidIs(b, ts, te, NAME_OIDS.organization, 0x04, 0x0a)) (orgs ??= []).push(`O=${text(b, vs, ve)}`);
    }
  }
  // join makes one flat string (a template literal of several parts would keep a rope in every row).
  if (commonName) (orgs ??= []).push(`CN=${commonName}`);
  return orgs ? orgs.join(", ") : "(empty)";
}

/** readTime: UTCTime YYMMDDHHMM[SS]Z or GeneralizedTime YYYYMMDDHHMMSS[.f+]Z, through Date.UTC as it does. */
function time(b: Bytes, t: number, s: number, e: number): number {
  const d = (i: number): number => {
    const c = b[s + i]! - 0x30;
    if (!(c >= 0 && c <= 9) || s + i >= e) reject();
    return c;
  };
  const two = (i: number): number => d(i) * 10 + d(i + 1);
  const n = e - s;
  if (t === 0x17 && (n === 11 || n === 13) && b[e - 1] === 0x5a) {
    const yy = two(0);
    return Date.UTC(yy < 50 ? 2000 + yy : 1900 + yy, two(2) - 1, two(4), two(6), two(8), n === 13 ? two(10) : 0);
  }
  if (t === 0x18 && n >= 15 && b[e - 1] === 0x5a) {
    if (n !== 15) {
      if (b[s + 14] !== 0x2e || n < 17) reject();
      for (let i = 15; i < n - 1; i++) d(i);
    }
    const frac = n === 15 ? 0 : Number(`${text(b, s + 15, Math.min(e - 1, s + 18))}`.padEnd(3, "0"));
    return Date.UTC(two(0) * 100 + two(2), two(4) - 1, two(6), two(8), two(10), two(12), frac);
  }
  return reject();
}

const HEX_DIGITS = Uint8Array.from("0123456789abcdef", (c) => c.charCodeAt(0));
const hexScratch = new Uint8Array(2 * 64);

/** Lower-case hex of [s, e), as bytesToHex writes it. */
function hex(b: Bytes, s: number, e: number): string {
  if (e - s > 64) return hex(b, s, s + 64) + hex(b, s + 64, e);
  let n = 0;
  for (let i = s; i < e; i++) {
    hexScratch[n++] = HEX_DIGITS[b[i]! >> 4]!;
    hexScratch[n++] = HEX_DIGITS[b[i]! & 15]!;
  }
  return latin1(hexScratch, 0, n);
}

/** The expiry facts of one DER certificate, or undefined where parseCertificateDer would throw. */
export function scanCertificate(der: Bytes): CertificateScan | undefined {
  try {
    return walk(der);
  } catch (error) {
    if (error instanceof Reject) return undefined;
    throw error;
  }
}

// Up to this many TBSCertificate elements are remembered (version, serial, signature, issuer,
// validity, subject, spki and the optional unique ids); any further ones are only checked.
const TBS_SLOTS = 10;
const tbsTag = new Int32Array(TBS_SLOTS);
const tbsStart = new Int32Array(TBS_SLOTS);
const tbsEnd = new Int32Array(TBS_SLOTS);
const tbsHead = new Int32Array(TBS_SLOTS);

function walk(b: Bytes): CertificateScan {
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } (more elements are
  // tolerated, as parseCertificateDer does, but must be well-formed).
  one(b, 0, b.length);
  if (!constructed(tag)) reject();
  const certEnd = end;
  let p = start;
  const tbsAt = p;
  p = element(b, p, certEnd);
  if (tag !== 0x30) reject();
  const tS = start;
  const tE = end;
  p = element(b, p, certEnd);
  const algTag = tag;
  const algS = start;
  const algE = end;
  p = element(b, p, certEnd);
  if (tag !== 0x03) reject();
  const sigS = start;
  const sigE = end;
  elements(b, p, certEnd);

  // TBSCertificate: [0] version, serial, signature, issuer, validity, subject, spki, [1], [2], [3] extensions.
  let count = 0;
  let extS = -1;
  let extE = -1;
  for (let q = tS; q < tE; count++) {
    const head = q;
    q = element(b, q, tE);
    if (count < TBS_SLOTS) {
      tbsTag[count] = tag;
      tbsStart[count] = start;
      tbsEnd[count] = end;
      tbsHead[count] = head;
    }
    if (tag === 0xa3 && extS < 0) {
      extS = start;
      extE = end;
    }
  }
  if (count < 6) reject();
  const off = tbsTag[0] === 0xa0 ? 1 : 0;
  if (count <= off + 5 || tbsTag[off] !== 0x02) reject();
  const [serial, issuer, validity, subject, spki] = [off, off + 2, off + 3, off + 4, off + 5];

  // Validity ::= SEQUENCE { notBefore, notAfter } (children are read, so it must be constructed).
  if (!constructed(tbsTag[validity]!)) reject();
  const vE = tbsEnd[validity]!;
  let v = element(b, tbsStart[validity]!, vE);
  const nbTag = tag;
  const nbS = start;
  const nbE = end;
  v = element(b, v, vE);
  const notAfter = time(b, tag, start, end);
  elements(b, v, vE);
  const notBefore = time(b, nbTag, nbS, nbE);

  if (!constructed(tbsTag[subject]!) || !constructed(tbsTag[issuer]!)) reject();
  const subjectText = name(b, tbsStart[subject]!, tbsEnd[subject]!);
  const issuerText = name(b, tbsStart[issuer]!, tbsEnd[issuer]!);

  // AlgorithmIdentifier: its first element is the OID.
  if (!constructed(algTag)) reject();
  const afterOid = element(b, algS, algE);
  if (tag !== 0x06) reject();
  const sigOidStart = start;
  const sigOidEnd = end;
  elements(b, afterOid, algE);

  let isCa = false;
  let hasBasicConstraints = false;
  let skiStart = -1;
  let skiEnd = -1;
  let akiStart = -1;
  let akiEnd = -1;
  if (extS >= 0) {
    // [3] EXPLICIT Extensions: its first element must be there and be constructed.
    if (extS >= extE) reject();
    const afterList = element(b, extS, extE);
    if (!constructed(tag)) reject();
    const listS = start;
    const listE = end;
    elements(b, afterList, extE);
    for (let q = listS; q < listE; ) {
      q = element(b, q, listE);
      if (!constructed(tag)) reject();
      const fE = end;
      // Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }: the first element an
      // OID, the last an OCTET STRING.
      let f = element(b, start, fE);
      if (tag !== 0x06) reject();
      const oS = start;
      const oE = end;
      let lastTag = tag;
      let vS = start;
      let vEnd = end;
      while (f < fE) {
        f = element(b, f, fE);
        lastTag = tag;
        vS = start;
        vEnd = end;
      }
      if (lastTag !== 0x04) reject();
      if (oidIs(b, oS, oE, EXTENSION_OIDS.basicConstraints, 0x1d, 0x13)) {
        hasBasicConstraints = true;
        one(b, vS, vEnd);
        if (!constructed(tag)) reject();
        const bE = end;
        if (start < bE) {
          const next = element(b, start, bE);
          isCa = tag === 0x01 && (start === end || b[start] !== 0);
          elements(b, next, bE);
        } else isCa = false;
      } else if (oidIs(b, oS, oE, EXTENSION_OIDS.keyUsage, 0x1d, 0x0f)) {
        one(b, vS, vEnd);
        if (tag !== 0x03) reject();
      } else if (oidIs(b, oS, oE, EXTENSION_OIDS.extKeyUsage, 0x1d, 0x25)) {
        one(b, vS, vEnd);
        if (!constructed(tag)) reject();
        const kE = end;
        for (let k = start; k < kE; ) {
          k = element(b, k, kE);
          if (tag !== 0x06) reject();
        }
      } else if (oidIs(b, oS, oE, EXTENSION_OIDS.subjectAltName, 0x1d, 0x11)) {
        one(b, vS, vEnd);
        if (!constructed(tag)) reject();
        elements(b, start, end);
      } else if (oidIs(b, oS, oE, EXTENSION_OIDS.subjectKeyIdentifier, 0x1d, 0x0e)) {
        one(b, vS, vEnd);
        skiStart = start;
        skiEnd = end;
      } else if (oidIs(b, oS, oE, EXTENSION_OIDS.authorityKeyIdentifier, 0x1d, 0x23)) {
        one(b, vS, vEnd);
        if (!constructed(tag)) reject();
        const aE = end;
        akiStart = -1;
        akiEnd = -1;
        for (let a = start; a < aE; ) {
          a = element(b, a, aE);
          if (tag === 0x80 && akiStart < 0) {
            akiStart = start;
            akiEnd = end;
          }
        }
      }
    }
  }

  let sS = tbsStart[serial]!;
  const sE = tbsEnd[serial]!;
  if (b[sS] === 0 && sE - sS > 1) sS++;
  return {
    der: b,
    serialHex: hex(b, sS, sE),
    subject: subjectText,
    issuer: issuerText,
    subjectStart: tbsHead[subject]!,
    subjectEnd: tbsEnd[subject]!,
    issuerStart: tbsHead[issuer]!,
    issuerEnd: tbsEnd[issuer]!,
    notBefore,
    notAfter,
    isCa,
    hasBasicConstraints,
    skiStart,
    skiEnd,
    akiStart,
    akiEnd,
    spkiStart: tbsHead[spki]!,
    spkiEnd: tbsEnd[spki]!,
    tbsStart: tbsAt,
    tbsEnd: tE,
    sigOidStart,
    sigOidEnd,
    signatureStart: Math.min(sigS + 1, sigE),
    signatureEnd: sigE,
  };
}
