/**
 * A minimal DER encoder. We build the few structures whose exact bytes matter
 * (names, extensions, key containers) ourselves, so that every byte can be
 * compared with what Go's crypto/x509 (and so kubeadm) writes. readElement below
 * decodes what kpki reads leniently; der-strict.ts reads input that must have
 * exactly one reading (the approver's requests).
 */

import { PkiError } from "../errors.js";

/** Byte arrays backed by a plain ArrayBuffer (what WebCrypto accepts). */
export type Bytes = Uint8Array<ArrayBuffer>;

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  ia5String: 0x16,
  sequence: 0x30,
  set: 0x31,
} as const;

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Bytes {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** How many bytes the DER length of `length` takes (X.690 §8.1.3: short form, else the fewest long-form bytes). */
function lengthSize(length: number): number {
  let size = 1;
  if (length >= 0x80) for (let n = length; n > 0; n = Math.floor(n / 256)) size++;
  return size;
}

/** The tag and length of an element with `length` content bytes, in a buffer with room for the content. */
function header(tag: number, length: number): { out: Bytes; at: number } {
  const size = lengthSize(length);
  const out = new Uint8Array(1 + size + length);
  out[0] = tag;
  if (size === 1) out[1] = length;
  else {
    out[1] = 0x80 | (size - 1);
    for (let i = size, n = length; i > 1; i--, n = Math.floor(n / 256)) out[i] = n & 0xff;
  }
  return { out, at: 1 + size };
}

/** Tag-length-value with a one-byte tag. */
export function tlv(tag: number, content: Uint8Array): Bytes {
  const { out, at } = header(tag, content.length);
  out.set(content, at);
  return out;
}

/** SEQUENCE of the items, written once. */
export function sequence(...items: Uint8Array[]): Bytes {
  let length = 0;
  for (const item of items) length += item.length;
  const { out } = header(TAG.sequence, length);
  let at = out.length - length;
  for (const item of items) {
    out.set(item, at);
    at += item.length;
  }
  return out;
}

/** Byte-wise order, shorter first on a common prefix: the order of a DER SET OF (X.690 §11.6). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** SET OF, members sorted by their encodings as DER (X.690 §11.6) and as Go's encoding/asn1 does. */
export const setOf = (items: readonly Bytes[]): Bytes =>
  tlv(TAG.set, concat([...items].sort(compareBytes)));

/** Context-specific tag number `n`; `constructed` for EXPLICIT or constructed IMPLICIT values. */
export const context = (n: number, content: Bytes, constructed: boolean): Bytes =>
  tlv((constructed ? 0xa0 : 0x80) | n, content);

export const boolean = (value: boolean): Bytes => tlv(TAG.boolean, Uint8Array.of(value ? 0xff : 0x00));
export const nullValue = (): Bytes => Uint8Array.of(TAG.null, 0x00);
export const octetString = (bytes: Bytes): Bytes => tlv(TAG.octetString, bytes);

/** BIT STRING with `unusedBits` padding bits in the last byte. */
export const bitString = (bytes: Bytes, unusedBits = 0): Bytes =>
  tlv(TAG.bitString, concat([Uint8Array.of(unusedBits), bytes]));

/** INTEGER from unsigned big-endian magnitude bytes: minimal, positive (a 0x00 is added before a high bit). */
export function unsignedInteger(magnitude: Bytes): Bytes {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  let body = magnitude.subarray(start);
  if (body.length === 0) body = Uint8Array.of(0);
  if ((body[0] ?? 0) & 0x80) body = concat([Uint8Array.of(0), body]);
  return tlv(TAG.integer, body);
}

export const smallInteger = (value: number): Bytes => unsignedInteger(bigIntToBytes(BigInt(value)));

/** Unsigned big-endian bytes of a non-negative bigint (at least one byte). */
export function bigIntToBytes(value: bigint): Bytes {
  if (value < 0n) throw new RangeError("negative value");
  const hex = value.toString(16);
  return hexToBytes(hex.length % 2 ? `0${hex}` : hex);
}

/** OBJECT IDENTIFIER from dotted text. */
export function oid(dotted: string): Bytes {
  let known = OID_ENCODINGS.get(dotted);
  if (!known) {
    known = encodeOid(dotted);
    if (OID_ENCODINGS.size >= 1024) OID_ENCODINGS.delete(OID_ENCODINGS.keys().next().value!);
    OID_ENCODINGS.set(dotted, known);
  }
  return known.slice();
}
/** Encodings of the OIDs met so far (a few dozen in practice; bounded for untrusted input). */
const OID_ENCODINGS = new Map<string, Bytes>();
function encodeOid(dotted: string): Bytes {
  const arcs = dotted.split(".").map((a) => BigInt(a));
  const [first = 0n, second = 0n, ...rest] = arcs;
  const body: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const chunk: number[] = [];
    let v = arc;
    do {
      chunk.unshift(Number(v & 0x7fn));
      v >>= 7n;
    } while (v > 0n);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i] = (chunk[i] ?? 0) | 0x80;
    body.push(...chunk);
  }
  return tlv(TAG.oid, Uint8Array.from(body));
}

