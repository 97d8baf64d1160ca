/**
 * Structure-aware mutants of kubelet-serving CSRs (RFC 2986) for differential testing.
 *
 * A mutant is made in phases:
 *   tbs        edits to the CertificationRequestInfo tree (subject, key, attributes, SANs, encodings)
 *   tbs-bytes  raw byte edits of the serialised CertificationRequestInfo
 *   (sign)     the TBS bytes are signed again with the seed's key (or the key an op put in)
 *   sig        edits to the signature value
 *   outer      edits to CertificationRequest SEQUENCE { info, AlgorithmIdentifier, BIT STRING }
 *   der        edits to the serialised DER
 *   pem        edits to the PEM armour (RFC 7468)
 * so most mutants still carry a valid self-signature over whatever bytes they contain.
 * Every op names itself as `id(detail)`; `OPS` lists the ids with their family.
 */
import { createHash } from "node:crypto";
import {
  at,
  bigToBytes,
  boolNode,
  bytesToBig,
  clone,
  concatBytes,
  findAll,
  intNode,
  isOid,
  latin1,
  nullNode,
  oidArcCount,
  oidBody,
  oidNode,
  oidText,
  parse,
  prim,
  rawNode,
  seq,
  serialise,
  set,
  TAGS,
  utf16be,
  utf32be,
  utf8,
  type Found,
  type LengthForm,
  type Node,
  type Path,
} from "./der-tree.js";
import {
  atvsOf,
  atvsOfType,
  attributesOf,
  dnsName,
  EVIL,
  extension,
  extensionRequest,
  extensionRequestsOf,
  extensionsOf,
  extensionsWithOid,
  generalNamesOf,
  GN,
  ipBytes,
  ipName,
  IPV4_IN_IPV6,
  labelOf,
  NODE,
  OIDS,
  openExtensionValues,
  rdn,
  sanExtension,
  spkiOf,
  subjectOf,
  textAtv,
} from "./csr-tree.js";
import { EmptyChoiceError, type Rng } from "./rng.js";
import type { Seed } from "./seeds.js";
import {
  CURVES,
  FIXED_RSA_MODULUS,
  fixedEcKey,
  forgeRsaE1,
  KEY_OIDS,
  rsaE3Key,
  rsaSpki,
  SIG_OIDS,
  sigAlgId,
  signingKeyOf,
  type CurveName,
  type Hash,
  type SigningKey,
} from "./signers.js";

export { EVIL, NODE } from "./csr-tree.js";

export interface Mutant {
  readonly seed: string;
  readonly ops: readonly string[];
  /** The raw spec.request bytes (PEM text, possibly mangled). */
  readonly request: Uint8Array;
}

export const OP_FAMILIES = [
  "tag",
  "length",
  "structure",
  "extension",
  "subject",
  "san",
  "string",
  "oid",
  "encoding",
  "confusable",
  "ip-dns",
  "key",
  "outer",
  "pem",
  "bytes",
] as const;
export type OpFamily = (typeof OP_FAMILIES)[number];

/** Default relative weights; "bytes" (unstructured edits) is about 5% of all ops. */
export const DEFAULT_WEIGHTS: Readonly<Record<OpFamily, number>> = {
  tag: 8,
  length: 6,
  structure: 6,
  extension: 12,
  subject: 8,
  san: 10,
  string: 7,
  oid: 6,
  encoding: 5,
  confusable: 7,
  "ip-dns": 8,
  key: 7,
  outer: 7,
  pem: 7,
  bytes: 5,
};

export interface MutateOptions {
  /** Relative weight per family (missing: DEFAULT_WEIGHTS; 0 disables a family). */
  readonly weights?: Partial<Record<OpFamily, number>>;
  /** Relative weight of an op inside its family, by op id (default 1; 0 disables it). */
  readonly opWeights?: Readonly<Record<string, number>>;
  /** Only these op ids and/or families. */
  readonly only?: readonly string[];
  /** How many ops per mutant: uniform in [minOps, maxOps] (defaults 1 and 3). */
  readonly minOps?: number;
  readonly maxOps?: number;
  /** Called with what an op or the pipeline threw (mutate itself never throws). */
  readonly onError?: (error: unknown, op: string) => void;
}

type Phase = "tbs" | "tbs-bytes" | "sig" | "outer" | "der" | "pem";
const PHASES: readonly Phase[] = ["tbs", "tbs-bytes", "sig", "outer", "der", "pem"];

type KeyKind = SigningKey["kind"];

interface PemParts {
  before: string;
  begin: string;
  headers: string[];
  body: string[];
  end: string;
  after: string;
  eol: string;
  finalNewline: boolean;
}

interface Prepared {
  readonly seed: Seed;
  readonly info: Node;
  readonly sigAlgId: Node;
  readonly key: SigningKey;
  readonly hash: Hash;
  readonly pem: Uint8Array<ArrayBuffer>;
}

interface Ctx {
  readonly prep: Prepared;
  readonly rng: Rng;
  info: Node;
  key: SigningKey;
  hash: Hash;
  keyChanged: boolean;
  /** Set by sig-alg-hash: later re-keying keeps the hash (or does not apply). */
  hashChanged: boolean;
  /** Set by rsa-e1-forged: sign by forging EM under this modulus. */
  forgeModulus: bigint | undefined;
  tbs: Uint8Array<ArrayBuffer>;
  signature: Uint8Array<ArrayBuffer>;
  outer: Node;
  der: Uint8Array<ArrayBuffer>;
  pem: PemParts;
}

interface OpDef {
  readonly id: string;
  readonly family: OpFamily;
  readonly phase: Phase;
  /** Seed key kinds the op applies to (default: all). */
  readonly keys?: readonly KeyKind[];
  /** The detail for the op name, or undefined when the op does not apply to this mutant. */
  readonly apply: (ctx: Ctx) => string | undefined;
}

type Apply = OpDef["apply"];

/** An op that runs in another phase than its family's, or for some seed key kinds only. */
interface OpEntry {
  readonly phase?: Phase;
  readonly keys?: readonly KeyKind[];
  readonly apply: Apply;
}

/**
 * The ops of one family, keyed by id, in the order written (the order the weighted pick walks).
 * An entry is the op's apply function (the op runs in `phase`) or an OpEntry.
 */
function defineOps(family: OpFamily, phase: Phase, entries: Readonly<Record<string, Apply | OpEntry>>): OpDef[] {
  return Object.entries(entries).map(([id, entry]): OpDef => {
    const e: OpEntry = typeof entry === "function" ? { apply: entry } : entry;
    const def = { id, family, phase: e.phase ?? phase, apply: e.apply };
    return e.keys ? { ...def, keys: e.keys } : def;
  });
}

// ---------------------------------------------------------------------------------------------
// Helpers

const h2 = (t: number): string => `0x${t.toString(16).padStart(2, "0")}`;
const fatalUtf8 = new TextDecoder("utf-8", { fatal: true });
const TEXT_TAGS: ReadonlySet<number> = new Set([
  TAGS.utf8String,
  TAGS.numericString,
  TAGS.printableString,
  TAGS.t61String,
  TAGS.ia5String,
  TAGS.visibleString,
  GN.dns,
  GN.email,
  GN.uri,
]);

function textOf(node: Node | undefined): string | undefined {
  if (!node?.content || !TEXT_TAGS.has(node.tag)) return undefined;
  try {
    return fatalUtf8.decode(node.content);
  } catch {
    return undefined;
  }
}

/** The dotted text of an OBJECT IDENTIFIER node's content, if it has content. */
const oidTextOf = (node: Node | undefined): string | undefined => (node?.content ? oidText(node.content) : undefined);

const label = (ctx: Ctx, path: Path): string => labelOf(ctx.info, path);

/** All nodes of the info tree (root included) with a parent, for generic edits. */
const allNodes = (ctx: Ctx): Found[] => findAll(ctx.info, () => true);
const childNodes = (ctx: Ctx): Found[] => findAll(ctx.info, (_, p) => p.length > 0);
const parents = (ctx: Ctx, min: number): Found[] => findAll(ctx.info, (n) => (n.children?.length ?? -1) >= min);

function insert(parent: Node, index: number, node: Node): void {
  (parent.children ??= []).splice(index, 0, node);
}

/** Inserts `node` into `parent` at a random index (0 to the number of children) and returns the index. */
function insertAnywhere(rng: Rng, parent: Node, node: Node): number {
  const i = rng.int((parent.children?.length ?? 0) + 1);
  insert(parent, i, node);
  return i;
}

/** Puts `node` in place of the child at `index` (an existing child) of `parent`. */
function replaceChild(parent: Node, index: number, node: Node): void {
  parent.children?.splice(index, 1, node);
}

/**
 * An op that inserts a node made by `make` ([node, what]) at a random index of the container
 * `containerOf` finds; it does not apply when there is no container. Detail: "<what> at <index>".
 */
const insertAnywhereOp =
  (containerOf: (info: Node) => Node | undefined, make: (rng: Rng) => readonly [Node, string]): Apply =>
  (ctx) => {
    const container = containerOf(ctx.info);
    if (!container) return undefined;
    const [node, what] = make(ctx.rng);
    return `${what} at ${insertAnywhere(ctx.rng, container, node)}`;
  };

type EvilPosition = "evil-first" | "evil-last";
const evilPosition = (rng: Rng): EvilPosition => (rng.chance(0.5) ? "evil-first" : "evil-last");

/** Inserts `node` into `parent` at index `first` or index `last` (a coin flip) and says which. */
function insertEvil(rng: Rng, parent: Node, node: Node, first: number, last: number): EvilPosition {
  const pos = evilPosition(rng);
  insert(parent, pos === "evil-first" ? first : last, node);
  return pos;
}

/** Minimal INTEGER contents `b` with a redundant leading 00 octet (X.690 §8.3.2 forbids it). */
const pad0 = (b: Uint8Array): Uint8Array => concatBytes([Uint8Array.of(0), b]);

/** A copy of `bytes` with `edit` applied to its last octet. */
function editLastByte(bytes: Uint8Array, edit: (b: number) => number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[out.length - 1] = edit(out[out.length - 1] ?? 0);
  return out;
}

function evilGeneralName(rng: Rng): [Node, string] {
  if (rng.chance(0.6)) {
    const d = rng.pick(EVIL.dnsNames);
    return [dnsName(d), `dns ${d}`];
  }
  const ip = rng.pick(EVIL.ips);
  return [ipName(ipBytes(ip)), `ip ${ip}`];
}

