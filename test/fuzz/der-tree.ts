/**
 * A lenient tag-length-value tree for BER/DER (X.690 §8.1): any definite-length or
 * constructed indefinite-length encoding with one-byte tags parses into it, and `serialise`
 * writes it back byte for byte. Mutators edit the tree (tags, lengths, children, contents)
 * and serialise the result, which need not be valid DER any more.
 */
import { bytesEqual, bytesToHex, concat, oid, TAG } from "../../src/pki/der.js";

/**
 * How a node's length octets are written (X.690 §8.1.3):
 * - "minimal": the DER form (short form below 128, else the fewest long-form octets);
 * - "long": long form with one extra leading 0x00 octet (length 5 → 82 00 05);
 * - { longBytes: n }: long form with exactly n length octets, zero-padded (length 5, n = 1 → 81 05);
 * - "indefinite": 0x80, the contents, then the end-of-contents octets 00 00 (§8.1.3.6);
 * - { delta }: the short/long minimal form of (true length + delta), a wrong length.
 */
export type LengthForm = "minimal" | "long" | "indefinite" | { readonly delta: number } | { readonly longBytes: number };

/**
 * One element. `tag` is the whole identifier octet (class, constructed bit, number).
 * The value is `children` when present (a constructed element, or a primitive one whose
 * contents were opened with `expand`, e.g. an extension's OCTET STRING), else `content`.
 * `raw`, when present, is written verbatim instead of tag, length and value.
 */
export interface Node {
  tag: number;
  children?: Node[];
  content?: Uint8Array;
  lengthForm?: LengthForm;
  raw?: Uint8Array;
}

export type Path = readonly number[];

export class DerTreeError extends Error {
  override name = "DerTreeError";
}

/** The universal tags of src/pki/der.ts (TAG) and the string types TAG does not list. */
export const TAGS = {
  ...TAG,
  numericString: 0x12,
  t61String: 0x14,
  visibleString: 0x1a,
  universalString: 0x1c,
  bmpString: 0x1e,
} as const;

// ---------------------------------------------------------------------------------------------
// Bytes

// The engine's own byte helpers (src/pki/der.ts), under the names this folder uses.
export const concatBytes = concat;
export const hex = bytesToHex;
export { bytesEqual };

export function fromHex(text: string): Uint8Array<ArrayBuffer> {
  const clean = text.replace(/\s+/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new DerTreeError(`invalid hex: ${text}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Big-endian magnitude of a non-negative integer, at least one byte. */
export function bigToBytes(value: bigint, width = 0): Uint8Array<ArrayBuffer> {
  if (value < 0n) throw new DerTreeError("negative value");
  let h = value.toString(16);
  if (h.length % 2) h = `0${h}`;
  const raw = fromHex(h);
  if (raw.length >= width) return raw;
  const out = new Uint8Array(width);
  out.set(raw, width - raw.length);
  return out;
}

export function bytesToBig(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${hex(bytes)}`);
}

// ---------------------------------------------------------------------------------------------
// Parse

function beBytes(n: number): number[] {
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v % 256);
  return out.length ? out : [0];
}

