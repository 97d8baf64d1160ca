/**
 * What `kpki exporter` exports, as data: a certificate found somewhere becomes one series of each
 * x509_cert_* metric, with the label names and values of enix/x509-certificate-exporter v4 (so its
 * dashboard and alert rules work unchanged), plus kpki's own labels. Pure: the clock is passed in.
 *
 * The compatible labels and their values (the exporter's pkg/registry/labels.go, v4.2.0):
 * - every label is on every series, `""` where it does not apply, so PromQL aggregates across
 *   sources; on the wire they are sorted by name, as client_golang writes them;
 * - `serial_number` is the serial in decimal (Go's big.Int String());
 * - `subject_*` and `issuer_*` are C, ST (stateOrProvinceName), L, O, OU: the first value of the
 *   attribute in the Name; CN: the last one (Go's pkix.Name.FillFromRDNSequence overwrites it);
 * - a file's `filepath` is the path as given or walked, `filename` its last component; a kubeconfig
 *   entry's are the kubeconfig's, with `embedded_kind` `cluster` or `user` and `embedded_key` the
 *   entry's name; a Secret's or ConfigMap's are `*_namespace`, `*_name` and `*_key` (the data key);
 * - two series whose labels would be equal get `discriminator`: 8 hex digits of a SHA-256 of the
 *   certificate, where it was found and its place in the bundle; every other series has `""`.
 * kpki adds `kubeadm_name` (the name kubeadm gives the file: `apiserver`, `etcd-peer`,
 * `admin.conf`), `chain_position` (`leaf`, `intermediate` or `root`), and, for a certificate read
 * from a CertificateSigningRequest, `csr_name`, `csr_signer`, `csr_requester`, `csr_usages` and
 * `node`.
 */
import { scanCertificate } from "../pki/cert-scan.js";
import { bytesEqual, bytesToHex, type Bytes } from "../pki/der.js";
import { nameAttributes } from "../pki/name.js";
import { renderLabels, type MetricFamily, type Series } from "./exposition.js";

/** Where a certificate was found: the location labels. Omitted fields are `""`. */
export interface Location {
  readonly filepath?: string;
  readonly filename?: string;
  readonly embedded_kind?: "cluster" | "user";
  readonly embedded_key?: string;
  readonly secret_namespace?: string;
  readonly secret_name?: string;
  readonly secret_key?: string;
  readonly configmap_namespace?: string;
  readonly configmap_name?: string;
  readonly configmap_key?: string;
  readonly kubeadm_name?: string;
  readonly csr_name?: string;
  readonly csr_signer?: string;
  /** The CSR's spec.username. */
  readonly csr_requester?: string;
  /** The CSR's spec.usages, joined with commas. */
  readonly csr_usages?: string;
  readonly node?: string;
}

export type ChainPosition = "leaf" | "intermediate" | "root";

/** The facts of one certificate that its series need: what a source keeps, and nothing more. */
export interface CertificateFacts {
  readonly der: Bytes;
  /** The serial as parseCertificateDer gives it: hex of its magnitude. */
  readonly serialHex: string;
  readonly subjectDer: Bytes;
  readonly issuerDer: Bytes;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa: boolean;
}