/** 1-2 evil GeneralNames, sometimes with the node's own names too. */
function evilGeneralNames(rng: Rng): [Node[], string] {
  const names: Node[] = [];
  const labels: string[] = [];
  for (let i = rng.range(1, 2); i > 0; i--) {
    const [n, l] = evilGeneralName(rng);
    names.push(n);
    labels.push(l);
  }
  if (rng.chance(0.3)) {
    names.push(dnsName(NODE.dnsNames[0]), ipName(ipBytes(NODE.ips[0])));
    labels.push("+own");
  }
  return [names, labels.join(", ")];
}

/** Inserts `make(evil GeneralNames)` into `parent` at `first` or `last` (see insertEvil): "<position>: <names>". */
function insertEvilNames(rng: Rng, parent: Node, make: (names: Node[]) => Node, first: number, last: number): string {
  const [names, l] = evilGeneralNames(rng);
  return `${insertEvil(rng, parent, make(names), first, last)}: ${l}`;
}

const sanValue = (names: Node[]): Node => ({ tag: TAGS.octetString, children: [seq(...names)] });

/** The index of the first child of `parent` whose first element is the OID `oid`, or -1. */
const indexOfOid = (parent: Node | undefined, oid: string): number => parent?.children?.findIndex((c) => isOid(c.children?.[0], oid)) ?? -1;

/** Removes the first child of `parent` whose first element is the OID `oid`; false when there is none. */
function removeByOid(parent: Node | undefined, oid: string): boolean {
  const i = indexOfOid(parent, oid);
  if (i < 0) return false;
  parent?.children?.splice(i, 1);
  return true;
}

interface GeneralNameAt {
  readonly parent: Node;
  readonly index: number;
  readonly node: Node;
}

function generalNameNodes(ctx: Ctx): GeneralNameAt[] {
  const gns = generalNamesOf(ctx.info);
  return (gns?.children ?? []).map((node, index) => ({ parent: gns as Node, index, node }));
}

/** A GeneralName of the first SAN (with tag `tag`, if given); throws EmptyChoiceError when there is none. */
const pickGeneralName = (ctx: Ctx, tag?: number): GeneralNameAt =>
  ctx.rng.pick(tag === undefined ? generalNameNodes(ctx) : generalNameNodes(ctx).filter((x) => x.node.tag === tag));

/** The subject attribute types the ops edit: the OID, node n1's value and the values a hostile node wants. */
interface SubjectAttribute {
  readonly oid: string;
  readonly own: string;
  readonly evil: readonly string[];
}
const SUBJECT_TYPES = {
  CN: { oid: OIDS.commonName, own: NODE.commonName, evil: EVIL.commonNames },
  O: { oid: OIDS.organization, own: NODE.organization, evil: EVIL.organizations },
} as const satisfies Readonly<Record<string, SubjectAttribute>>;
type SubjectType = keyof typeof SUBJECT_TYPES;

/** CN or O (a coin flip) and one of the subject's ATVs of that type; undefined when it has none. */
function pickSubjectAtv(ctx: Ctx): [SubjectType, Found] | undefined {
  const which: SubjectType = ctx.rng.chance(0.5) ? "CN" : "O";
  const f = atvsOfType(ctx.info, SUBJECT_TYPES[which].oid);
  if (f.length === 0) return undefined;
  return [which, ctx.rng.pick(f)];
}

/**
 * Inserts a hostile `which` value, as the node `make` builds from its text, into `parent` at
 * `first` or `last` (see insertEvil): "<which>=<text> <position>".
 */
function insertEvilValue(rng: Rng, which: SubjectType, parent: Node, make: (text: string) => Node, first: number, last: number): string {
  const text = rng.pick(SUBJECT_TYPES[which].evil);
  return `${which}=${text} ${insertEvil(rng, parent, make(text), first, last)}`;
}

/** A text node to rewrite, its text, and its name in the op detail. */
interface TextTarget {
  readonly node: Node;
  readonly text: string;
  readonly what: string;
}

/** The value of a CN or O ATV (see pickSubjectAtv); undefined when there is none or it is not text. */
function subjectText(ctx: Ctx): TextTarget | undefined {
  const picked = pickSubjectAtv(ctx);
  const node = picked?.[1].node.children?.[1];
  const text = textOf(node);
  return picked && node && text !== undefined ? { node, text, what: picked[0] } : undefined;
}

/** A dNSName of the first SAN (EmptyChoiceError when there is none); undefined when its bytes are not text. */
function dnsText(ctx: Ctx): TextTarget | undefined {
  const g = pickGeneralName(ctx, GN.dns);
  const text = textOf(g.node);
  return text === undefined ? undefined : { node: g.node, text, what: `gn[${g.index}]` };
}

// ---------------------------------------------------------------------------------------------
// Ops: tag

const SEQ_SET_SWAPS: Readonly<Record<number, readonly number[]>> = {
  0x30: [0x31, 0xa0, 0x31, 0xa0, 0x70, 0xf0],
  0x31: [0x30, 0xa0, 0x30, 0xa0],
  0xa0: [0x30, 0x31, 0x80, 0xa1],
};
const STRING_TAGS: readonly number[] = [
  TAGS.utf8String,
  TAGS.printableString,
  TAGS.ia5String,
  TAGS.t61String,
  TAGS.numericString,
  TAGS.bmpString,
  TAGS.universalString,
  TAGS.octetString,
  TAGS.visibleString,
];
const GN_TAGS = [GN.dns, GN.ip, GN.email, GN.uri, 0x80, GN.otherName] as const;

/** String-valued leaves: subject attribute values and attribute values. */
const stringLeaves = (ctx: Ctx): Found[] =>
  findAll(ctx.info, (n, p) => !n.children && STRING_TAGS.includes(n.tag) && (p[0] === 1 || (p[0] ?? 0) >= 3));

/** Sets the tag of `node`: "<from>→<to>". */
function retag(node: Node, to: number): string {
  const from = node.tag;
  node.tag = to;
  return `${h2(from)}→${h2(to)}`;
}

/** Sets the tag of the node at `f`, then labels it (labels read tags): "<label>: <from>→<to>". */
function retagFound(ctx: Ctx, f: Found, to: number): string {
  const change = retag(f.node, to);
  return `${label(ctx, f.path)}: ${change}`;
}

const tagOps = defineOps("tag", "tbs", {
  "tag-swap": (ctx) => {
    const f = ctx.rng.pick(allNodes(ctx).filter((x) => x.node.children && SEQ_SET_SWAPS[x.node.tag]));
    return retagFound(ctx, f, ctx.rng.pick(SEQ_SET_SWAPS[f.node.tag] ?? []));
  },
  "constructed-flip": (ctx) => {
    const f = ctx.rng.pick(childNodes(ctx));
    return retagFound(ctx, f, f.node.tag ^ 0x20);
  },
  "san-tag": (ctx) => {
    const g = pickGeneralName(ctx);
    return `gn[${g.index}]: ${retag(g.node, ctx.rng.pick(GN_TAGS.filter((t) => t !== g.node.tag)))}`;
  },
  "string-tag": (ctx) => {
    const f = ctx.rng.pick(stringLeaves(ctx));
    return retagFound(ctx, f, ctx.rng.pick(STRING_TAGS.filter((t) => t !== f.node.tag)));
  },
});

// ---------------------------------------------------------------------------------------------
// Ops: length

/** An op that gives a random node of the info tree the length form `pick` chooses ([form, what]): "<label>: <what>". */
const lengthFormOp =
  (pick: (rng: Rng) => readonly [LengthForm, string]): Apply =>
  (ctx) => {
    const f = ctx.rng.pick(allNodes(ctx));
    const [form, what] = pick(ctx.rng);
    f.node.lengthForm = form;
    return `${label(ctx, f.path)}: ${what}`;
  };

const lengthOps = defineOps("length", "tbs", {
  "length-long": lengthFormOp((rng) => {
    const n = rng.int(3);
    return n === 0 ? ["long", "long"] : [{ longBytes: n === 1 ? 1 : 4 }, n === 1 ? "81-form" : "4-octet"];
  }),
  "length-indefinite": (ctx) => {
    const pool = ctx.rng.chance(0.85) ? allNodes(ctx).filter((f) => f.node.children) : allNodes(ctx);
    const f = ctx.rng.pick(pool);
    f.node.lengthForm = "indefinite";
    return label(ctx, f.path);
  },
  "length-delta": lengthFormOp((rng) => {
    const delta = rng.pick([1, -1, 1, -1, 2, -2, 128]);
    return [{ delta }, `${delta > 0 ? "+" : ""}${delta}`];
  }),
});

// ---------------------------------------------------------------------------------------------
// Ops: generic structure

function paletteNode(ctx: Ctx): [Node, string] {
  const rng = ctx.rng;
  switch (rng.int(9)) {
    case 0:
      return [nullNode(), "NULL"];
    case 1:
      return [intNode(rng.pick([0, 1, -1, 2])), "INTEGER"];
    case 2:
      return [boolNode(0xff), "BOOLEAN"];
    case 3:
      return [seq(), "empty SEQUENCE"];
    case 4:
      return [set(), "empty SET"];
    case 5:
      return [oidNode(rng.pick([OIDS.commonName, OIDS.subjectAltName, OIDS.extensionRequest])), "OID"];
    case 6:
      return [prim(TAGS.printableString, utf8(rng.pick(EVIL.commonNames))), "evil string"];
    case 7: {
      const [names, l] = evilGeneralNames(rng);
      return [sanExtension(names), `evil SAN extension (${l})`];
    }
    default: {
      const donor = rng.pick(childNodes(ctx));
      return [clone(donor.node), `copy of ${label(ctx, donor.path)}`];
    }
  }
}

const structureOps = defineOps("structure", "tbs", {
  "dup-node": (ctx) => {
    const f = ctx.rng.pick(childNodes(ctx));
    const after = ctx.rng.chance(0.5);
    insert(f.parent as Node, f.index + (after ? 1 : 0), clone(f.node));
    return `${label(ctx, f.path)}, ${after ? "after" : "before"}`;
  },
  "remove-node": (ctx) => {
    const f = ctx.rng.pick(childNodes(ctx));
    const l = label(ctx, f.path);
    f.parent?.children?.splice(f.index, 1);
    return l;
  },
  "swap-nodes": (ctx) => {
    const p = ctx.rng.pick(parents(ctx, 2));
    const kids = p.node.children as Node[];
    const i = ctx.rng.int(kids.length);
    let j = ctx.rng.int(kids.length - 1);
    if (j >= i) j++;
    [kids[i], kids[j]] = [kids[j] as Node, kids[i] as Node];
    return `${label(ctx, p.path)}: ${i}↔${j}`;
  },
  "insert-node": (ctx) => {
    const p = ctx.rng.pick(parents(ctx, 0));
    const [node, what] = paletteNode(ctx);
    const l = label(ctx, p.path);
    return `${l}[${insertAnywhere(ctx.rng, p.node, node)}]: ${what}`;
  },
});