/** Reads one element at `pos` (not past `end`). */
function readOne(bytes: Uint8Array, pos: number, end: number): { node: Node; next: number } {
  const tag = bytes[pos];
  if (tag === undefined || pos >= end) throw new DerTreeError(`unexpected end of data at ${pos}`);
  if ((tag & 0x1f) === 0x1f) throw new DerTreeError(`multi-byte tag at ${pos}`);
  const constructed = (tag & 0x20) !== 0;
  const first = bytes[pos + 1];
  if (first === undefined || pos + 1 >= end) throw new DerTreeError(`missing length at ${pos + 1}`);
  let p = pos + 2;
  if (first === 0x80) {
    if (!constructed) throw new DerTreeError(`indefinite length on a primitive element at ${pos}`);
    const children: Node[] = [];
    for (;;) {
      if (p + 1 >= end) throw new DerTreeError(`indefinite-length element at ${pos} has no end-of-contents`);
      if (bytes[p] === 0 && bytes[p + 1] === 0) break;
      const { node, next } = readOne(bytes, p, end);
      children.push(node);
      p = next;
    }
    return { node: { tag, children, lengthForm: "indefinite" }, next: p + 2 };
  }
  let length = first;
  let lengthForm: LengthForm = "minimal";
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count > 6) throw new DerTreeError(`length of ${count} octets at ${pos + 1}`);
    if (p + count > end) throw new DerTreeError(`truncated length at ${pos + 1}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (bytes[p + i] ?? 0);
    const leadingZero = bytes[p] === 0;
    p += count;
    const minimal = beBytes(length).length;
    if (length >= 0x80 && count === minimal) lengthForm = "minimal";
    else if (leadingZero && count === (length < 0x80 ? 1 : minimal) + 1) lengthForm = "long";
    else lengthForm = { longBytes: count };
  }
  const stop = p + length;
  if (stop > end) throw new DerTreeError(`element at ${pos} (length ${length}) runs past the end (${end})`);
  const content = bytes.slice(p, stop);
  const node: Node = { tag };
  if (lengthForm !== "minimal") node.lengthForm = lengthForm;
  if (constructed) {
    try {
      node.children = parseAll(content);
    } catch {
      node.content = content; // a constructed tag over bytes that are not TLVs: kept verbatim
    }
  } else {
    node.content = content;
  }
  return { node, next: stop };
}

/** Every element in `bytes`, back to back; throws DerTreeError unless they span all of it. */
export function parseAll(bytes: Uint8Array): Node[] {
  const out: Node[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const { node, next } = readOne(bytes, pos, bytes.length);
    out.push(node);
    pos = next;
  }
  return out;
}

/** Exactly one element spanning all of `bytes`. */
export function parse(bytes: Uint8Array): Node {
  const { node, next } = readOne(bytes, 0, bytes.length);
  if (next !== bytes.length) throw new DerTreeError(`${bytes.length - next} trailing byte(s) after the element`);
  return node;
}

/**
 * Opens a primitive element's contents as child elements (an OCTET STRING that encapsulates
 * DER, such as an extension value). False, and nothing changed, when they are not TLVs.
 */
export function expand(node: Node): boolean {
  if (node.children || node.raw || !node.content || node.content.length === 0) return false;
  try {
    node.children = parseAll(node.content);
  } catch {
    return false;
  }
  delete node.content;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Serialise

function lengthOctets(length: number, form: LengthForm): number[] {
  if (form === "minimal") {
    if (length < 0x80) return [length];
    const b = beBytes(length);
    return [0x80 | b.length, ...b];
  }
  if (form === "long") {
    const b = length < 0x80 ? [length] : beBytes(length);
    return [0x80 | (b.length + 1), 0, ...b];
  }
  if (form === "indefinite") return [0x80];
  if ("delta" in form) return lengthOctets(Math.max(0, length + form.delta), "minimal");
  const b = beBytes(length);
  while (b.length < form.longBytes) b.unshift(0);
  return [0x80 | (b.length & 0x7f), ...b];
}

/** The value octets of a node (its children's encodings, or its content). */
export function valueOf(node: Node): Uint8Array<ArrayBuffer> {
  if (node.children) return serialiseAll(node.children);
  return node.content ? Uint8Array.from(node.content) : new Uint8Array(0);
}

/** The node's encoding, honouring `lengthForm` and `raw`. */
export function serialise(node: Node): Uint8Array<ArrayBuffer> {
  if (node.raw) return Uint8Array.from(node.raw);
  const value = node.children ? serialiseAll(node.children) : (node.content ?? new Uint8Array(0));
  const form = node.lengthForm ?? "minimal";
  const len = lengthOctets(value.length, form);
  const trailer = form === "indefinite" ? 2 : 0;
  const out = new Uint8Array(1 + len.length + value.length + trailer);
  out[0] = node.tag;
  out.set(len, 1);
  out.set(value, 1 + len.length);
  return out;
}

export function serialiseAll(nodes: readonly Node[]): Uint8Array<ArrayBuffer> {
  return concatBytes(nodes.map(serialise));
}

// ---------------------------------------------------------------------------------------------
// Build

export const prim = (tag: number, content: Uint8Array): Node => ({ tag, content });
export const cons = (tag: number, children: Node[]): Node => ({ tag, children });
export const seq = (...children: Node[]): Node => ({ tag: TAGS.sequence, children });
export const set = (...children: Node[]): Node => ({ tag: TAGS.set, children });
export const nullNode = (): Node => ({ tag: TAGS.null, content: new Uint8Array(0) });
export const boolNode = (octet: number): Node => ({ tag: TAGS.boolean, content: Uint8Array.of(octet) });
export const rawNode = (bytes: Uint8Array): Node => ({ tag: bytes[0] ?? 0, raw: bytes });

/** INTEGER, minimal two's complement (X.690 §8.3). */
export function intNode(value: bigint | number): Node {
  let v = BigInt(value);
  const out: number[] = [];
  for (;;) {
    const byte = Number(v & 0xffn);
    out.unshift(byte);
    v >>= 8n;
    if ((v === 0n && !(byte & 0x80)) || (v === -1n && byte & 0x80)) break;
  }
  return { tag: TAGS.integer, content: Uint8Array.from(out) };
}

/** INTEGER from an unsigned big-endian magnitude (leading zeros stripped, a 0x00 added before a high bit). */
export function uintNode(magnitude: Uint8Array): Node {
  let s = 0;
  while (s < magnitude.length - 1 && magnitude[s] === 0) s++;
  const body = magnitude.subarray(s);
  const content = body.length && (body[0] ?? 0) & 0x80 ? concatBytes([Uint8Array.of(0), body]) : Uint8Array.from(body.length ? body : [0]);
  return { tag: TAGS.integer, content };
}

/** Options for `oidBody`: arcs (by index in the encoded list, the first being 40·a+b) written with 0x80 padding, or the last octet's continuation bit left set. */
export interface OidEncoding {
  readonly nonMinimalArcs?: readonly number[];
  /** How many 0x80 octets to put before a non-minimal arc (default 1). */
  readonly padding?: number;
  readonly dangling?: boolean;
}

/**
 * The contents octets of an OBJECT IDENTIFIER (X.690 §8.19): the engine's DER encoding
 * (src/pki/der.ts `oid`), optionally mis-encoded. An arc ends at the first octet without the
 * continuation bit 0x80; padding puts 0x80 octets before an arc's first octet.
 */
export function oidBody(dotted: string, enc: OidEncoding = {}): Uint8Array<ArrayBuffer> {
  const body: number[] = [];
  let index = 0;
  let arcStart = true;
  for (const octet of parse(oid(dotted)).content ?? []) {
    if (arcStart && enc.nonMinimalArcs?.includes(index)) for (let i = 0; i < (enc.padding ?? 1); i++) body.push(0x80);
    body.push(octet);
    arcStart = (octet & 0x80) === 0;
    if (arcStart) index++;
  }
  if (enc.dangling && body.length) body[body.length - 1] = (body[body.length - 1] ?? 0) | 0x80;
  return Uint8Array.from(body);
}

export const oidNode = (dotted: string, enc: OidEncoding = {}): Node => ({ tag: TAGS.oid, content: oidBody(dotted, enc) });

/** Number of arcs in the encoded form (the first two arcs count as one). */
export const oidArcCount = (dotted: string): number => dotted.split(".").length - 1;

/** Dotted text of OID contents, lenient (non-minimal arcs accepted); undefined if the last arc dangles. */
export function oidText(body: Uint8Array): string | undefined {
  if (body.length === 0) return undefined;
  const arcs: bigint[] = [];
  let v = 0n;
  let open = false;
  for (const byte of body) {
    v = (v << 7n) | BigInt(byte & 0x7f);
    open = (byte & 0x80) !== 0;
    if (!open) {
      arcs.push(v);
      v = 0n;
    }
  }
  if (open) return undefined;
  const [head = 0n, ...rest] = arcs;
  const first = head < 80n ? head / 40n : 2n;
  return [first, head - first * 40n, ...rest].join(".");
}

/** Whether `node` is an OBJECT IDENTIFIER with exactly the DER contents of `dotted`. */
export function isOid(node: Node | undefined, dotted: string): boolean {
  return !!node && node.tag === TAGS.oid && !!node.content && bytesEqual(node.content, oidBody(dotted));
}

// ---------------------------------------------------------------------------------------------
// Strings

const utf8Encoder = new TextEncoder();
export const utf8 = (text: string): Uint8Array<ArrayBuffer> => utf8Encoder.encode(text);

/** Code units as UTF-16BE, unpaired surrogates kept (BMPString is UCS-2, X.680 §41). */
export function utf16be(text: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const u = text.charCodeAt(i);
    out[2 * i] = u >> 8;
    out[2 * i + 1] = u & 0xff;
  }
  return out;
}

/** Code points as UTF-32BE (UniversalString, X.680 §41). */
export function utf32be(text: string): Uint8Array<ArrayBuffer> {
  const points = Array.from(text, (c) => c.codePointAt(0) ?? 0);
  const out = new Uint8Array(points.length * 4);
  points.forEach((p, i) => new DataView(out.buffer).setUint32(4 * i, p));
  return out;
}

/** One byte per code unit (ISO 8859-1 for U+0000..U+00FF; higher units are truncated). */
export function latin1(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}

const latin1Decoder = new TextDecoder("latin1");
/** Bytes as a string of U+0000..U+00FF (for labels and text-level edits of ASCII content). */
export const asLatin1 = (bytes: Uint8Array): string => latin1Decoder.decode(bytes);

// ---------------------------------------------------------------------------------------------
// Navigate

export function clone(node: Node): Node {
  const out: Node = { tag: node.tag };
  if (node.children) out.children = node.children.map(clone);
  // Content and raw arrays are shared: mutators replace them, never write into them.
  if (node.content) out.content = node.content;
  if (node.raw) out.raw = node.raw;
  if (node.lengthForm !== undefined) out.lengthForm = node.lengthForm;
  return out;
}

/** The node at `path` (child indices from `root`), or undefined. */
export function at(root: Node, path: Path): Node | undefined {
  let n: Node | undefined = root;
  for (const i of path) {
    n = n?.children?.[i];
    if (!n) return undefined;
  }
  return n;
}

export interface Found {
  readonly node: Node;
  readonly path: Path;
  readonly parent: Node | undefined;
  readonly index: number;
}

/** Depth-first, pre-order: every node with its path, parent and index in the parent. */
export function walk(root: Node, visit: (found: Found) => void): void {
  const go = (node: Node, path: number[], parent: Node | undefined, index: number): void => {
    visit({ node, path: [...path], parent, index });
    node.children?.forEach((c, i) => {
      path.push(i);
      go(c, path, node, i);
      path.pop();
    });
  };
  go(root, [], undefined, -1);
}

export function findAll(root: Node, predicate: (node: Node, path: Path) => boolean): Found[] {
  const out: Found[] = [];
  walk(root, (f) => {
    if (predicate(f.node, f.path)) out.push(f);
  });
  return out;
}

export function findFirst(root: Node, predicate: (node: Node, path: Path) => boolean): Found | undefined {
  return findAll(root, predicate)[0];
}

/** Replaces the node at a non-empty `path`; false if the path does not exist. */
export function replaceAt(root: Node, path: Path, replacement: Node): boolean {
  if (path.length === 0) return false;
  const parent = at(root, path.slice(0, -1));
  const i = path[path.length - 1] ?? -1;
  if (!parent?.children || i < 0 || i >= parent.children.length) return false;
  parent.children[i] = replacement;
  return true;
}
