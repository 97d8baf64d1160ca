/**
 * The exporter's cluster sources: Secrets, ConfigMaps and CertificateSigningRequests, as the API
 * server lists and watches them. Pure: this module turns flags into what to list and watch, and an
 * object into what is kept of it (its certificates' facts and labels, its errors), never the object.
 *
 * What is read, as x509-certificate-exporter v4.2.0 reads it (pkg/source/k8s/k8s.go):
 * - a Secret's data keys of its type (by default `kubernetes.io/tls` and `tls.crt` only, selected on
 *   the server with the field selector `type=kubernetes.io/tls`), each key a bundle;
 * - a ConfigMap's keys named by --configmap-key, from `data` (text) or `binaryData`;
 * - a CertificateSigningRequest's `status.certificate` (any signer): not read by x509-certificate-
 *   exporter; its series carry the CSR's name, signer, requester and usages, and the Node a kubelet
 *   certificate is for.
 * Namespaces and labels are selected on the server: --exclude-namespace as `metadata.namespace!=`
 * field selectors, --include-namespace as one list and watch per namespace, labels as a label selector.
 */
import { usageError } from "../errors.js";
import { parseCertificateDer } from "../pki/cert.js";
import { scanCertificate } from "../pki/cert-scan.js";
import { paddedBase64ToBytes, type Bytes } from "../pki/der.js";
import { decodePem } from "../pki/pem.js";
import { dnFields, exportedCertificate, labelOne, type CertificateFacts, type ExportError, type LabelledCertificate, type Location, type SourceState } from "./series.js";

/** A kind of cluster source, as x509_source_* name it. */
export type ClusterKind = Extract<SourceState["kind"], "kube-secret" | "kube-configmap" | "kube-csr">;

/** What is kept of one object: its certificates, labelled, and the keys that could not be read. */
export interface ObjectExport {
  readonly certificates: readonly LabelledCertificate[];
  readonly errors: readonly ExportError[];
}

/** One list and watch: where, with which selectors, and how an object becomes what is kept. */
export interface ClusterSourceSpec {
  readonly kind: ClusterKind;
  /** x509_source_*'s source_name, e.g. `secrets/kubernetes.io/tls` or `secrets/kubernetes.io/tls/team-a`. */
  readonly name: string;
  /** The collection's path on the API server, e.g. `/api/v1/secrets`. */
  readonly path: string;
  readonly fieldSelector?: string;
  readonly labelSelector?: string;
  /** The object's key in the store (namespace/name), and what is kept of it; undefined when it holds nothing to export. */
  readonly extract: (obj: unknown) => { readonly key: string; readonly kept: ObjectExport | undefined } | undefined;
}

/** The cluster-source flags, validated by clusterSourceSpecs. */
export interface ClusterOptions {
  /** `TYPE:KEY` pairs; Secrets are read when this is non-empty. */
  readonly secretTypes: readonly string[];
  /** Data keys of ConfigMaps; ConfigMaps are read when this is non-empty. */
  readonly configMapKeys: readonly string[];
  readonly csrs: boolean;
  readonly includeNamespaces: readonly string[];
  readonly excludeNamespaces: readonly string[];
  /** `key` or `key=value`: Secrets and ConfigMaps must have every one. */
  readonly includeLabels: readonly string[];
  /** `key` or `key=value`: Secrets and ConfigMaps with any one are left out. */
  readonly excludeLabels: readonly string[];
  readonly leafOnly: boolean;
}

/** The default Secret type and key, as x509-certificate-exporter's chart sets it (secretTypes). */
export const DEFAULT_SECRET_TYPE = "kubernetes.io/tls:tls.crt";