// ---------------------------------------------------------------------------------------------
// Ops: extensions and attributes

const sanExtensions = (ctx: Ctx): Node[] => extensionsWithOid(ctx.info, OIDS.subjectAltName);

const extensionOps = defineOps("extension", "tbs", {
  // Extension ::= SEQUENCE { extnID, critical, extnValue }: a second extnValue before or after the real one.
  "dup-ext-value": (ctx) => {
    const ext = ctx.rng.pick(sanExtensions(ctx));
    const real = (ext.children as Node[]).findIndex((k) => k.tag === TAGS.octetString);
    if (real < 0) return undefined;
    return insertEvilNames(ctx.rng, ext, sanValue, real, real + 1);
  },
  "dup-san-ext": (ctx) => {
    const exts = extensionsOf(ctx.info);
    const i = indexOfOid(exts, OIDS.subjectAltName);
    if (!exts || i < 0) return undefined;
    const mode = ctx.rng.pick(["evil-first", "evil-last", "identical"] as const);
    if (mode === "identical") {
      insert(exts, i + 1, clone(exts.children?.[i] as Node));
      return mode;
    }
    const [names, l] = evilGeneralNames(ctx.rng);
    insert(exts, mode === "evil-first" ? i : i + 1, sanExtension(names));
    return `${mode}: ${l}`;
  },
  "dup-ext-request": (ctx) => {
    const attrs = attributesOf(ctx.info);
    if (!attrs?.children) return undefined;
    const i = indexOfOid(attrs, OIDS.extensionRequest);
    const last = i < 0 ? attrs.children.length : i + 1;
    return insertEvilNames(ctx.rng, attrs, (names) => extensionRequest([sanExtension(names)]), Math.max(0, i), last);
  },
  // extensionRequest's values SET with two Extensions values.
  "ext-request-values": (ctx) => {
    const values = extensionRequestsOf(ctx.info)[0]?.children?.[1];
    if (!values?.children) return undefined;
    return insertEvilNames(ctx.rng, values, (names) => seq(sanExtension(names)), 0, values.children.length);
  },
  "ext-extra": insertAnywhereOp(extensionsOf, (rng) => {
    const [names] = evilGeneralNames(rng);
    const choices: readonly (readonly [Node, string])[] = [
      [extension(OIDS.basicConstraints, seq(boolNode(0xff)), boolNode(0xff)), "basicConstraints cA"],
      [extension(OIDS.keyUsage, prim(TAGS.bitString, Uint8Array.of(0x02, 0x04)), boolNode(0xff)), "keyUsage keyCertSign"],
      [extension(OIDS.extKeyUsage, seq(oidNode(OIDS.clientAuth))), "extKeyUsage clientAuth"],
      [extension(OIDS.nameConstraints, seq({ tag: 0xa0, children: [seq(dnsName("n1"))] }), boolNode(0xff)), "nameConstraints"],
      [extension("1.3.6.1.4.1.99999.1", nullNode(), boolNode(0xff)), "unknown critical"],
      [extension(OIDS.subjectAltNameObsolete, seq(...names)), "obsolete SAN 2.5.29.7"],
      [extension(OIDS.issuerAltName, seq(...names)), "issuerAltName"],
    ];
    return rng.pick(choices);
  }),
  "ext-remove": (ctx) => {
    const attrs = attributesOf(ctx.info);
    const exts = extensionsOf(ctx.info);
    switch (ctx.rng.int(3)) {
      case 0:
        return removeByOid(exts, OIDS.subjectAltName) ? "SAN extension" : undefined;
      case 1:
        if (!exts) return undefined;
        exts.children = [];
        return "all extensions";
      default:
        return removeByOid(attrs, OIDS.extensionRequest) ? "extensionRequest attribute" : undefined;
    }
  },
  "attr-extra": insertAnywhereOp(attributesOf, (rng) => {
    const [names, l] = evilGeneralNames(rng);
    const choices: readonly (readonly [Node, string])[] = [
      [seq(oidNode(OIDS.challengePassword), set(prim(TAGS.utf8String, utf8("secret")))), "challengePassword"],
      [seq(oidNode("1.3.6.1.4.1.99999.2"), set(nullNode())), "unknown attribute"],
      [seq(oidNode(OIDS.msExtensionRequest), set(seq(sanExtension(names)))), `msExtensionRequest (${l})`],
      [seq(oidNode(OIDS.extensionRequest)), "attribute without values"],
      [seq(oidNode(OIDS.extensionRequest), set()), "empty values SET"],
    ];
    return rng.pick(choices);
  }),
  // attributes [0] IMPLICIT SET OF Attribute: written EXPLICIT (a SET inside [0]), or left out.
  "attrs-form": (ctx) => {
    const attrs = attributesOf(ctx.info);
    if (!attrs?.children) return undefined;
    if (ctx.rng.chance(0.5)) {
      attrs.children = [set(...attrs.children)];
      return "explicit";
    }
    const i = ctx.info.children?.indexOf(attrs) ?? -1;
    ctx.info.children?.splice(i, 1);
    return "absent";
  },
});

// ---------------------------------------------------------------------------------------------
// Ops: subject

const EXTRA_SUBJECT_ATTRIBUTES: readonly (readonly [string, string])[] = [
  [OIDS.country, "US"],
  [OIDS.organizationalUnit, "system:nodes"],
  [OIDS.serialNumber, "n2"],
  [OIDS.emailAddress, "n2@cluster.local"],
  [OIDS.userId, "system:node:n2"],
  [OIDS.domainComponent, "cluster"],
  [OIDS.x500UniqueIdentifier, "n2"],
];

const subjectOps = defineOps("subject", "tbs", {
  "subject-dup": (ctx) => {
    const subject = subjectOf(ctx.info);
    if (!subject?.children) return undefined;
    const which: SubjectType = ctx.rng.chance(0.6) ? "CN" : "O";
    const text = ctx.rng.chance(0.75) ? ctx.rng.pick(SUBJECT_TYPES[which].evil) : SUBJECT_TYPES[which].own;
    const where = ctx.rng.pick(["first", "last", "random"] as const);
    const i = where === "first" ? 0 : where === "last" ? subject.children.length : ctx.rng.int(subject.children.length + 1);
    insert(subject, i, rdn(SUBJECT_TYPES[which].oid, text));
    return `${which}=${text} at ${i}`;
  },
  "subject-multi-rdn": (ctx) => {
    const subject = subjectOf(ctx.info);
    const rdns = subject?.children;
    if (!subject || !rdns || rdns.length === 0) return undefined;
    const mode = ctx.rng.int(3);
    if (mode === 0 && rdns.length >= 2) {
      // Every ATV in one SET, in the current order or reversed.
      const atvs = rdns.flatMap((r) => r.children ?? []);
      if (ctx.rng.chance(0.5)) atvs.reverse();
      subject.children = [set(...atvs)];
      return `merged ${atvs.length} ATVs`;
    }
    const which: SubjectType = mode === 1 ? "CN" : "O";
    const target = atvsOfType(ctx.info, SUBJECT_TYPES[which].oid)[0];
    const rdnNode = target ? at(ctx.info, target.path.slice(0, -1)) : undefined;
    if (!rdnNode) return undefined;
    const make = (text: string): Node => textAtv(SUBJECT_TYPES[which].oid, text);
    return insertEvilValue(ctx.rng, which, rdnNode, make, 0, rdnNode.children?.length ?? 0);
  },
  "subject-extra-attr": insertAnywhereOp(subjectOf, (rng) => {
    const [oid, text] = rng.pick(EXTRA_SUBJECT_ATTRIBUTES);
    return [rdn(oid, text), `${oid}=${text}`];
  }),
  "subject-remove": (ctx) => {
    const subject = subjectOf(ctx.info);
    if (!subject?.children) return undefined;
    const what = ctx.rng.pick(["CN", "O", "all"] as const);
    if (what === "all") {
      subject.children = [];
      return what;
    }
    const f = atvsOfType(ctx.info, SUBJECT_TYPES[what].oid)[0];
    if (!f) return undefined;
    subject.children.splice(f.path[1] ?? 0, 1);
    return what;
  },
  // AttributeTypeAndValue ::= SEQUENCE { type, value }: a second value before or after the real one.
  "atv-extra-value": (ctx) => {
    const picked = pickSubjectAtv(ctx);
    if (!picked) return undefined;
    const [which, atv] = picked;
    const make = (text: string): Node => prim(TAGS.utf8String, utf8(text));
    return insertEvilValue(ctx.rng, which, atv.node, make, 1, atv.node.children?.length ?? 1);
  },
  "subject-reorder": (ctx) => {
    const rdns = subjectOf(ctx.info)?.children;
    if (!rdns || rdns.length < 2) return undefined;
    rdns.reverse();
    return "reversed";
  },
});

// ---------------------------------------------------------------------------------------------
// Ops: SAN GeneralNames

function otherGeneralName(rng: Rng): [Node, string] {
  switch (rng.int(5)) {
    case 0:
      return [prim(GN.email, utf8("n2@cluster.local")), "email"];
    case 1: {
      const uri = rng.pick(["spiffe://cluster.local/ns/kube-system/sa/n2", "https://kubernetes.default.svc", "https://10.0.0.12"]);
      return [prim(GN.uri, utf8(uri)), `uri ${uri}`];
    }
    case 2:
      // otherName: SEQUENCE-less IMPLICIT [0] { type-id, [0] EXPLICIT value } with the Microsoft UPN type.
      return [{ tag: GN.otherName, children: [oidNode("1.3.6.1.4.1.311.20.2.3"), { tag: 0xa0, children: [prim(TAGS.utf8String, utf8("n2"))] }] }, "otherName UPN"];
    case 3:
      return [{ tag: GN.directoryName, children: [seq(rdn(OIDS.commonName, "system:node:n2"))] }, "directoryName CN=system:node:n2"];
    default:
      return [prim(GN.registeredId, oidBody("1.2.3.4")), "registeredID"];
  }
}

