import type { Bytes } from "./der.js";
import { oid, printableString, sequence, setOf, utf8String } from "./der.js";

/** The subject fields kubeadm sets: Organization (any number) and CommonName. */
export interface Subject {
  readonly commonName: string;
  readonly organizations?: readonly string[];
}

const OID_CN = "2.5.4.3";
const OID_O = "2.5.4.10";

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
