import type { Bytes } from "./der.js";
import { DerError, TAG } from "./der.js";

/**
 * A strict DER reader for input that must have exactly one reading: every tag is
 * checked against the schema, every length is definite and minimal (X.690 §10.1),
 * every primitive is in its one canonical form, and no element may follow the
 * last one a structure defines. Errors carry the absolute offset of the element
 * at fault, so a refusal can say where the bytes went wrong.
 */

/** One element read by a DerReader: `offset` is where its tag byte is, counted from the start of the input. */
export interface StrictNode {
  readonly tag: number;
  readonly offset: number;
  readonly content: Bytes;
  readonly encoded: Bytes;
  /** The offset of the first content byte. */
  readonly contentOffset: number;
}

const UNIVERSAL_NAMES: Readonly<Record<number, string>> = {
  0x01: "BOOLEAN", 0x02: "INTEGER", 0x03: "BIT STRING", 0x04: "OCTET STRING", 0x05: "NULL", 0x06: "OBJECT IDENTIFIER",
  0x0c: "UTF8String", 0x12: "NumericString", 0x13: "PrintableString", 0x14: "T61String", 0x16: "IA5String",
  0x17: "UTCTime", 0x18: "GeneralizedTime", 0x1a: "VisibleString", 0x1c: "UniversalString", 0x1e: "BMPString",
  0x30: "SEQUENCE", 0x31: "SET",
};

/** A tag for people: `SEQUENCE`, `[0] constructed`, `tag 0x5f`. */
export function tagName(tag: number): string {
  const known = UNIVERSAL_NAMES[tag];
  if (known) return known;
  if ((tag & 0xc0) === 0x80) return `[${tag & 0x1f}]${tag & 0x20 ? " constructed" : ""}`;
  return `tag 0x${tag.toString(16).padStart(2, "0")}`;
}

/** Raised at a node: the message is prefixed with its offset. */
export const derErrorAt = (offset: number, message: string): DerError => new DerError(`at byte ${offset}: ${message}`, offset);

/** Reads the elements of one input or of one constructed element's content, in order. */
export class DerReader {
  private readonly bytes: Bytes;
  private pos: number;
  private readonly end: number;
  private readonly base: number;
  private readonly what: string;

  /** `bytes` is the input, `base` its offset in the whole input (for errors), `what` the structure's name. */
  constructor(bytes: Bytes, what: string, base = 0) {
    this.bytes = bytes;
    this.pos = 0;
    this.end = bytes.length;
    this.base = base;
    this.what = what;
  }

  /** A reader over a constructed node's content. */
  static inside(node: StrictNode, what: string): DerReader {
    if (!(node.tag & 0x20)) throw derErrorAt(node.offset, `${what} must be constructed`);
    return new DerReader(node.content, what, node.contentOffset);
  }

  /** The absolute offset of the next element. */
  get offset(): number {
    return this.base + this.pos;
  }

  get atEnd(): boolean {
    return this.pos >= this.end;
  }

  /** The next element's tag byte, or undefined at the end. */
  peekTag(): number | undefined {
    return this.atEnd ? undefined : this.bytes[this.pos];
  }

  /** The next element, whatever its tag (lengths still strict). */
  readAny(what: string): StrictNode {
    const start = this.pos;
    const at = this.base + start;
    const tag = this.bytes[start];
    if (tag === undefined || start >= this.end) throw derErrorAt(at, `${what} is missing at the end of ${this.what}`);
    if ((tag & 0x1f) === 0x1f) throw derErrorAt(at, `${what}: multi-byte tags are not used by this schema`);
    let pos = start + 1;
    const first = this.bytes[pos++];
    if (first === undefined || pos > this.end) throw derErrorAt(at, `${what}: the length is cut off`);
    let length = first;
    if (first & 0x80) {
      const count = first & 0x7f;
      if (count === 0) throw derErrorAt(at, `${what}: indefinite length is not DER`);
      if (count > 4) throw derErrorAt(at, `${what}: a ${count}-byte length is too large`);
      length = 0;
      for (let i = 0; i < count; i++) {
        const b = this.bytes[pos++];
        if (b === undefined || pos > this.end) throw derErrorAt(at, `${what}: the length is cut off`);
        if (i === 0 && b === 0) throw derErrorAt(at, `${what}: the length has a leading zero byte (not minimal, so not DER)`);
        length = length * 256 + b;
      }
      if (length < 0x80) throw derErrorAt(at, `${what}: a length below 128 in the long form (not minimal, so not DER)`);
    }
    const end = pos + length;
    if (end > this.end) throw derErrorAt(at, `${what}: ${tagName(tag)} of ${length} bytes runs past the end of ${this.what}`);
    this.pos = end;
    return { tag, offset: at, content: this.bytes.subarray(pos, end), encoded: this.bytes.subarray(start, end), contentOffset: this.base + pos };
  }

  /** The next element, which must have `tag`. */
  read(tag: number, what: string): StrictNode {
    const found = this.peekTag();
    if (found === undefined) throw derErrorAt(this.offset, `${what} (${tagName(tag)}) is missing at the end of ${this.what}`);
    if (found !== tag) throw derErrorAt(this.offset, `${what} must be ${tagName(tag)}, not ${tagName(found)}`);
    return this.readAny(what);
  }

  /** The next element if it has `tag`. */
  optional(tag: number, what: string): StrictNode | undefined {
    return this.peekTag() === tag ? this.read(tag, what) : undefined;
  }