const sanOps = defineOps("san", "tbs", {
  "san-inject": insertAnywhereOp(generalNamesOf, evilGeneralName),
  "san-replace": (ctx) => {
    const g = pickGeneralName(ctx);
    const [node, what] = evilGeneralName(ctx.rng);
    replaceChild(g.parent, g.index, node);
    return `gn[${g.index}] → ${what}`;
  },
  "san-dup": (ctx) => {
    const g = pickGeneralName(ctx);
    return `gn[${g.index}] at ${insertAnywhere(ctx.rng, g.parent, clone(g.node))}`;
  },
  "san-remove": (ctx) => {
    const gns = generalNamesOf(ctx.info);
    if (!gns?.children?.length) return undefined;
    if (ctx.rng.chance(0.2)) {
      gns.children = [];
      return "all";
    }
    const i = ctx.rng.int(gns.children.length);
    gns.children.splice(i, 1);
    return `gn[${i}]`;
  },
  "san-reorder": (ctx) => {
    const gns = generalNamesOf(ctx.info);
    if (!gns?.children || gns.children.length < 2) return undefined;
    gns.children = ctx.rng.shuffle(gns.children);
    return "shuffled";
  },
  "san-other-type": insertAnywhereOp(generalNamesOf, otherGeneralName),
});

// ---------------------------------------------------------------------------------------------
// Ops: string re-encodings (the text kept, the encoding changed)

function overlong(text: string, rng: Rng): Uint8Array<ArrayBuffer> {
  // One ASCII character as a 2-byte overlong sequence (RFC 3629 §3 forbids it).
  const bytes = Array.from(utf8(text));
  const idx = bytes.map((b, i) => (b < 0x80 ? i : -1)).filter((i) => i >= 0);
  if (idx.length === 0) return Uint8Array.from(bytes);
  const i = rng.pick(idx);
  const c = bytes[i] ?? 0;
  bytes.splice(i, 1, 0xc0 | (c >> 6), 0x80 | (c & 0x3f));
  return Uint8Array.from(bytes);
}

const RE_ENCODINGS: readonly (readonly [string, number, (text: string, rng: Rng) => Uint8Array])[] = [
  ["BMPString", TAGS.bmpString, (t) => utf16be(t)],
  ["BMPString+00 00", TAGS.bmpString, (t) => utf16be(`${t}\u0000`)],
  ["BMPString unpaired surrogate", TAGS.bmpString, (t, rng) => {
    const i = rng.int(t.length + 1);
    return utf16be(`${t.slice(0, i)}${rng.pick(["\ud800", "\udc00"])}${t.slice(i)}`);
  }],
  ["BMPString odd length", TAGS.bmpString, (t) => utf16be(t).subarray(1)],
  ["UniversalString", TAGS.universalString, (t) => utf32be(t)],
  ["UniversalString >U+10FFFF", TAGS.universalString, (t) => concatBytes([utf32be(t), Uint8Array.of(0x00, 0x11, 0x00, 0x00)])],
  ["T61String", TAGS.t61String, (t) => latin1(t)],
  ["T61String 0xe9", TAGS.t61String, (t) => concatBytes([latin1(t), Uint8Array.of(0xe9)])],
  ["UTF8String overlong", TAGS.utf8String, overlong],
  ["UTF8String invalid 0xff", TAGS.utf8String, (t, rng) => {
    const b = utf8(t);
    const i = rng.int(b.length + 1);
    return concatBytes([b.subarray(0, i), Uint8Array.of(0xff), b.subarray(i)]);
  }],
  ["UTF8String lone continuation", TAGS.utf8String, (t) => concatBytes([utf8(t), Uint8Array.of(0x80)])],
  ["UTF8String CESU surrogate", TAGS.utf8String, (t) => concatBytes([utf8(t), Uint8Array.of(0xed, 0xa0, 0x80)])],
  ["UTF8String BOM", TAGS.utf8String, (t) => concatBytes([Uint8Array.of(0xef, 0xbb, 0xbf), utf8(t)])],
  ["OCTET STRING", TAGS.octetString, (t) => utf8(t)],
  ["UTF8String", TAGS.utf8String, (t) => utf8(t)],
  ["IA5String", TAGS.ia5String, (t) => utf8(t)],
];

const stringOps = defineOps("string", "tbs", {
  "re-encode": (ctx) => {
    const [name, tag, encode] = ctx.rng.pick(RE_ENCODINGS);
    if (ctx.rng.chance(0.8)) {
      const t = subjectText(ctx);
      if (!t) return undefined;
      t.node.tag = tag;
      t.node.content = encode(t.text, ctx.rng);
      return `${t.what}: ${name}`;
    }
    // A dNSName keeps its [2] tag; only the bytes change.
    const t = dnsText(ctx);
    if (!t) return undefined;
    t.node.content = encode(t.text, ctx.rng);
    return `${t.what}: ${name} bytes`;
  },
});

// ---------------------------------------------------------------------------------------------
// Ops: OBJECT IDENTIFIER encodings

/** The OID nodes worth re-encoding, with names. */
function oidTargets(ctx: Ctx): [string, Node, string][] {
  const out: [string, Node, string][] = [];
  const add = (o: Node | undefined, name: (text: string) => string): void => {
    const text = oidTextOf(o);
    if (o && text) out.push([name(text), o, text]);
  };
  for (const f of atvsOf(ctx.info)) add(f.node.children?.[0], (t) => (t === OIDS.commonName ? "CN" : t === OIDS.organization ? "O" : t));
  for (const a of attributesOf(ctx.info)?.children ?? []) add(a.children?.[0], (t) => (t === OIDS.extensionRequest ? "extensionRequest" : t));
  for (const ext of sanExtensions(ctx)) {
    const o = ext.children?.[0];
    if (o) out.push(["subjectAltName", o, OIDS.subjectAltName]);
  }
  const alg = spkiOf(ctx.info)?.children?.[0];
  for (const [i, o] of (alg?.children ?? []).entries()) if (o.tag === TAGS.oid) add(o, () => (i === 0 ? "spki.alg" : "spki.curve"));
  return out;
}

const OID_SWAPS: Readonly<Record<string, readonly string[]>> = {
  [OIDS.commonName]: [OIDS.organization, OIDS.x500UniqueIdentifier, OIDS.organizationalUnit],
  [OIDS.organization]: [OIDS.commonName, OIDS.x500UniqueIdentifier, OIDS.organizationalUnit],
  [OIDS.extensionRequest]: [OIDS.msExtensionRequest, "1.2.840.113549.1.9.15", "1.2.840.113549.1.9.14.0"],
  [OIDS.subjectAltName]: [OIDS.subjectAltNameObsolete, OIDS.issuerAltName, "2.5.29.17.0"],
};

/** Replaces the OID in `o` by another of `options`: "<old>→<new>". */
function swapOid(rng: Rng, o: Node, options: readonly string[]): string {
  const current = oidTextOf(o);
  const to = rng.pick(options.filter((x) => x !== current));
  o.content = oidBody(to);
  return `${current ?? "?"}→${to}`;
}

const oidOps = defineOps("oid", "tbs", {
  "oid-nonminimal": (ctx) => {
    const [name, node, text] = ctx.rng.pick(oidTargets(ctx));
    const arc = ctx.rng.int(oidArcCount(text));
    const padding = ctx.rng.chance(0.8) ? 1 : 2;
    node.content = oidBody(text, { nonMinimalArcs: [arc], padding });
    return `${name}: arc ${arc}${padding > 1 ? " x2" : ""}`;
  },
  "oid-dangling": (ctx) => {
    const [name, node, text] = ctx.rng.pick(oidTargets(ctx));
    if (ctx.rng.chance(0.5)) {
      node.content = oidBody(text, { dangling: true });
      return `${name}: last octet | 0x80`;
    }
    node.content = concatBytes([oidBody(text), Uint8Array.of(0x80)]);
    return `${name}: trailing 0x80`;
  },
  "oid-swap": (ctx) => {
    const [name, node, text] = ctx.rng.pick(oidTargets(ctx).filter(([, , t]) => OID_SWAPS[t]));
    const to = ctx.rng.pick(OID_SWAPS[text] ?? []);
    node.content = oidBody(to);
    return `${name}: ${text}→${to}`;
  },
});

// ---------------------------------------------------------------------------------------------
// Ops: BOOLEAN and INTEGER encodings

/** BOOLEAN contents for ext-critical, with their names in the op detail. */
const CRITICAL_CONTENTS: readonly (readonly [string, Uint8Array])[] = [
  ["0x01", Uint8Array.of(0x01)],
  ["0x00", Uint8Array.of(0x00)],
  ["0xff", Uint8Array.of(0xff)],
  ["0x80", Uint8Array.of(0x80)],
  ["2 octets", Uint8Array.of(0xff, 0xff)],
  ["empty", new Uint8Array(0)],
];

const VERSION_CONTENTS: readonly (readonly [string, Uint8Array])[] = [
  ["02 02 00 00", Uint8Array.of(0, 0)],
  ["1", Uint8Array.of(1)],
  ["-1", Uint8Array.of(0xff)],
  ["2", Uint8Array.of(2)],
  ["empty", new Uint8Array(0)],
  ["9 octets", new Uint8Array(9)],
];

const encodingOps = defineOps("encoding", "tbs", {
  // critical BOOLEAN DEFAULT FALSE: DER requires 0xff for TRUE and omission for FALSE (X.690 §11.1, §11.5).
  "ext-critical": (ctx) => {
    const ext = ctx.rng.pick(sanExtensions(ctx));
    const kids = ext.children as Node[];
    const [name, content] = ctx.rng.pick(CRITICAL_CONTENTS);
    const existing = kids.findIndex((k) => k.tag === TAGS.boolean);
    const node = prim(TAGS.boolean, content);
    if (existing >= 0) {
      replaceChild(ext, existing, node);
      return `${name}, replaced`;
    }
    const after = ctx.rng.chance(0.2);
    insert(ext, after ? kids.length : 1, node);
    return `${name}${after ? ", after extnValue" : ""}`;
  },
  version: (ctx) => {
    const version = ctx.info.children?.[0];
    if (!version || version.tag !== TAGS.integer) return undefined;
    if (ctx.rng.chance(0.1)) {
      ctx.info.children?.splice(0, 1);
      return "absent";
    }
    const [name, content] = ctx.rng.pick(VERSION_CONTENTS);
    version.content = content;
    return name;
  },
});

// ---------------------------------------------------------------------------------------------
// Ops: confusable Unicode

