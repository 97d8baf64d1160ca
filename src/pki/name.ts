import type { Bytes } from "./der.js";
import { children, decodeOne, oid, printableString, readOid, sequence, setOf, utf8String, type DerNode } from "./der.js";

/** The subject fields kubeadm sets: Organization (any number) and CommonName. */
export interface Subject {
  readonly commonName: string;
  readonly organizations?: readonly string[];
}

/** The attribute types of the subject fields kubeadm sets. */
export const NAME_OIDS = { commonName: "2.5.4.3", organization: "2.5.4.10" } as const;
const OID_CN = NAME_OIDS.commonName;
const OID_O = NAME_OIDS.organization;

// Go's encoding/asn1 writes a string as PrintableString when every character is in
// this set, and as UTF8String otherwise (marshal.go makeField).
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

const directoryString = (text: string): Bytes =>
  PRINTABLE.test(text) ? printableString(text) : utf8String(text);

const attribute = (type: string, value: string): Bytes => sequence(oid(type), directoryString(value));

/**
 * The DER Name for a subject, as Go's pkix.Name.ToRDNSequence builds it: all O
 * values in one multi-valued RDN (a SET, sorted as DER), then the CN.
 */
export function encodeSubject(subject: Subject): Bytes {
  const rdns: Bytes[] = [];
  const orgs = subject.organizations ?? [];
  if (orgs.length > 0) rdns.push(setOf(orgs.map((o) => attribute(OID_O, o))));
  if (subject.commonName !== "") rdns.push(setOf([attribute(OID_CN, subject.commonName)]));
  return sequence(...rdns);
}

/** Every attribute of a DER Name, in order: its type's OID and its value's text. */
export function nameAttributes(name: DerNode | Bytes): { readonly oid: string; readonly value: string }[] {
  const node = name instanceof Uint8Array ? decodeOne(name) : name;
  const text = new TextDecoder();
  const out: { oid: string; value: string }[] = [];
  for (const rdn of children(node)) {
    for (const atv of children(rdn)) {
      const [type, value] = children(atv);
      if (type && value) out.push({ oid: readOid(type), value: text.decode(value.content) });
    }
  }
  return out;
}

/** The CN and O values of a DER Name (other attributes are ignored). */
export function readName(name: DerNode | Bytes): { commonName: string; organizations: string[] } {
  let commonName = "";
  const organizations: string[] = [];
  for (const { oid: o, value } of nameAttributes(name)) {
    if (o === OID_CN) commonName = value;
    if (o === OID_O) organizations.push(value);
  }
  return { commonName, organizations };
}

/** `O=a, O=b, CN=c` for display. */
export const formatName = (n: { commonName: string; organizations: readonly string[] }): string =>
  [...n.organizations.map((o) => `O=${o}`), ...(n.commonName ? [`CN=${n.commonName}`] : [])].join(", ") || "(empty)";
