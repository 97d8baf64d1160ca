import { invalidInput } from "../errors.js";
import type { CsrObject, NodeObject } from "./policy.js";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Every document of a YAML or JSON text (JSON is YAML). */
async function documents(text: string, source: string): Promise<unknown[]> {
  const { parseAllDocuments } = await import("yaml");
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const out: unknown[] = [];
  for (const d of list) {
    if (d.errors.length) throw invalidInput(`${source} is not valid YAML or JSON: ${d.errors[0]?.message.split("\n")[0]}`);
    const v: unknown = d.toJS();
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

/** A CertificateSigningRequest as `kubectl get csr NAME -o yaml|json` prints it. */
export async function readCsrObject(text: string, source: string): Promise<CsrObject> {
  const docs = await documents(text, source);
  const csrs = docs.flatMap((d) => (isObj(d) && Array.isArray(d["items"]) ? (d["items"] as unknown[]) : [d]))
    .filter((d): d is Obj => isObj(d) && d["kind"] === "CertificateSigningRequest");
  if (csrs.length !== 1) throw invalidInput(`${source} must hold exactly one CertificateSigningRequest (found ${csrs.length})`);
  return csrs[0] as CsrObject;
}

/** Nodes from a Node, a NodeList or List, or several YAML documents. */
export async function readNodeObjects(text: string, source: string): Promise<NodeObject[]> {
  const docs = await documents(text, source);
  const nodes = docs.flatMap((d) => (isObj(d) && Array.isArray(d["items"]) ? (d["items"] as unknown[]) : [d]))
    .filter((d): d is Obj => isObj(d) && d["kind"] === "Node");
  // NodeList items from the API carry no kind; accept objects that look like nodes inside a NodeList.
  const fromLists = docs.flatMap((d) => (isObj(d) && d["kind"] === "NodeList" && Array.isArray(d["items"]) ? (d["items"] as Obj[]).filter((i) => isObj(i) && i["kind"] === undefined) : []));
  return [...nodes, ...fromLists] as NodeObject[];
}