const FULLWIDTH = (c: string): string => String.fromCharCode(c.charCodeAt(0) + 0xfee0);
const CONFUSABLES: readonly (readonly [string, RegExp, (text: string, rng: Rng) => string])[] = [
  ["kelvin", /[kK]/, (t, rng) => replaceOne(t, /[kK]/g, () => "\u212a", rng)],
  ["dotted-I", /[iI]/, (t, rng) => replaceOne(t, /[iI]/g, () => "\u0130", rng)],
  ["dotless-i", /[iI]/, (t, rng) => replaceOne(t, /[iI]/g, () => "\u0131", rng)],
  ["long-s", /[sS]/, (t, rng) => replaceOne(t, /[sS]/g, () => "\u017f", rng)],
  ["fullwidth", /[!-~]/, (t, rng) => (rng.chance(0.3) ? t.replace(/[!-~]/g, FULLWIDTH) : replaceOne(t, /[!-~]/g, FULLWIDTH, rng))],
  ["upper", /[a-z]/, (t) => t.toUpperCase()],
  ["upper-one", /[a-z]/, (t, rng) => replaceOne(t, /[a-z]/g, (c) => c.toUpperCase(), rng)],
  ["trailing-dot", /^/, (t) => `${t}.`],
  ["nul", /^/, (t, rng) => (rng.chance(0.5) ? `${t}\u0000` : `${t}\u0000.attacker.example`)],
  ["zero-width", /^./, (t, rng) => {
    const i = 1 + rng.int(t.length);
    return `${t.slice(0, i)}\u200b${t.slice(i)}`;
  }],
];

function replaceOne(text: string, re: RegExp, to: (c: string) => string, rng: Rng): string {
  const hits = [...text.matchAll(re)].map((m) => m.index);
  if (hits.length === 0) return text;
  const i = rng.pick(hits);
  return text.slice(0, i) + to(text[i] ?? "") + text.slice(i + 1);
}

/** A confusable spelling of `text` by one of the CONFUSABLES that fit it: [its name, the new text]. */
function confuse(rng: Rng, text: string): [string, string] {
  const [name, , fn] = rng.pick(CONFUSABLES.filter(([, re]) => re.test(text)));
  return [name, fn(text, rng)];
}

const confusableOps = defineOps("confusable", "tbs", {
  confusable: (ctx) => {
    const target = ctx.rng.int(4);
    if (target === 3) {
      // A confusable spelling of an evil name, injected as a new dNSName.
      const gns = generalNamesOf(ctx.info);
      if (!gns) return undefined;
      const [name, text] = confuse(ctx.rng, ctx.rng.pick(EVIL.dnsNames));
      insertAnywhere(ctx.rng, gns, dnsName(text));
      return `inject dns ${JSON.stringify(text)}: ${name}`;
    }
    const t = target === 2 ? dnsText(ctx) : subjectText(ctx);
    if (!t) return undefined;
    const [name, out] = confuse(ctx.rng, t.text);
    t.node.content = utf8(out);
    // Non-ASCII text: a UTF8String as Go's marshaller would write, or (sometimes) the old tag kept.
    if (/[^\x00-\x7f]/.test(out) && t.node.tag !== GN.dns && ctx.rng.chance(0.8)) t.node.tag = TAGS.utf8String;
    return `${t.what} ${JSON.stringify(out)}: ${name}`;
  },
});

// ---------------------------------------------------------------------------------------------
// Ops: IP / DNS

const OTHER_IPS = ["10.0.0.11", "10.0.0.12", "10.96.0.1", "192.0.2.100", "127.0.0.1", "fd00::11", "fd00::12"] as const;
const IP_LENGTHS: readonly (readonly [string, Uint8Array])[] = [
  ["0", new Uint8Array(0)],
  ["5", Uint8Array.of(10, 0, 0, 11, 0)],
  ["8 (address+mask)", Uint8Array.of(10, 0, 0, 11, 255, 255, 255, 255)],
  ["15", ipBytes("fd00::11").subarray(0, 15)],
  ["17", concatBytes([ipBytes("fd00::11"), Uint8Array.of(0)])],
  ["3", Uint8Array.of(10, 0, 0)],
];

const ipDnsOps = defineOps("ip-dns", "tbs", {
  "dns-to-ip": (ctx) => {
    const g = pickGeneralName(ctx, GN.dns);
    const ip = ctx.rng.pick(OTHER_IPS);
    replaceChild(g.parent, g.index, ipName(ipBytes(ip)));
    return `gn[${g.index}] ${textOf(g.node) ?? "?"} → ${ip}`;
  },
  "ip-to-dns": (ctx) => {
    const g = pickGeneralName(ctx, GN.ip);
    const text = ctx.rng.pick(EVIL.ipLiterals);
    replaceChild(g.parent, g.index, dnsName(text));
    return `gn[${g.index}] → "${text}"`;
  },
  "ip-length": (ctx) => {
    const g = pickGeneralName(ctx, GN.ip);
    const [name, content] = ctx.rng.pick(IP_LENGTHS);
    g.node.content = content;
    return `gn[${g.index}]: ${name}`;
  },
  "ip-v6-form": (ctx) => {
    const gns = generalNamesOf(ctx.info);
    if (!gns) return undefined;
    const v4 = ctx.rng.pick(EVIL.embeddedIpv4);
    const form = ctx.rng.pick(["mapped", "compatible", "nat64", "sixToFour"] as const);
    const node = ipName(IPV4_IN_IPV6[form](ipBytes(v4)));
    const v4s = (gns.children ?? []).map((n, i) => [n, i] as const).filter(([n]) => n.tag === GN.ip && n.content?.length === 4);
    if (v4s.length && ctx.rng.chance(0.5)) {
      const [, i] = ctx.rng.pick(v4s);
      replaceChild(gns, i, node);
      return `gn[${i}] → ${form} ${v4}`;
    }
    return `${form} ${v4} at ${insertAnywhere(ctx.rng, gns, node)}`;
  },
  "dns-ip-literal": insertAnywhereOp(generalNamesOf, (rng) => {
    const text = rng.pick(EVIL.ipLiterals);
    return [dnsName(text), `"${text}"`];
  }),
});

// ---------------------------------------------------------------------------------------------
// Ops: keys

interface RsaParts {
  readonly n: Uint8Array;
  readonly e: Uint8Array;
}

/** n and e content octets of the RSA key in the SPKI node. */
function rsaParts(spki: Node): RsaParts | undefined {
  const bits = spki.children?.[1]?.content;
  if (!bits || bits.length < 2) return undefined;
  try {
    const [n, e] = parse(bits.subarray(1)).children ?? [];
    return n?.content && e?.content ? { n: n.content, e: e.content } : undefined;
  } catch {
    return undefined;
  }
}

function ecPoint(spki: Node): Uint8Array | undefined {
  const bits = spki.children?.[1]?.content;
  return bits && bits.length > 1 && bits[1] === 0x04 ? bits.subarray(1) : undefined;
}

/** The named-curve parameter of an EC SPKI; undefined when it is not an OBJECT IDENTIFIER. */
function curveOidNode(spki: Node): Node | undefined {
  const node = spki.children?.[0]?.children?.[1];
  return node?.tag === TAGS.oid ? node : undefined;
}

const setKeyBits = (spki: Node, keyBytes: Uint8Array, unused = 0): void => {
  const bits = spki.children?.[1];
  if (bits) bits.content = concatBytes([Uint8Array.of(unused), keyBytes]);
};

/** Sets the unused-bits octet of a BIT STRING to 1-7 (the key or signature octets kept) and returns the number. */
function setUnusedBits(rng: Rng, bits: Node): string {
  const n = rng.range(1, 7);
  bits.content = concatBytes([Uint8Array.of(n), bits.content?.subarray(1) ?? new Uint8Array(0)]);
  return String(n);
}

function replaceSpki(ctx: Ctx, spki: Node): boolean {
  if (!ctx.info.children || ctx.info.children.length < 3) return false;
  ctx.info.children[2] = spki;
  return true;
}

function rekey(ctx: Ctx, key: SigningKey): boolean {
  if (ctx.keyChanged || (ctx.hashChanged && (key.kind === "ed25519" || (key.kind === "ecdsa" && ctx.hash === "md5")))) return false;
  if (!replaceSpki(ctx, key.spki())) return false;
  ctx.key = key;
  if (!ctx.hashChanged) ctx.hash = key.hash;
  ctx.keyChanged = true;
  return true;
}

/**
 * An op on the seed's own key (not after a re-key), for seeds of key kind `kind`: `read` takes
 * what the op edits out of the SPKI, and the op does not apply when it returns undefined.
 */
function ownKeyOp<T>(kind: KeyKind, read: (spki: Node) => T | undefined, apply: (ctx: Ctx, value: T, spki: Node) => string | undefined): OpEntry {
  return {
    keys: [kind],
    apply: (ctx) => {
      const spki = spkiOf(ctx.info);
      const value = spki && !ctx.keyChanged ? read(spki) : undefined;
      return spki && value !== undefined ? apply(ctx, value, spki) : undefined;
    },
  };
}

const HUGE_E = concatBytes([Uint8Array.of(0x01), new Uint8Array(300).fill(0xff)]);
const RSA_EXPONENTS: readonly (readonly [string, Uint8Array])[] = [
  ["3", Uint8Array.of(3)],
  ["65536 (even)", Uint8Array.of(1, 0, 0)],
  ["huge", HUGE_E],
  ["0", Uint8Array.of(0)],
  ["-65537", Uint8Array.of(0xfe, 0xff, 0xff)],
  ["1 (seed signature)", Uint8Array.of(1)],
];