/** A certificate as exported: where it was found, its place in its bundle (0 first), and its labels' values. */
export interface ExportedCertificate {
  readonly location: Location;
  /** Identifies the bundle (file, kubeconfig entry, Secret key) for the discriminator: e.g. `file:/etc/kubernetes/pki/ca.crt`. */
  readonly source: string;
  readonly index: number;
  readonly der: Bytes;
  readonly serialNumber: string;
  readonly subject: DnFields;
  readonly issuer: DnFields;
  /** Seconds since the epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly chainPosition: ChainPosition;
}

/** A place that should have held certificates and could not be read: an x509_cert_error series. */
export interface ExportError {
  readonly location: Location;
  readonly source: string;
  /** x509_source_errors_total's reason: not_found, permission_denied, read_failed (the place could not be read), or bad_pem, bad_der, no_certificate_found, decode_failed (what it holds); api_error for a failed LIST or WATCH. */
  readonly reason: string;
  readonly message: string;
}

/** Reasons for a place that could not be read at all (as against one whose content is wrong). */
export const UNREADABLE_REASONS: ReadonlySet<string> = new Set(["not_found", "permission_denied", "read_failed"]);

export interface DnFields {
  readonly C: string;
  readonly ST: string;
  readonly L: string;
  readonly O: string;
  readonly OU: string;
  readonly CN: string;
}

const DN_OIDS: Readonly<Record<string, keyof DnFields>> = {
  "2.5.4.6": "C",
  "2.5.4.8": "ST",
  "2.5.4.7": "L",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.3": "CN",
};

/** A Name's label values: the first C, ST, L, O and OU, and the last CN. */
export function dnFields(nameDer: Bytes): DnFields {
  const found: Record<keyof DnFields, string | undefined> = { C: undefined, ST: undefined, L: undefined, O: undefined, OU: undefined, CN: undefined };
  for (const { oid, value } of nameAttributes(nameDer)) {
    const field = DN_OIDS[oid];
    if (field !== undefined && (field === "CN" || found[field] === undefined)) found[field] = value;
  }
  return { C: found.C ?? "", ST: found.ST ?? "", L: found.L ?? "", O: found.O ?? "", OU: found.OU ?? "", CN: found.CN ?? "" };
}

/** The serial in decimal, from the hex of its magnitude. */
export const decimalSerial = (serialHex: string): string => (serialHex ? BigInt(`0x${serialHex}`).toString(10) : "0");

/** `root` for a self-issued CA (or a self-issued certificate without BasicConstraints, a v1 CA), `intermediate` for another CA, `leaf` otherwise. */
export function chainPosition(c: CertificateFacts): ChainPosition {
  const selfIssued = bytesEqual(c.subjectDer, c.issuerDer);
  if (c.isCa) return selfIssued ? "root" : "intermediate";
  return selfIssued && !scanCertificate(c.der)?.hasBasicConstraints ? "root" : "leaf";
}

/** A certificate read from a source, as exported. */
export function exportedCertificate(c: CertificateFacts, location: Location, source: string, index: number): ExportedCertificate {
  return {
    location,
    source,
    index,
    der: c.der,
    serialNumber: decimalSerial(c.serialHex),
    subject: dnFields(c.subjectDer),
    issuer: dnFields(c.issuerDer),
    notBefore: Math.floor(c.notBefore.getTime() / 1000),
    notAfter: Math.floor(c.notAfter.getTime() / 1000),
    chainPosition: chainPosition(c),
  };
}

/** The per-certificate label names, sorted (as they appear on the wire). */
export const CERT_LABELS = [
  "chain_position",
  "configmap_key",
  "configmap_name",
  "configmap_namespace",
  "csr_name",
  "csr_requester",
  "csr_signer",
  "csr_usages",
  "discriminator",
  "embedded_key",
  "embedded_kind",
  "filename",
  "filepath",
  "issuer_C",
  "issuer_CN",
  "issuer_L",
  "issuer_O",
  "issuer_OU",
  "issuer_ST",
  "kubeadm_name",
  "node",
  "secret_key",
  "secret_name",
  "secret_namespace",
  "serial_number",
  "subject_C",
  "subject_CN",
  "subject_L",
  "subject_O",
  "subject_OU",
  "subject_ST",
] as const;
export type CertLabel = (typeof CERT_LABELS)[number];

const DN_KEYS = ["C", "CN", "L", "O", "OU", "ST"] as const;

/** The label values in CERT_LABELS' order; the Location's fields are named as their labels. */
function labelValues(c: ExportedCertificate | undefined, location: Location, discriminator: string): string[] {
  const values: Partial<Record<CertLabel, string | undefined>> = { ...location, discriminator, chain_position: c?.chainPosition, serial_number: c?.serialNumber };
  if (c) {
    for (const k of DN_KEYS) {
      values[`issuer_${k}`] = c.issuer[k];
      values[`subject_${k}`] = c.subject[k];
    }
  }
  return CERT_LABELS.map((k) => values[k] ?? "");
}

/** What to export besides x509_cert_not_after, not_before and expired. */
export interface SeriesOptions {
  /** Seconds since the epoch. */
  readonly now: number;
  /** x509_cert_expires_in_seconds and x509_cert_valid_since_seconds (x509-certificate-exporter v4's metrics.exposeRelative). */
  readonly relative: boolean;
}

/** SHA-256 of the given bytes (for the discriminator): WebCrypto's digest, passed in. */
export type Sha256 = (bytes: Bytes) => Promise<ArrayBuffer>;

/** A certificate's label values, with a discriminator where two would otherwise be equal. */
export interface LabelledCertificate {
  readonly certificate: ExportedCertificate;
  readonly labels: readonly string[];
}

const DISCRIMINATOR = CERT_LABELS.indexOf("discriminator");

/** A certificate's labels, its discriminator `""`. */
export function labelOne(c: ExportedCertificate): LabelledCertificate {
  return { certificate: c, labels: labelValues(c, c.location, "") };
}

/**
 * Gives every certificate whose labels collide with another's a discriminator: the first 8 hex
 * digits of SHA-256(DER || 0 || source || 0 || index as 4 big-endian bytes). The others are
 * returned as they are.
 */
export async function discriminate(labelled: readonly LabelledCertificate[], sha256: Sha256): Promise<LabelledCertificate[]> {
  const out = labelled.slice();
  const byKey = new Map<string, number | number[]>();
  out.forEach((l, i) => {
    const key = l.labels.join("\u0000"); // every discriminator is "" here
    const same = byKey.get(key);
    if (same === undefined) byKey.set(key, i);
    else if (typeof same === "number") byKey.set(key, [same, i]);
    else same.push(i);
  });
  for (const same of byKey.values()) {
    if (typeof same === "number") continue;
    for (const i of same) {
      const { certificate: c, labels } = out[i]!;
      const source = new TextEncoder().encode(c.source);
      const input = new Uint8Array(c.der.length + 1 + source.length + 1 + 4);
      input.set(c.der, 0);
      input.set(source, c.der.length + 1);
      new DataView(input.buffer).setUint32(input.length - 4, c.index);
      const next = labels.slice();
      next[DISCRIMINATOR] = bytesToHex(new Uint8Array(await sha256(input))).slice(0, 8);
      out[i] = { certificate: c, labels: next };
    }
  }
  return out;
}

/** A source's state: its first read finished (`up`), and its errors so far by reason. */
export interface SourceState {
  readonly kind: "file" | "kubeconfig" | "kube-secret" | "kube-configmap" | "kube-csr";
  readonly name: string;
  readonly up: boolean;
  readonly errors: ReadonlyMap<string, number>;
  /** A cluster source's resource (`secrets`, `configmaps`, `certificatesigningrequests`) and its new LISTs after 410 Gone. */
  readonly resyncs?: { readonly resource: string; readonly count: number };
}

/**
 * x509_source_errors_total is a counter: each read adds the errors it met to the totals of the reads
 * before (an error that stays is counted again at every read, as x509-certificate-exporter v4
 * counts it at every re-read of a bundle), so the value only grows while the process runs.
 */
export function addErrors(before: readonly SourceState[], read: readonly SourceState[]): SourceState[] {
  const key = (s: SourceState): string => `${s.kind}\u0000${s.name}`;
  const old = new Map(before.map((s) => [key(s), s.errors]));
  return read.map((s) => {
    const totals = new Map(old.get(key(s)) ?? []);
    for (const [reason, n] of s.errors) totals.set(reason, (totals.get(reason) ?? 0) + n);
    return { ...s, errors: totals };
  });
}

/** Build facts for x509_exporter_build_info. */
export interface BuildInfo {
  readonly version: string;
  readonly runtime: string;
  readonly os: string;
  readonly arch: string;
}

/** The last second (since the epoch) until which every certificate's x509_cert_expired stays what it is at `now`. */
export function expiredUnchangedUntil(certs: readonly LabelledCertificate[], now: number): number {
  let until = Number.MAX_SAFE_INTEGER;
  for (const { certificate: c } of certs) if (c.notAfter >= now && c.notAfter < until) until = c.notAfter;
  return until;
}

/** Each certificate's labels as written on the wire, rendered once and reused by every family and scrape. */
const RENDERED = new WeakMap<LabelledCertificate, string>();
function rendered(l: LabelledCertificate): string {
  let r = RENDERED.get(l);
  if (r === undefined) RENDERED.set(l, (r = renderLabels(CERT_LABELS, l.labels)));
  return r;
}

/** Every metric family, in a fixed order: the certificates', the errors', then the exporter's own. */
export function metricFamilies(certs: readonly LabelledCertificate[], errors: readonly ExportError[], sources: readonly SourceState[], build: BuildInfo, opts: SeriesOptions): MetricFamily[] {
  const per = (value: (c: ExportedCertificate) => number): Iterable<Series> => certs.map((l) => ({ labels: l.labels, value: value(l.certificate), rendered: rendered(l) }));
  const families: MetricFamily[] = [
    { name: "x509_cert_not_after", help: "Unix timestamp of the certificate's NotAfter.", type: "gauge", labelNames: CERT_LABELS, series: per((c) => c.notAfter) },
    { name: "x509_cert_not_before", help: "Unix timestamp of the certificate's NotBefore.", type: "gauge", labelNames: CERT_LABELS, series: per((c) => c.notBefore) },
    { name: "x509_cert_expired", help: "1 if the certificate is expired, 0 otherwise.", type: "gauge", labelNames: CERT_LABELS, series: per((c) => (opts.now > c.notAfter ? 1 : 0)) },
  ];
  if (opts.relative) {
    families.push(
      { name: "x509_cert_expires_in_seconds", help: "Seconds until the certificate's NotAfter.", type: "gauge", labelNames: CERT_LABELS, series: per((c) => c.notAfter - opts.now) },
      { name: "x509_cert_valid_since_seconds", help: "Seconds since the certificate's NotBefore.", type: "gauge", labelNames: CERT_LABELS, series: per((c) => opts.now - c.notBefore) },
    );
  }
  families.push(
    {
      name: "x509_cert_error",
      help: "1 for each file, kubeconfig entry, object key or bundle item that failed to read or parse.",
      type: "gauge",
      labelNames: CERT_LABELS,
      series: errors.map((e) => ({ labels: labelValues(undefined, e.location, ""), value: 1 })),
    },
    {
      name: "x509_source_up",
      help: "1 if the source has produced its first sync, 0 otherwise.",
      type: "gauge",
      labelNames: ["source_kind", "source_name"],
      series: sources.map((s) => ({ labels: [s.kind, s.name], value: s.up ? 1 : 0 })),
    },
    {
      name: "x509_source_errors_total",
      help: "Errors emitted by sources, by reason code.",
      type: "counter",
      labelNames: ["reason", "source_kind", "source_name"],
      series: sources.flatMap((s) => [...s.errors].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([reason, n]) => ({ labels: [reason, s.kind, s.name], value: n }))),
    },
    {
      name: "x509_kube_watch_resyncs_total",
      help: "Number of forced resyncs (WatchExpired / 410 Gone).",
      type: "counter",
      labelNames: ["resource", "source_name"],
      series: sources.flatMap((s) => (s.resyncs ? [{ labels: [s.resyncs.resource, s.name], value: s.resyncs.count }] : [])),
    },
    {
      name: "x509_exporter_build_info",
      help: "Constant 1, with build labels.",
      type: "gauge",
      labelNames: ["arch", "os", "runtime", "version"],
      series: [{ labels: [build.arch, build.os, build.runtime, build.version], value: 1 }],
    },
  );
  return families;
}