  /** Every remaining element must be consumed: nothing may follow what the schema defines. */
  finish(): void {
    const tag = this.peekTag();
    if (tag !== undefined) throw derErrorAt(this.offset, `unexpected ${tagName(tag)} after the last element of ${this.what}`);
  }
}

/** Reads exactly one element spanning all of `bytes`. */
export function readOnly(bytes: Bytes, tag: number, what: string): StrictNode {
  const r = new DerReader(bytes, what);
  const node = r.read(tag, what);
  if (!r.atEnd) throw derErrorAt(r.offset, `trailing data after ${what}`);
  return node;
}

/**
 * An OBJECT IDENTIFIER, dotted. Minimal base-128 arcs only (no 0x80 lead byte), no dangling
 * continuation byte, and every arc at most 2^31-1: Go's encoding/asn1 refuses the rest
 * (parseBase128Int), so an OID kpki reads is one Go reads the same way.
 */
export function strictOid(node: StrictNode): string {
  if (node.tag !== TAG.oid) throw derErrorAt(node.offset, `expected OBJECT IDENTIFIER, not ${tagName(node.tag)}`);
  const c = node.content;
  if (c.length === 0) throw derErrorAt(node.offset, "an empty OBJECT IDENTIFIER");
  let dotted = ""; // the first encoded arc holds the first two arcs (X.690 §8.19.4)
  let value = 0;
  let start = true;
  for (let i = 0; i < c.length; i++) {
    const b = c[i]!;
    if (start && b === 0x80) throw derErrorAt(node.offset, "an OBJECT IDENTIFIER arc with a leading 0x80 byte (not minimal)");
    value = value * 128 + (b & 0x7f);
    if (value > 0x7fffffff) throw derErrorAt(node.offset, "an OBJECT IDENTIFIER arc above 2^31-1");
    start = !(b & 0x80);
    if (start) {
      if (dotted === "") {
        const first = value < 80 ? Math.floor(value / 40) : 2;
        dotted = `${first}.${value - first * 40}`;
      } else {
        dotted += `.${value}`;
      }
      value = 0;
    }
  }
  if (!start) throw derErrorAt(node.offset, "an OBJECT IDENTIFIER ending in a continuation byte");
  return dotted;
}

/** A BOOLEAN: DER allows only 0x00 and 0xff (X.690 §11.1). */
export function strictBoolean(node: StrictNode): boolean {
  if (node.tag !== TAG.boolean) throw derErrorAt(node.offset, `expected BOOLEAN, not ${tagName(node.tag)}`);
  const [v] = node.content;
  if (node.content.length !== 1 || (v !== 0x00 && v !== 0xff)) {
    throw derErrorAt(node.offset, `a BOOLEAN must be one byte, 0x00 or 0xff (found ${node.content.length} bytes${v === undefined ? "" : `, 0x${v.toString(16).padStart(2, "0")}`})`);
  }
  return v === 0xff;
}

/** An INTEGER in its minimal two's-complement form (X.690 §8.3.2). */
export function strictInteger(node: StrictNode): { readonly negative: boolean; readonly content: Bytes } {
  if (node.tag !== TAG.integer) throw derErrorAt(node.offset, `expected INTEGER, not ${tagName(node.tag)}`);
  const c = node.content;
  if (c.length === 0) throw derErrorAt(node.offset, "an empty INTEGER");
  if (c.length > 1 && ((c[0] === 0x00 && c[1]! < 0x80) || (c[0] === 0xff && c[1]! >= 0x80))) {
    throw derErrorAt(node.offset, "an INTEGER with a redundant leading byte (not minimal)");
  }
  return { negative: (c[0]! & 0x80) !== 0, content: c };
}

/** A positive INTEGER's magnitude (no sign byte); zero and negative values are refused. */
export function strictPositive(node: StrictNode, what: string): Bytes {
  const { negative, content } = strictInteger(node);
  if (negative) throw derErrorAt(node.offset, `${what} is negative`);
  const magnitude = content[0] === 0 ? content.subarray(1) : content;
  if (magnitude.length === 0 || magnitude.every((b) => b === 0)) throw derErrorAt(node.offset, `${what} is zero`);
  return magnitude;
}

/** A small non-negative INTEGER (a version number). */
export function strictSmallInteger(node: StrictNode): number {
  const { negative, content } = strictInteger(node);
  if (negative) throw derErrorAt(node.offset, "a negative INTEGER where a version belongs");
  if (content.length > 4) throw derErrorAt(node.offset, "an INTEGER too large for a version");
  let v = 0;
  for (const b of content) v = v * 256 + b;
  return v;
}

/** NULL: no content. */
export function strictNull(node: StrictNode): void {
  if (node.tag !== TAG.null || node.content.length !== 0) throw derErrorAt(node.offset, "NULL must be the two bytes 05 00");
}

/** A BIT STRING holding whole bytes (no unused bits), as keys and signatures are. */
export function strictOctetAlignedBits(node: StrictNode, what: string): Bytes {
  if (node.tag !== TAG.bitString) throw derErrorAt(node.offset, `${what} must be BIT STRING, not ${tagName(node.tag)}`);
  if (node.content.length === 0) throw derErrorAt(node.offset, `${what}: an empty BIT STRING`);
  if (node.content[0] !== 0) throw derErrorAt(node.offset, `${what}: a BIT STRING with ${node.content[0]} unused bits where whole bytes belong`);
  return node.content.subarray(1);
}