const keyOps = defineOps("key", "tbs", {
  "rsa-e1-forged": (ctx) => {
    if (ctx.keyChanged || ctx.hashChanged) return undefined;
    const modulus = ctx.key.modulus ?? FIXED_RSA_MODULUS;
    if (!replaceSpki(ctx, rsaSpki(bigToBytes(modulus), Uint8Array.of(1)))) return undefined;
    ctx.keyChanged = true;
    ctx.forgeModulus = modulus;
    ctx.hash = "sha256";
    return ctx.key.modulus ? "seed modulus" : "fixed modulus";
  },
  "rsa-exponent": ownKeyOp("rsa", rsaParts, (ctx, parts) => {
    const [name, e] = ctx.rng.pick(RSA_EXPONENTS);
    replaceSpki(ctx, rsaSpki(parts.n, e));
    return name;
  }),
  // Re-encodes n or e with redundant leading 00 octets (X.690 §8.3.2 forbids them); the key is unchanged.
  "rsa-int-nonminimal": ownKeyOp("rsa", rsaParts, (ctx, parts, spki) => {
    const which = ctx.rng.chance(0.5) ? "e" : "n";
    const int = (name: "n" | "e"): Node => prim(TAGS.integer, name === which ? pad0(parts[name]) : parts[name]);
    setKeyBits(spki, serialise(seq(int("n"), int("e"))));
    return which;
  }),
  "rsa-even-modulus": ownKeyOp("rsa", rsaParts, (ctx, parts) => {
    replaceSpki(ctx, rsaSpki(editLastByte(parts.n, (b) => b & 0xfe), parts.e));
    return "n & ~1";
  }),
  "rekey-rsa-e3": (ctx) => (rekey(ctx, rsaE3Key()) ? "RSA-2048 e=3, re-signed" : undefined),
  // SEC 1 v2 §2.3.3: 02/03 || X (compressed), 06/07 || X || Y (hybrid); the same public key.
  "ec-point-form": ownKeyOp("ecdsa", ecPoint, (ctx, point, spki) => {
    const size = (point.length - 1) / 2;
    const yOdd = ((point[point.length - 1] ?? 0) & 1) === 1;
    if (ctx.rng.chance(0.75)) {
      setKeyBits(spki, concatBytes([Uint8Array.of(yOdd ? 0x03 : 0x02), point.subarray(1, 1 + size)]));
      return "compressed";
    }
    setKeyBits(spki, concatBytes([Uint8Array.of(yOdd ? 0x07 : 0x06), point.subarray(1)]));
    return "hybrid";
  }),
  "ec-off-curve": ownKeyOp("ecdsa", ecPoint, (_ctx, point, spki) => {
    setKeyBits(spki, editLastByte(point, (b) => b ^ 0x01));
    return "y ^ 1";
  }),
  // The curve OID changed, the point and the signing key not.
  "ec-curve-oid": ownKeyOp("ecdsa", curveOidNode, (ctx, curveNode) => {
    const own = ctx.key.curve?.name;
    const to = ctx.rng.pick((["P-192", "P-224", "secp256k1", "P-521", "P-256", "P-384"] as const).filter((c) => c !== own));
    curveNode.content = oidBody(CURVES[to].oid);
    return to;
  }),
  "rekey-ec": (ctx) => {
    const options: CurveName[] = ["P-192", "P-224", "secp256k1", "P-521"];
    if (ctx.key.kind !== "ecdsa") options.push("P-256", "P-384");
    const curve = ctx.rng.pick(options);
    return rekey(ctx, fixedEcKey(curve)) ? `${curve}, re-signed` : undefined;
  },
  "key-params": (ctx) => {
    const alg = spkiOf(ctx.info)?.children?.[0];
    if (!alg?.children) return undefined;
    const kind = ctx.keyChanged ? undefined : ctx.key.kind;
    if (kind === "ed25519" || kind === "rsa") {
      // RFC 8410 §3: Ed25519 parameters MUST be absent; RFC 8017 App. C: RSA has NULL.
      if (alg.children.length > 1) {
        alg.children.splice(1);
        return "NULL removed";
      }
      alg.children.push(ctx.rng.chance(0.7) ? nullNode() : oidNode(CURVES["P-256"].oid));
      return "parameters added";
    }
    if (kind === "ecdsa") {
      const v = ctx.rng.int(3);
      if (v === 0) alg.children.splice(1);
      else if (v === 1) alg.children.splice(1, 1, nullNode());
      else alg.children.push(nullNode());
      return ["curve absent", "curve → NULL", "extra NULL"][v];
    }
    return undefined;
  },
  "ed25519-key-length": ownKeyOp("ed25519", (spki) => spki.children?.[1]?.content, (ctx, bits, spki) => {
    const longer = ctx.rng.chance(0.5);
    setKeyBits(spki, longer ? concatBytes([bits.subarray(1), Uint8Array.of(0)]) : bits.subarray(1, bits.length - 1));
    return longer ? "33 bytes" : "31 bytes";
  }),
  "spki-alg-swap": (ctx) => {
    const o = spkiOf(ctx.info)?.children?.[0]?.children?.[0];
    if (!o || o.tag !== TAGS.oid) return undefined;
    return swapOid(ctx.rng, o, Object.values(KEY_OIDS));
  },
  "spki-unused-bits": (ctx) => {
    const bits = spkiOf(ctx.info)?.children?.[1];
    if (!bits?.content || bits.content.length < 1) return undefined;
    return setUnusedBits(ctx.rng, bits);
  },
});

// ---------------------------------------------------------------------------------------------
// Ops: the outer structure and the signature

const ED25519_L = 2n ** 252n + 27742317777372353535851937790883648493n;

function ecdsaParts(sig: Uint8Array): { r: Uint8Array; s: Uint8Array } | undefined {
  try {
    const [r, s] = parse(sig).children ?? [];
    return r?.content && s?.content ? { r: r.content, s: s.content } : undefined;
  } catch {
    return undefined;
  }
}

const signedWith = (ctx: Ctx): KeyKind | "forged" => (ctx.forgeModulus !== undefined ? "forged" : ctx.key.kind);

const SIG_ALG_OIDS: readonly string[] = [...Object.values(SIG_OIDS.rsa), ...Object.values(SIG_OIDS.ecdsa), SIG_OIDS.ed25519, "1.2.840.113549.1.1.10"];

const outerOps = defineOps("outer", "outer", {
  "sig-alg-hash": {
    phase: "tbs",
    apply: (ctx) => {
      if (ctx.forgeModulus !== undefined) return undefined;
      const options: readonly Hash[] =
        ctx.key.kind === "rsa" ? ["md5", "sha1", "sha256", "sha384", "sha512"] : ctx.key.kind === "ecdsa" ? ["sha1", "sha256", "sha384", "sha512"] : [];
      const choices = options.filter((h) => h !== ctx.hash);
      if (choices.length === 0) return undefined;
      ctx.hash = ctx.rng.pick(choices);
      ctx.hashChanged = true;
      return `${ctx.hash}, re-signed`;
    },
  },
  "sig-alg-oid": (ctx) => {
    const o = ctx.outer.children?.[1]?.children?.[0];
    if (!o) return undefined;
    return swapOid(ctx.rng, o, SIG_ALG_OIDS);
  },
  "sig-alg-params": (ctx) => {
    const alg = ctx.outer.children?.[1];
    if (!alg?.children) return undefined;
    if (alg.children.length > 1 && ctx.rng.chance(0.7)) {
      alg.children.splice(1);
      return "removed";
    }
    const [node, what] = ctx.rng.pick([
      [nullNode(), "NULL"],
      [intNode(0), "INTEGER 0"],
      [seq(), "empty SEQUENCE"],
    ] as const);
    alg.children.push(node);
    return `+${what}`;
  },
  "bitstring-unused": (ctx) => {
    const bits = ctx.outer.children?.[2];
    if (!bits?.content) return undefined;
    return setUnusedBits(ctx.rng, bits);
  },
  "rsa-sig-length": {
    phase: "sig",
    apply: (ctx) => {
      const kind = signedWith(ctx);
      if (kind !== "rsa" && kind !== "forged") return undefined;
      if (ctx.rng.chance(0.5)) {
        ctx.signature = concatBytes([Uint8Array.of(0), ctx.signature]);
        return "+00";
      }
      const first = ctx.signature[0] ?? 0;
      ctx.signature = ctx.signature.slice(1);
      return `first octet ${h2(first)} dropped`;
    },
  },
  "ecdsa-sig": {
    phase: "sig",
    apply: (ctx) => {
      if (signedWith(ctx) !== "ecdsa") return undefined;
      const parts = ecdsaParts(ctx.signature);
      const n = ctx.key.curve?.order;
      if (!parts || !n) return undefined;
      const build = (r: Uint8Array, s: Uint8Array, extra: Node[] = []): Uint8Array<ArrayBuffer> =>
        serialise(seq(prim(TAGS.integer, r), prim(TAGS.integer, s), ...extra));
      switch (ctx.rng.int(6)) {
        case 0:
          ctx.signature = build(pad0(parts.r), parts.s);
          return "non-minimal r";
        case 1:
          ctx.signature = build(parts.r, pad0(parts.s));
          return "non-minimal s";
        case 2: {
          // (r, n − s) verifies as well as (r, s) (SEC 1 v2 §4.1.4 has no low-s rule).
          const s = bytesToBig(parts.s);
          ctx.signature = serialise(seq(intNode(bytesToBig(parts.r)), intNode(n - s)));
          return "s → n−s";
        }
        case 3: {
          const size = ctx.key.curve?.size ?? 32;
          ctx.signature = concatBytes([bigToBytes(bytesToBig(parts.r), size), bigToBytes(bytesToBig(parts.s), size)]);
          return "raw r||s";
        }
        case 4:
          ctx.signature = build(parts.r, parts.s, [intNode(0)]);
          return "extra INTEGER";
        default: {
          // r without its sign octet: a negative INTEGER.
          const r = parts.r[0] === 0 ? parts.r.subarray(1) : parts.r;
          if (((r[0] ?? 0) & 0x80) === 0) return undefined;
          ctx.signature = build(r, parts.s);
          return "negative r";
        }
      }
    },
  },
  "ed25519-sig": {
    phase: "sig",
    apply: (ctx) => {
      if (signedWith(ctx) !== "ed25519" || ctx.signature.length !== 64) return undefined;
      switch (ctx.rng.int(3)) {
        case 0:
          ctx.signature = ctx.signature.slice(0, 63);
          return "63 bytes";
        case 1:
          ctx.signature = concatBytes([ctx.signature, Uint8Array.of(0)]);
          return "65 bytes";
        default: {
          // S + L: the same S modulo L, non-canonical (RFC 8032 §5.1.7 requires S < L).
          const sLe = ctx.signature.slice(32).reverse();
          const s = bytesToBig(sLe) + ED25519_L;
          ctx.signature = concatBytes([ctx.signature.subarray(0, 32), bigToBytes(s, 32).reverse()]);
          return "S + L";
        }
      }
    },
  },
  "outer-extra-element": (ctx) => {
    const [node, what] = ctx.rng.pick([
      [nullNode(), "NULL"],
      [intNode(0), "INTEGER"],
      [clone(ctx.outer.children?.[2] ?? nullNode()), "signature copy"],
      [clone(ctx.outer.children?.[0] ?? nullNode()), "info copy"],
    ] as const);
    insert(ctx.outer, ctx.outer.children?.length ?? 0, node);
    return what;
  },
  "outer-length": (ctx) => {
    const targets: readonly (readonly [string, Path])[] = [
      ["CertificationRequest", []],
      ["signatureAlgorithm", [1]],
      ["signature", [2]],
    ];
    const [name, path] = ctx.rng.pick(targets);
    const node = at(ctx.outer, path);
    if (!node) return undefined;
    const v = ctx.rng.int(4);
    node.lengthForm = v === 0 ? "long" : v === 1 ? "indefinite" : { delta: v === 2 ? 1 : -1 };
    return `${name}: ${["long", "indefinite", "+1", "-1"][v]}`;
  },
  "outer-tag": (ctx) => {
    const sig = ctx.outer.children?.[2];
    if (ctx.rng.chance(0.5) || !sig) {
      ctx.outer.tag = 0x31;
      return "CertificationRequest 0x30→0x31";
    }
    sig.tag = TAGS.octetString;
    sig.content = sig.content?.subarray(1) ?? new Uint8Array(0);
    return "signature BIT STRING→OCTET STRING";
  },
  "trailing-bytes": {
    phase: "der",
    apply: (ctx) => {
      const v = ctx.rng.int(4);
      const extra =
        v === 0 ? Uint8Array.of(0, 0) : v === 1 ? ctx.rng.bytes(ctx.rng.range(1, 16)) : v === 2 ? Uint8Array.of(0x0a) : evilCsrDer(ctx);
      ctx.der = concatBytes([ctx.der, extra]);
      return ["00 00", "random", "0a", "evil CSR"][v];
    },
  },
});