/** A DNS-1123 label: a namespace's name. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A label key: an optional DNS-1123 subdomain prefix and `/`, then a name of up to 63 characters (apimachinery's validation). */
const LABEL_KEY = /^(?:[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(?:[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
/** A Secret type (`kubernetes.io/tls`, `Opaque`, `example.com/custom`) and a data key (`tls.crt`, `ca.crt`). */
const SECRET_TYPE = /^[A-Za-z0-9][-A-Za-z0-9_./]*$/;
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;

function labelRequirement(flag: "include-label" | "exclude-label", text: string): string {
  const eq = text.indexOf("=");
  const key = eq < 0 ? text : text.slice(0, eq);
  const value = eq < 0 ? undefined : text.slice(eq + 1);
  if (!LABEL_KEY.test(key) || (value !== undefined && !LABEL_VALUE.test(value))) throw usageError(`invalid --${flag} "${text}": expected KEY or KEY=VALUE with a Kubernetes label key and value`);
  if (flag === "include-label") return value === undefined ? key : `${key}=${value}`;
  return value === undefined ? `!${key}` : `${key}!=${value}`;
}

/** Every list and watch the flags ask for; throws a usage error for a malformed flag. */
export function clusterSourceSpecs(o: ClusterOptions): ClusterSourceSpec[] {
  for (const [flag, list] of [["include-namespace", o.includeNamespaces], ["exclude-namespace", o.excludeNamespaces]] as const) {
    for (const ns of list) if (!NAMESPACE.test(ns)) throw usageError(`invalid --${flag} "${ns}": not a namespace name`);
  }
  const byType = new Map<string, string[]>();
  for (const pair of o.secretTypes) {
    const colon = pair.indexOf(":");
    const type = pair.slice(0, colon);
    const key = pair.slice(colon + 1);
    if (colon < 0 || !SECRET_TYPE.test(type) || !DATA_KEY.test(key)) throw usageError(`invalid --secret-type "${pair}": expected TYPE:KEY, e.g. ${DEFAULT_SECRET_TYPE}`);
    const keys = byType.get(type) ?? [];
    if (!keys.includes(key)) keys.push(key);
    byType.set(type, keys);
  }
  for (const key of o.configMapKeys) if (!DATA_KEY.test(key)) throw usageError(`invalid --configmap-key "${key}": not a ConfigMap data key`);
  const labelSelector = [...o.includeLabels.map((l) => labelRequirement("include-label", l)), ...o.excludeLabels.map((l) => labelRequirement("exclude-label", l))].join(",");

  // --include-namespace: one list and watch per namespace (less of what an API server must send,
  // and RBAC that may be granted per namespace); otherwise one for the whole cluster, with the
  // excluded namespaces left out by the server.
  const excluded = new Set(o.excludeNamespaces);
  const scopes: { readonly namespace: string | undefined; readonly fields: string[] }[] = o.includeNamespaces.length
    ? [...new Set(o.includeNamespaces)].filter((ns) => !excluded.has(ns)).map((namespace) => ({ namespace, fields: [] }))
    : [{ namespace: undefined, fields: [...excluded].map((ns) => `metadata.namespace!=${ns}`) }];
  const collection = (resource: string, namespace: string | undefined): string => (namespace ? `/api/v1/namespaces/${namespace}/${resource}` : `/api/v1/${resource}`);
  const suffix = (namespace: string | undefined): string => (namespace ? `/${namespace}` : "");
  const selectors = (fields: string[]): { fieldSelector?: string; labelSelector?: string } => ({
    ...(fields.length ? { fieldSelector: fields.join(",") } : {}),
    ...(labelSelector ? { labelSelector } : {}),
  });

  const specs: ClusterSourceSpec[] = [];
  for (const [type, keys] of byType) {
    for (const { namespace, fields } of scopes) {
      specs.push({
        kind: "kube-secret",
        name: `secrets/${type}${suffix(namespace)}`,
        path: collection("secrets", namespace),
        ...selectors([`type=${type}`, ...fields]),
        extract: (obj) => secretExport(obj, keys, o.leafOnly),
      });
    }
  }
  if (o.configMapKeys.length) {
    for (const { namespace, fields } of scopes) {
      specs.push({
        kind: "kube-configmap",
        name: `configmaps${suffix(namespace)}`,
        path: collection("configmaps", namespace),
        ...selectors(fields),
        extract: (obj) => configMapExport(obj, o.configMapKeys, o.leafOnly),
      });
    }
  }
  if (o.csrs) {
    specs.push({ kind: "kube-csr", name: "certificatesigningrequests", path: "/apis/certificates.k8s.io/v1/certificatesigningrequests", extract: (obj) => csrExport(obj, o.leafOnly) });
  }
  return specs;
}

/** What an object's JSON may hold; anything else is read as absent. */
interface ObjectJson {
  readonly metadata?: { readonly name?: unknown; readonly namespace?: unknown };
  readonly data?: unknown;
  readonly binaryData?: unknown;
  readonly spec?: { readonly signerName?: unknown; readonly username?: unknown; readonly usages?: unknown };
  readonly status?: { readonly certificate?: unknown };
}
const asJson = (obj: unknown): ObjectJson => (typeof obj === "object" && obj !== null ? (obj as ObjectJson) : {});
const stringOf = (v: unknown): string => (typeof v === "string" ? v : "");
const recordOf = (v: unknown): Readonly<Record<string, unknown>> => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** The certificates of one bundle (a Secret's or ConfigMap's key, a CSR's certificate), or why there are none. */
interface BundleRead {
  readonly certificates: CertificateFacts[];
  readonly errors: { readonly reason: string; readonly message: string }[];
}

/** A certificate's facts: the DER walk where it accepts the bytes, parseCertificateDer's error otherwise. */
function certificateFacts(der: Bytes): CertificateFacts {
  const s = scanCertificate(der);
  if (!s) return parseCertificateDer(der); // throws with the reason, or parses what the walk did not read
  return {
    der,
    serialHex: s.serialHex,
    subjectDer: der.subarray(s.subjectStart, s.subjectEnd),
    issuerDer: der.subarray(s.issuerStart, s.issuerEnd),
    notBefore: new Date(s.notBefore),
    notAfter: new Date(s.notAfter),
    isCa: s.isCa,
  };
}

const text = new TextDecoder();

/**
 * Reads a bundle: PEM (every CERTIFICATE block, in order; other blocks are ignored) or one DER
 * certificate. Reasons are x509-certificate-exporter v4's (pkg/cert/reason.go).
 */
export function readBundle(bytes: Bytes): BundleRead {
  const out: BundleRead = { certificates: [], errors: [] };
  if (bytes.length === 0) return { certificates: [], errors: [{ reason: "no_certificate_found", message: "empty" }] };
  if (bytes[0] === 0x30) {
    try {
      out.certificates.push(certificateFacts(bytes.slice()));
    } catch (error) {
      out.errors.push({ reason: "bad_der", message: `DER data is not a certificate: ${(error as Error).message}` });
    }
    return out;
  }
  let blocks;
  try {
    blocks = decodePem(text.decode(bytes)).filter((b) => b.label === "CERTIFICATE");
  } catch (error) {
    return { certificates: [], errors: [{ reason: "bad_pem", message: (error as Error).message }] };
  }
  if (!blocks.length) return { certificates: [], errors: [{ reason: "no_certificate_found", message: "no CERTIFICATE block" }] };
  for (const block of blocks) {
    try {
      out.certificates.push(certificateFacts(block.der));
    } catch (error) {
      out.errors.push({ reason: "bad_pem", message: (error as Error).message });
    }
  }
  return out;
}

/** One bundle's certificates and errors, labelled with where they were found. */
function bundleExport(read: BundleRead, location: Location, source: string, leafOnly: boolean, into: { certificates: LabelledCertificate[]; errors: ExportError[] }): void {
  read.certificates.forEach((c, i) => {
    const exported = exportedCertificate(c, location, source, i);
    if (!leafOnly || exported.chainPosition === "leaf") into.certificates.push(labelOne(exported));
  });
  for (const e of read.errors) into.errors.push({ location, source, reason: e.reason, message: e.message });
}

/** base64 as the API server writes `[]byte` fields (Go's base64.StdEncoding, padded), decoded in one pass; undefined when it is not. */
const decodeBase64 = (value: string): Bytes | undefined => paddedBase64ToBytes(value);

const keyOf = (j: ObjectJson): string | undefined => {
  const name = stringOf(j.metadata?.name);
  if (!name) return undefined;
  const ns = stringOf(j.metadata?.namespace);
  return ns ? `${ns}/${name}` : name;
};

/** An object's key in a source's store: `namespace/name`, or `name` for a cluster-scoped object. */
export const objectKey = (obj: unknown): string | undefined => keyOf(asJson(obj));

function secretExport(obj: unknown, keys: readonly string[], leafOnly: boolean): { key: string; kept: ObjectExport | undefined } | undefined {
  const j = asJson(obj);
  const key = keyOf(j);
  if (!key) return undefined;
  const data = recordOf(j.data);
  const into = { certificates: [] as LabelledCertificate[], errors: [] as ExportError[] };
  for (const dataKey of keys) {
    const value = data[dataKey];
    if (typeof value !== "string") continue; // the key is not there: nothing to export
    const location: Location = { secret_namespace: stringOf(j.metadata?.namespace), secret_name: stringOf(j.metadata?.name), secret_key: dataKey };
    const bytes = decodeBase64(value);
    const read = bytes ? readBundle(bytes) : { certificates: [], errors: [{ reason: "decode_failed", message: "the data is not valid base64" }] };
    bundleExport(read, location, `kube-secret:${key}#${dataKey}`, leafOnly, into);
  }
  return { key, kept: into.certificates.length || into.errors.length ? into : undefined };
}

function configMapExport(obj: unknown, keys: readonly string[], leafOnly: boolean): { key: string; kept: ObjectExport | undefined } | undefined {
  const j = asJson(obj);
  const key = keyOf(j);
  if (!key) return undefined;
  const data = recordOf(j.data);
  const binary = recordOf(j.binaryData);
  const into = { certificates: [] as LabelledCertificate[], errors: [] as ExportError[] };
  for (const dataKey of keys) {
    const textValue = data[dataKey];
    const binaryValue = binary[dataKey];
    let read: BundleRead;
    if (typeof textValue === "string") read = readBundle(new TextEncoder().encode(textValue));
    else if (typeof binaryValue === "string") {
      const bytes = decodeBase64(binaryValue);
      read = bytes ? readBundle(bytes) : { certificates: [], errors: [{ reason: "decode_failed", message: "the binaryData is not valid base64" }] };
    } else continue;
    const location: Location = { configmap_namespace: stringOf(j.metadata?.namespace), configmap_name: stringOf(j.metadata?.name), configmap_key: dataKey };
    bundleExport(read, location, `kube-configmap:${key}#${dataKey}`, leafOnly, into);
  }
  return { key, kept: into.certificates.length || into.errors.length ? into : undefined };
}

/** Signers whose certificates are a Node's: the kubelet's serving and client certificates. */
const NODE_SIGNERS = new Set(["kubernetes.io/kubelet-serving", "kubernetes.io/kube-apiserver-client-kubelet"]);
const NODE_PREFIX = "system:node:";

function csrExport(obj: unknown, leafOnly: boolean): { key: string; kept: ObjectExport | undefined } | undefined {
  const j = asJson(obj);
  const key = keyOf(j);
  if (!key) return undefined;
  const certificate = stringOf(j.status?.certificate);
  if (!certificate) return { key, kept: undefined }; // not issued (yet): nothing to export
  const signer = stringOf(j.spec?.signerName);
  const usages = Array.isArray(j.spec?.usages) ? j.spec.usages.filter((u): u is string => typeof u === "string") : [];
  const base: Location = { csr_name: key, csr_signer: signer, csr_requester: stringOf(j.spec?.username), csr_usages: usages.join(",") };
  const bytes = decodeBase64(certificate);
  const read = bytes ? readBundle(bytes) : { certificates: [], errors: [{ reason: "decode_failed", message: "status.certificate is not valid base64" }] };
  // The Node a kubelet certificate is for: its subject's CN, system:node:NAME (what the Node authorizer reads).
  const leaf = read.certificates[0];
  const cn = leaf && NODE_SIGNERS.has(signer) ? dnFields(leaf.subjectDer).CN : "";
  const location: Location = cn.startsWith(NODE_PREFIX) ? { ...base, node: cn.slice(NODE_PREFIX.length) } : base;
  const into = { certificates: [] as LabelledCertificate[], errors: [] as ExportError[] };
  bundleExport(read, location, `kube-csr:${key}`, leafOnly, into);
  return { key, kept: into };
}