const utf8 = new TextEncoder();
export const utf8String = (text: string): Bytes => tlv(TAG.utf8String, utf8.encode(text));
export const printableString = (text: string): Bytes => tlv(TAG.printableString, utf8.encode(text));
export const ia5String = (text: string): Bytes => tlv(TAG.ia5String, utf8.encode(text));

export function hexToBytes(hex: string): Bytes {
  if (hex.length % 2 !== 0 || /[^0-9a-f]/i.test(hex)) throw new RangeError(`invalid hex: ${hex}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
export function bytesToHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += HEX[b]!;
  return out;
}

/** atob's binary string as bytes. */
function binaryToBytes(binary: string): Bytes {
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function base64UrlToBytes(text: string): Bytes {
  return binaryToBytes(atob(text.replace(/-/g, "+").replace(/_/g, "/")));
}

/** Standard base64's alphabet (RFC 4648 §4), in value order. */
export const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** base64url's (RFC 4648 §5): the same but for its last two characters. */
const BASE64URL_ALPHABET = `${BASE64_ALPHABET.slice(0, 62)}-_`;

/** Unpadded base64url (RFC 4648 §5), as JWK members are written; one pass (a key's JWK is made for every CSR the approver checks). */
export function bytesToBase64Url(bytes: Bytes): string {
  const a = BASE64URL_ALPHABET;
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += a[v >> 18]! + a[(v >> 12) & 63]! + a[(v >> 6) & 63]! + a[v & 63]!;
  }
  if (bytes.length - i === 1) {
    const v = bytes[i]! << 16;
    out += a[v >> 18]! + a[(v >> 12) & 63]!;
  } else if (bytes.length - i === 2) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += a[v >> 18]! + a[(v >> 12) & 63]! + a[(v >> 6) & 63]!;
  }
  return out;
}

export function bytesToBase64(bytes: Bytes): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function base64ToBytes(text: string): Bytes {
  return binaryToBytes(atob(text));
}

/** Each ASCII character's value in standard base64, -1 for the rest. */
const BASE64_VALUES = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < 64; i++) t[BASE64_ALPHABET.charCodeAt(i)] = i;
  return t;
})();

/**
 * Standard base64 with its padding and nothing else (no whitespace, no `=` but at the end),
 * decoded in one pass; undefined for any other text. The bits that padding leaves over are
 * ignored, as atob and Go's base64.StdEncoding ignore them (callers that need canonical base64
 * check them).
 */
export function paddedBase64ToBytes(text: string): Bytes | undefined {
  const n = text.length;
  if (n % 4) return undefined;
  const pad = n && text.charCodeAt(n - 1) === 61 ? (text.charCodeAt(n - 2) === 61 ? 2 : 1) : 0;
  const out = new Uint8Array((n / 4) * 3 - pad);
  const value = (i: number): number => {
    const c = text.charCodeAt(i);
    return c < 128 ? BASE64_VALUES[c]! : -1;
  };
  const whole = pad ? n - 4 : n;
  let o = 0;
  for (let i = 0; i < whole; i += 4) {
    const a = value(i), b = value(i + 1), c = value(i + 2), d = value(i + 3);
    if ((a | b | c | d) < 0) return undefined;
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 255;
    out[o++] = v & 255;
  }
  if (pad) {
    const a = value(whole), b = value(whole + 1), c = pad === 1 ? value(whole + 2) : 0;
    if ((a | b | c) < 0) return undefined;
    const v = (a << 18) | (b << 12) | (c << 6);
    out[o++] = v >> 16;
    if (pad === 1) out[o] = (v >> 8) & 255;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return compareBytes(a, b) === 0;
}

/** One decoded DER element. `content` is the value bytes; `encoded` the whole element. */
export interface DerNode {
  readonly tag: number;
  readonly constructed: boolean;
  readonly content: Bytes;
  readonly encoded: Bytes;
}

/** Raised for bytes that are not strict DER; `offset` is where, when known. */
export class DerError extends PkiError {
  override name = "DerError";
  readonly offset: number | undefined;
  constructor(message: string, offset?: number) {
    super("invalid-input", message);
    this.offset = offset;
  }
}

/**
 * Reads one DER element at `offset`. Strict: definite minimal lengths only,
 * single-byte tags only (all the structures kpki reads use low tag numbers).
 */
export function readElement(bytes: Bytes, offset = 0): { node: DerNode; next: number } {
  const tag = bytes[offset];
  if (tag === undefined) throw new DerError("unexpected end of data");
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte tags are not supported");
  let pos = offset + 1;
  const first = bytes[pos++];
  if (first === undefined) throw new DerError("unexpected end of data in length");
  let length = first;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0) throw new DerError("indefinite length is not DER");
    if (count > 4) throw new DerError("length too large");
    length = 0;
    for (let i = 0; i < count; i++) {
      const b = bytes[pos++];
      if (b === undefined) throw new DerError("unexpected end of data in length");
      if (i === 0 && b === 0) throw new DerError("non-minimal length");
      length = length * 256 + b;
    }
    if (length < 0x80) throw new DerError("non-minimal length");
  }
  const end = pos + length;
  if (end > bytes.length) throw new DerError("element runs past the end of the data");
  return {
    node: {
      tag,
      constructed: (tag & 0x20) !== 0,
      content: bytes.subarray(pos, end),
      encoded: bytes.subarray(offset, end),
    },
    next: end,
  };
}

/** Decodes exactly one element that spans all of `bytes`. */
export function decodeOne(bytes: Bytes): DerNode {
  const { node, next } = readElement(bytes, 0);
  if (next !== bytes.length) throw new DerError("trailing data after the DER element");
  return node;
}

/** The child elements of a constructed element. */
export function children(node: DerNode): DerNode[] {
  if (!node.constructed) throw new DerError(`tag 0x${node.tag.toString(16)} is not constructed`);
  const out: DerNode[] = [];
  let pos = 0;
  while (pos < node.content.length) {
    const { node: child, next } = readElement(node.content, pos);
    out.push(child);
    pos = next;
  }
  return out;
}

/** Dotted text of an OBJECT IDENTIFIER element. */
export function readOid(node: DerNode): string {
  if (node.tag !== TAG.oid) throw new DerError("expected an OBJECT IDENTIFIER");
  const arcs: bigint[] = [];
  let value = 0n;
  for (const b of node.content) {
    value = (value << 7n) | BigInt(b & 0x7f);
    if (!(b & 0x80)) {
      arcs.push(value);
      value = 0n;
    }
  }
  const [head = 0n, ...rest] = arcs;
  const first = head < 80n ? head / 40n : 2n;
  return [first, head - first * 40n, ...rest].join(".");
}

/** Unsigned magnitude of a non-negative INTEGER element (leading zero bytes removed). */
export function readUnsigned(node: DerNode): Bytes {
  if (node.tag !== TAG.integer) throw new DerError("expected an INTEGER");
  if ((node.content[0] ?? 0) & 0x80) throw new DerError("negative INTEGER");
  let start = 0;
  while (start < node.content.length - 1 && node.content[start] === 0) start++;
  return node.content.subarray(start);
}

const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

/** X.509 Time: UTCTime for years 1950-2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5); whole seconds, UTC. */
export function time(date: Date): Bytes {
  const y = date.getUTCFullYear();
  const rest = `${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`;
  const ascii = new TextEncoder();
  return y >= 1950 && y < 2050 ? tlv(0x17, ascii.encode(`${pad(y % 100)}${rest}`)) : tlv(0x18, ascii.encode(`${pad(y, 4)}${rest}`));
}

/** Reads a UTCTime or GeneralizedTime (the `Z` forms RFC 5280 allows, fractions tolerated). */
export function readTime(node: DerNode): Date {
  const text = new TextDecoder().decode(node.content);
  let m: RegExpExecArray | null;
  if (node.tag === 0x17 && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?Z$/.exec(text))) {
    const yy = Number(m[1]);
    return new Date(Date.UTC(yy < 50 ? 2000 + yy : 1900 + yy, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0)));
  }
  if (node.tag === 0x18 && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d+))?Z$/.exec(text))) {
    return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), Number((m[7] ?? "0").slice(0, 3).padEnd(3, "0"))));
  }
  throw new DerError(`invalid time "${text}"`);
}