// ---------------------------------------------------------------------------------------------
// Ops: PEM armour (RFC 7468)

const LABEL = "CERTIFICATE REQUEST";
const wrap = (b64: string, width: number): string[] => {
  const out: string[] = [];
  for (let i = 0; i < b64.length; i += width) out.push(b64.slice(i, i + width));
  return out;
};
const bodyText = (p: PemParts): string => p.body.join("");
const b64 = (der: Uint8Array): string => Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");

function armour(der: Uint8Array, label = LABEL): PemParts {
  return { before: "", begin: `-----BEGIN ${label}-----`, headers: [], body: wrap(b64(der), 64), end: `-----END ${label}-----`, after: "", eol: "\n", finalNewline: true };
}

function pemText(p: PemParts): string {
  const lines = [p.begin, ...p.headers, ...p.body, p.end];
  return `${p.before}${lines.join(p.eol)}${p.finalNewline ? p.eol : ""}${p.after}`;
}

/** A valid CSR for evil SANs, signed with the seed's key: DER. */
function evilCsrDer(ctx: Ctx): Uint8Array<ArrayBuffer> {
  const info = clone(ctx.prep.info);
  const gns = generalNamesOf(info);
  const [names] = evilGeneralNames(ctx.rng);
  if (gns) gns.children = names;
  const cn = atvsOfType(info, OIDS.commonName)[0]?.node.children?.[1];
  if (cn && ctx.rng.chance(0.5)) {
    cn.tag = TAGS.printableString;
    cn.content = utf8(ctx.rng.pick(EVIL.commonNames));
  }
  const tbs = serialise(info);
  return serialise(seq(rawNode(tbs), clone(ctx.prep.sigAlgId), prim(TAGS.bitString, concatBytes([Uint8Array.of(0), signCached(ctx.prep.key, tbs, ctx.prep.hash)]))));
}

/** An op that adds one of `choices` ([text, name]) before or after the PEM block: the name. */
const pemAddOp =
  (where: "before" | "after", choices: readonly (readonly [string, string])[]): Apply =>
  (ctx) => {
    const [text, name] = ctx.rng.pick(choices);
    ctx.pem[where] = where === "before" ? `${text}${ctx.pem.before}` : `${ctx.pem.after}${text}`;
    return name;
  };

/**
 * An op that rewrites the base64 text of the body, wrapped at 64 again: `edit` returns [the new
 * text, the detail], or undefined when the op does not apply.
 */
const pemBodyOp =
  (edit: (text: string, rng: Rng) => readonly [string, string] | undefined): Apply =>
  (ctx) => {
    const edited = edit(bodyText(ctx.pem), ctx.rng);
    if (!edited) return undefined;
    ctx.pem.body = wrap(edited[0], 64);
    return edited[1];
  };

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const pemOps = defineOps("pem", "pem", {
  "pem-bom": (ctx) => {
    ctx.pem.before = `\ufeff${ctx.pem.before}`;
    return "";
  },
  "pem-leading": pemAddOp("before", [
    [" ", "space"],
    ["\t", "tab"],
    ["\n", "newline"],
    ["Certificate Request:\n    Data:\n", "text line"],
    ["x", "text on the BEGIN line"],
  ]),
  "pem-eol": (ctx) => {
    ctx.pem.eol = ctx.rng.chance(0.8) ? "\r\n" : "\r";
    return ctx.pem.eol === "\r\n" ? "CRLF" : "CR";
  },
  "pem-line-length": (ctx) => {
    const width = ctx.rng.pick([76, 1000, 4, 65]);
    ctx.pem.body = wrap(bodyText(ctx.pem), width);
    return String(width);
  },
  "pem-whitespace": (ctx) => {
    const body = ctx.pem.body;
    const i = ctx.rng.int(body.length);
    const line = body[i] ?? "";
    const v = ctx.rng.int(4);
    if (v === 3) {
      body.splice(i, 0, "");
      return `blank line before body line ${i}`;
    }
    const ws = [" ", "\t", " \t "][v] ?? " ";
    const j = ctx.rng.int(line.length + 1);
    body[i] = line.slice(0, j) + ws + line.slice(j);
    return `${JSON.stringify(ws)} in body line ${i}`;
  },
  "pem-header": (ctx) => {
    if (ctx.rng.chance(0.6)) {
      ctx.pem.headers = ["Proc-Type: 4,ENCRYPTED", "DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF", ""];
      return "Proc-Type: 4,ENCRYPTED";
    }
    ctx.pem.headers = ["Comment: x", ""];
    return "Comment";
  },
  "pem-second-block": (ctx) => {
    const label = ctx.rng.pick([LABEL, LABEL, "NEW CERTIFICATE REQUEST", "CERTIFICATE"]);
    const other = pemText(armour(evilCsrDer(ctx), label)).replace(/\n/g, ctx.pem.eol);
    if (ctx.rng.chance(0.5)) {
      ctx.pem.before = `${other}${ctx.pem.before}`;
      return `evil ${label} before`;
    }
    ctx.pem.after = `${ctx.pem.after}${ctx.pem.finalNewline ? "" : ctx.pem.eol}${other}`;
    return `evil ${label} after`;
  },
  "pem-junk-after": pemAddOp("after", [
    ["junk\n", "text"],
    ["\u0000\u0000", "NULs"],
    [`-----END ${LABEL}-----\n`, "second END line"],
    ["-----BEGIN CERTIFICATE REQUEST-----\n", "dangling BEGIN line"],
  ]),
  "pem-label": (ctx) => {
    const labels: readonly (readonly [string, string, string])[] = [
      ["-----BEGIN certificate request-----", "-----END certificate request-----", "lower-case"],
      ["-----BEGIN NEW CERTIFICATE REQUEST-----", "-----END NEW CERTIFICATE REQUEST-----", "NEW CERTIFICATE REQUEST"],
      [ctx.pem.begin, "-----END CERTIFICATE-----", "END CERTIFICATE"],
      ["-----BEGIN CERTIFICATE  REQUEST-----", "-----END CERTIFICATE  REQUEST-----", "double space"],
      ["----BEGIN CERTIFICATE REQUEST-----", "-----END CERTIFICATE REQUEST----", "four dashes"],
    ];
    const [begin, end, name] = ctx.rng.pick(labels);
    ctx.pem.begin = begin;
    ctx.pem.end = end;
    return name;
  },
  "pem-no-final-newline": (ctx) => {
    if (!ctx.pem.finalNewline) return undefined;
    ctx.pem.finalNewline = false;
    return "";
  },
  "pem-trailing-space": (ctx) => {
    if (ctx.rng.chance(0.5)) {
      ctx.pem.begin += " ";
      return "BEGIN line";
    }
    ctx.pem.body = ctx.pem.body.map((l) => `${l} `);
    return "body lines";
  },
  // RFC 4648 §3.5: the pad bits of the last character should be zero; here they are not.
  "pem-b64-padding-bits": pemBodyOp((text, rng) => {
    const pads = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
    if (pads === 0) return undefined;
    const i = text.length - pads - 1;
    const v = BASE64.indexOf(text[i] ?? "A");
    const mask = pads === 2 ? 0x0f : 0x03;
    return [text.slice(0, i) + (BASE64[v | (1 + rng.int(mask))] ?? "A") + text.slice(i + 1), `${pads} pad char(s)`];
  }),
  "pem-no-padding": pemBodyOp((text) => (text.endsWith("=") ? [text.replace(/=+$/, ""), ""] : undefined)),
  "pem-b64url": pemBodyOp((text) => (/[+/]/.test(text) ? [text.replace(/\+/g, "-").replace(/\//g, "_"), ""] : undefined)),
});

// ---------------------------------------------------------------------------------------------
// Ops: unstructured bytes

function byteEdit(kind: "flip" | "insert" | "delete", bytes: Uint8Array<ArrayBuffer>, rng: Rng): [Uint8Array<ArrayBuffer>, number] {
  if (bytes.length === 0) return [bytes, 0];
  const i = rng.int(bytes.length);
  if (kind === "flip") {
    const out = Uint8Array.from(bytes);
    out[i] = (out[i] ?? 0) ^ (rng.chance(0.7) ? 1 << rng.int(8) : 1 + rng.int(255));
    return [out, i];
  }
  if (kind === "insert") return [concatBytes([bytes.subarray(0, i), rng.bytes(1), bytes.subarray(i)]), i];
  return [concatBytes([bytes.subarray(0, i), bytes.subarray(i + 1)]), i];
}

/** Where the byte edits apply: the serialised TBS (signed afterwards) and the final DER. */
const BYTE_TARGETS = [
  { phase: "tbs-bytes", bytes: "tbs", note: ", re-signed" },
  { phase: "der", bytes: "der", note: "" },
] as const;

const byteOps: OpDef[] = (["flip", "insert", "delete"] as const).flatMap((kind) =>
  BYTE_TARGETS.map(({ phase, bytes, note }): OpDef => ({
    id: `byte-${kind}`,
    family: "bytes",
    phase,
    apply: (ctx) => {
      const [out, i] = byteEdit(kind, ctx[bytes], ctx.rng);
      ctx[bytes] = out;
      return `${bytes}@${i}${note}`;
    },
  })),
);

// ---------------------------------------------------------------------------------------------
// Registry

const ALL_OPS: readonly OpDef[] = [
  ...tagOps,
  ...lengthOps,
  ...structureOps,
  ...extensionOps,
  ...subjectOps,
  ...sanOps,
  ...stringOps,
  ...oidOps,
  ...encodingOps,
  ...confusableOps,
  ...ipDnsOps,
  ...keyOps,
  ...outerOps,
  ...pemOps,
  ...byteOps,
];

/** Every op id with its family (an id can have variants in more than one phase). */
export const OPS: readonly { readonly id: string; readonly family: OpFamily }[] = [
  ...new Map(ALL_OPS.map((o) => [o.id, { id: o.id, family: o.family }])).values(),
];

const FAMILY_OF: ReadonlyMap<string, OpFamily> = new Map(OPS.map((o) => [o.id, o.family]));

/** The op id of an op name ("tag-swap(subject.rdn[1]: 0x31→0x30)" → "tag-swap"). */
export const opId = (name: string): string => {
  const i = name.indexOf("(");
  return i < 0 ? name : name.slice(0, i);
};

/** The family of an op name, or undefined ("noop" has none). */
export const familyOf = (name: string): OpFamily | undefined => FAMILY_OF.get(opId(name));

// ---------------------------------------------------------------------------------------------
// Pipeline

const prepared = new WeakMap<Seed, Prepared>();
const HASH_OF: Readonly<Record<Seed["sigAlg"], Hash>> = {
  "sha256-rsa": "sha256",
  "sha384-rsa": "sha384",
  "ecdsa-sha256": "sha256",
  "ecdsa-sha384": "sha384",
  ed25519: "sha512",
};

function pemBytes(der: Uint8Array): Uint8Array<ArrayBuffer> {
  return utf8(pemText(armour(der)));
}

function prepare(seed: Seed): Prepared {
  const cached = prepared.get(seed);
  if (cached) return cached;
  const tree = parse(seed.der);
  const [info, sigAlgId] = tree.children ?? [];
  if (!info || !sigAlgId) throw new RangeError(`${seed.name}: not a CertificationRequest`);
  // Open every extension value (OCTET STRING) so that its DER can be edited as a tree.
  openExtensionValues(info);
  const hash = HASH_OF[seed.sigAlg];
  const p: Prepared = { seed, info, sigAlgId, key: signingKeyOf(seed.key, hash), hash, pem: pemBytes(seed.der) };
  prepared.set(seed, p);
  return p;
}

const sigCache = new WeakMap<SigningKey, Map<string, Uint8Array<ArrayBuffer>>>();

/** Signs, remembering RSA signatures (1 ms each) by TBS digest: many mutants share their TBS. */
function signCached(key: SigningKey, tbs: Uint8Array, hash: Hash): Uint8Array<ArrayBuffer> {
  if (key.kind !== "rsa") return key.sign(tbs, hash);
  let cache = sigCache.get(key);
  if (!cache) sigCache.set(key, (cache = new Map()));
  const k = `${hash}:${createHash("sha256").update(tbs).digest("base64")}`;
  const hit = cache.get(k);
  if (hit) return hit;
  const sig = key.sign(tbs, hash);
  if (cache.size >= 1024) cache.clear();
  cache.set(k, sig);
  return sig;
}

interface Plan {
  readonly pool: readonly (readonly [OpDef, number])[];
  readonly minOps: number;
  readonly maxOps: number;
}

const plans = new WeakMap<MutateOptions, Plan>();
const DEFAULT_OPTIONS: MutateOptions = {};

function planOf(options: MutateOptions): Plan {
  const cached = plans.get(options);
  if (cached) return cached;
  const weights = { ...DEFAULT_WEIGHTS, ...options.weights };
  const only = options.only ? new Set(options.only) : undefined;
  const perFamily = new Map<OpFamily, number>();
  const selected = ALL_OPS.filter((o) => !only || only.has(o.id) || only.has(o.family)).filter((o) => (options.opWeights?.[o.id] ?? 1) > 0);
  // Variants of one id in several phases share the id's weight.
  const variants = new Map<string, number>();
  for (const o of selected) variants.set(o.id, (variants.get(o.id) ?? 0) + 1);
  for (const o of selected) perFamily.set(o.family, (perFamily.get(o.family) ?? 0) + (options.opWeights?.[o.id] ?? 1) / (variants.get(o.id) ?? 1));
  const pool = selected.map(
    (o) => [o, (weights[o.family] * (options.opWeights?.[o.id] ?? 1)) / (variants.get(o.id) ?? 1) / (perFamily.get(o.family) ?? 1)] as const,
  );
  const plan: Plan = { pool: pool.filter(([, w]) => w > 0), minOps: options.minOps ?? 1, maxOps: options.maxOps ?? 3 };
  plans.set(options, plan);
  return plan;
}

/**
 * One mutant of `seed`: 1-3 ops (see MutateOptions), re-signed, PEM-armoured. Never throws: when
 * nothing can be applied the result is the seed itself with ops ["noop"].
 */
export function mutate(seed: Seed, rng: Rng, options: MutateOptions = DEFAULT_OPTIONS): Mutant {
  const report = (error: unknown, op: string): void => {
    try {
      options.onError?.(error, op);
    } catch {
      // mutate never throws, not even through its callback
    }
  };
  let prep: Prepared;
  try {
    prep = prepare(seed);
  } catch (error) {
    report(error, "prepare");
    return { seed: seed.name, ops: ["noop"], request: noopPem(seed) };
  }
  try {
    return run(prep, rng, planOf(options), report);
  } catch (error) {
    report(error, "pipeline");
    return { seed: seed.name, ops: ["noop"], request: prep.pem };
  }
}

function noopPem(seed: Seed): Uint8Array {
  try {
    return pemBytes(seed.der);
  } catch {
    return new Uint8Array(0);
  }
}

function run(prep: Prepared, rng: Rng, plan: Plan, onError: (error: unknown, op: string) => void): Mutant {
  const ctx: Ctx = {
    prep,
    rng,
    info: clone(prep.info),
    key: prep.key,
    hash: prep.hash,
    keyChanged: false,
    hashChanged: false,
    forgeModulus: undefined,
    tbs: new Uint8Array(0),
    signature: new Uint8Array(0),
    outer: seq(),
    der: new Uint8Array(0),
    pem: armour(new Uint8Array(0)),
  };
  const kind = prep.key.kind;
  const pool = plan.pool.filter(([o]) => !o.keys || o.keys.includes(kind));
  const count = pool.length === 0 ? 0 : rng.range(plan.minOps, Math.max(plan.minOps, plan.maxOps));
  const chosen: OpDef[] = [];
  for (let i = 0; i < count; i++) chosen.push(rng.weighted(pool));
  const ops: string[] = [];

  const applyPhase = (phase: Phase): void => {
    const rank = PHASES.indexOf(phase);
    // `chosen` may grow while this runs: a replacement from a later phase is appended to it.
    for (let c = 0; c < chosen.length; c++) {
      const op = chosen[c] as OpDef;
      if (op.phase !== phase) continue;
      // An op that does not apply here is replaced by another op of this or a later phase (a few tries).
      let candidate: OpDef = op;
      const later = pool.filter(([o]) => PHASES.indexOf(o.phase) >= rank);
      for (let attempt = 0; attempt < 8; attempt++) {
        if (candidate.phase !== phase) {
          chosen.push(candidate);
          break;
        }
        let detail: string | undefined;
        try {
          detail = candidate.apply(ctx);
        } catch (error) {
          // An op with nothing to pick from simply does not apply; other errors are reported.
          if (!(error instanceof EmptyChoiceError)) onError(error, candidate.id);
          detail = undefined;
        }
        if (detail !== undefined) {
          ops.push(detail === "" ? candidate.id : `${candidate.id}(${detail})`);
          break;
        }
        candidate = rng.weighted(later);
      }
    }
  };

  applyPhase("tbs");
  ctx.tbs = serialise(ctx.info);
  applyPhase("tbs-bytes");
  let algId: Node;
  if (ctx.forgeModulus !== undefined) {
    ctx.signature = forgeRsaE1(ctx.forgeModulus, ctx.tbs, "sha256");
    algId = sigAlgId("rsa", "sha256");
  } else {
    ctx.signature = signCached(ctx.key, ctx.tbs, ctx.hash);
    algId = !ctx.keyChanged && ctx.hash === prep.hash ? clone(prep.sigAlgId) : sigAlgId(ctx.key.kind, ctx.hash);
  }
  applyPhase("sig");
  ctx.outer = seq(rawNode(ctx.tbs), algId, prim(TAGS.bitString, concatBytes([Uint8Array.of(0), ctx.signature])));
  applyPhase("outer");
  ctx.der = serialise(ctx.outer);
  applyPhase("der");
  const body = wrap(b64(ctx.der), 64);
  ctx.pem = { ...armour(new Uint8Array(0)), body };
  applyPhase("pem");
  // No op applied (or minOps = 0): the seed re-signed, byte-identical for RSA and Ed25519.
  if (ops.length === 0) ops.push("noop");
  return { seed: prep.seed.name, ops, request: utf8(pemText(ctx.pem)) };
}

/** `count` mutants, cycling through `seeds` in order. */
export function* mutants(seeds: readonly Seed[], rng: Rng, count: number, options: MutateOptions = DEFAULT_OPTIONS): Generator<Mutant> {
  if (seeds.length === 0) return;
  for (let i = 0; i < count; i++) yield mutate(seeds[i % seeds.length] as Seed, rng, options);
}

// ---------------------------------------------------------------------------------------------
// Reading mutants back (for tests and triage)

/** The DER of the first PEM block in a request, read leniently (any label, whitespace dropped); undefined if none. */
export function requestDer(request: Uint8Array): Uint8Array<ArrayBuffer> | undefined {
  const text = new TextDecoder().decode(request);
  const m = /-----BEGIN [^-]*-----\r?\n([\s\S]*?)-----END [^-]*-----/.exec(text);
  if (!m) return undefined;
  const body = (m[1] ?? "").split(/\r?\n/).filter((l) => !l.includes(":")).join("").replace(/\s+/g, "");
  return new Uint8Array(Buffer.from(body, "base64"));
}

