/**
 * `certs check-served`: what the control plane's servers present over TLS, next to the files on
 * disk. A renewed file that a server has not loaded yet (kubeadm prints "You must restart..." and
 * it is easy to forget) is STALE; a certificate no CA file of the cluster signed is UNTRUSTED.
 * Pure: the TLS connections and file reads are passed in.
 *
 * The endpoints and files are kubeadm's (cmd/kubeadm/app/phases/controlplane/manifests.go and
 * etcd/local.go): kube-apiserver on the advertise address and bind port with apiserver.crt;
 * etcd's client port 2379 on 127.0.0.1 with etcd/server.crt and its peer port 2380 on the
 * advertise address with etcd/peer.crt; kube-controller-manager (10257) and kube-scheduler (10259)
 * on 127.0.0.1 with certificates they make themselves in memory (no file); the kubelet (10250)
 * with kubelet-server-current.pem, or its self-signed kubelet.crt.
 */
import { isSignedBy, parseCertificateDer, type ParsedCertificate } from "../pki/cert.js";
import { bytesEqual } from "../pki/der.js";
import { formatName } from "../pki/name.js";
import { residualStatus, type RowStatus, type Thresholds } from "./inventory.js";
import { residualSeconds } from "./kubeadm-inventory.js";

export const SERVED_ENDPOINTS = ["apiserver", "etcd-server", "etcd-peer", "controller-manager", "scheduler", "kubelet"] as const;
export type ServedEndpointName = (typeof SERVED_ENDPOINTS)[number];

/** One server to ask: where, the file it should present (none for a certificate made in memory), and the CA files that sign it. */
export interface ServedEndpoint {
  readonly name: ServedEndpointName;
  readonly host: string;
  readonly port: number;
  /** The files it may present, the first that exists is compared (the kubelet's two). */
  readonly certFiles: readonly string[];
  readonly caFiles: readonly string[];
  /** A client certificate and key to present, where the server asks for one: etcd's, kubeadm's etcd/healthcheck-client (made for probes). */
  readonly clientCert?: { readonly cert: string; readonly key: string };
}

/** kubeadm's endpoints for a node: `advertise` is the API server's advertise address, `bindPort` its port. */
export function kubeadmEndpoints(o: { certDir: string; kubeletDir: string; advertise: string; bindPort: number }): ServedEndpoint[] {
  const pki = (f: string): string => `${o.certDir}/${f}`;
  const probe = { cert: pki("etcd/healthcheck-client.crt"), key: pki("etcd/healthcheck-client.key") };
  return [
    { name: "apiserver", host: o.advertise, port: o.bindPort, certFiles: [pki("apiserver.crt")], caFiles: [pki("ca.crt")] },
    { name: "etcd-server", host: "127.0.0.1", port: 2379, certFiles: [pki("etcd/server.crt")], caFiles: [pki("etcd/ca.crt")], clientCert: probe },
    { name: "etcd-peer", host: o.advertise, port: 2380, certFiles: [pki("etcd/peer.crt")], caFiles: [pki("etcd/ca.crt")], clientCert: probe },
    { name: "controller-manager", host: "127.0.0.1", port: 10257, certFiles: [], caFiles: [] },
    { name: "scheduler", host: "127.0.0.1", port: 10259, certFiles: [], caFiles: [] },
    { name: "kubelet", host: "127.0.0.1", port: 10250, certFiles: [`${o.kubeletDir}/kubelet-server-current.pem`, `${o.kubeletDir}/kubelet.crt`], caFiles: [pki("ca.crt")] },
  ];
}

/**
 * - `match`: the server presents the file's certificate, and a CA file signed it (or the file is the
 *   kubelet's self-signed kubelet.crt);
 * - `self-signed`: the server makes its own certificate in memory (kube-controller-manager and
 *   kube-scheduler without --tls-cert-file): nothing on disk to compare;
 * - `STALE`: the server presents another certificate than the file's: it needs a restart;
 * - `UNTRUSTED`: no CA file of the cluster signed what it presents;
 * - `unreachable`: no TLS handshake.
 */
export type ServedStatus = "match" | "self-signed" | "STALE" | "UNTRUSTED" | "unreachable";

export interface ServedRow {
  readonly endpoint: ServedEndpointName;
  readonly address: string;
  readonly status: ServedStatus;
  /** What the server presents: its leaf. */
  readonly served?: { readonly serial: string; readonly subject: string; readonly issuer: string; readonly notAfter: Date; readonly expiry: RowStatus };
  /** The file compared with, and its certificate. */
  readonly file?: { readonly path: string; readonly serial?: string; readonly notAfter?: Date; readonly error?: string };
  readonly error?: string;
}

export interface ServedPorts {
  /** The chain a TLS server presents, leaf first (DER), with a client certificate when given; throws when there is no handshake. */
  readonly peerChain: (host: string, port: number, client?: { readonly cert: Uint8Array; readonly key: Uint8Array }) => Promise<Uint8Array<ArrayBuffer>[]>;
  /** A file's bytes, undefined when it does not exist. */
  readonly readBytes: (path: string) => Promise<Uint8Array | undefined>;
  /** Every CERTIFICATE of a PEM file (a CA bundle during a rotation holds two). */
  readonly certificatesIn: (bytes: Uint8Array) => ParsedCertificate[];
  readonly crypto: Crypto;
}

const address = (e: ServedEndpoint): string => (e.host.includes(":") ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`);

/** Asks every endpoint (concurrently) and compares. */
export async function checkServed(endpoints: readonly ServedEndpoint[], ports: ServedPorts, now: Date, t: Thresholds): Promise<ServedRow[]> {
  return Promise.all(endpoints.map((e) => checkOne(e, ports, now, t)));
}

async function checkOne(e: ServedEndpoint, ports: ServedPorts, now: Date, t: Thresholds): Promise<ServedRow> {
  const base = { endpoint: e.name, address: address(e) };
  let leaf: ParsedCertificate;
  try {
    // The client certificate when both files are there (a node without local etcd has neither).
    const [cert, key] = e.clientCert ? await Promise.all([ports.readBytes(e.clientCert.cert), ports.readBytes(e.clientCert.key)]) : [undefined, undefined];
    const chain = await ports.peerChain(e.host, e.port, cert && key ? { cert, key } : undefined);
    leaf = parseCertificateDer(chain[0]!);
  } catch (error) {
    return { ...base, status: "unreachable", error: (error as Error).message };
  }
  const served = {
    serial: leaf.serialHex,
    subject: formatName({ commonName: leaf.commonName, organizations: leaf.organizations }),
    issuer: formatName({ commonName: leaf.issuer.commonName, organizations: leaf.issuer.organizations ?? [] }),
    notAfter: leaf.notAfter,
    expiry: leaf.notBefore.getTime() > now.getTime() ? ("NOT YET VALID" as const) : residualStatus(residualSeconds(leaf.notAfter, now), t),
  };
  if (!e.certFiles.length) return { ...base, status: "self-signed", served };

  let fileRow: ServedRow["file"] = { path: e.certFiles[0]! };
  let fileCert: ParsedCertificate | undefined;
  for (const path of e.certFiles) {
    const bytes = await ports.readBytes(path);
    if (bytes === undefined) continue;
    try {
      fileCert = ports.certificatesIn(bytes)[0];
      fileRow = fileCert ? { path, serial: fileCert.serialHex, notAfter: fileCert.notAfter } : { path, error: "no certificate in the file" };
    } catch (error) {
      fileRow = { path, error: (error as Error).message };
    }
    break;
  }
  const sameAsFile = fileCert !== undefined && bytesEqual(fileCert.der, leaf.der);
  const selfSigned = bytesEqual(leaf.subjectDer, leaf.issuerDer) && sameAsFile && fileRow.path.endsWith("/kubelet.crt");
  let trusted = selfSigned;
  for (const caFile of e.caFiles) {
    if (trusted) break;
    const bytes = await ports.readBytes(caFile);
    if (bytes === undefined) continue;
    for (const ca of ports.certificatesIn(bytes)) {
      if (await isSignedBy(leaf, ca, ports.crypto)) {
        trusted = true;
        break;
      }
    }
  }
  const status: ServedStatus = !trusted ? "UNTRUSTED" : sameAsFile ? "match" : "STALE";
  return { ...base, status, served, file: fileRow };
}

/**
 * The exit code: without thresholds 0 when every server presents its file's certificate (or one it
 * makes itself), 1 otherwise. With them, the monitoring-plugin convention of check-expiration:
 * 3 UNKNOWN if a server cannot be reached; 2 CRITICAL for an UNTRUSTED certificate or one within
 * the critical threshold, expired or not yet valid; 1 WARNING for a STALE one or one within the
 * warning threshold; 0 OK.
 */
export function servedExitCode(rows: readonly ServedRow[], thresholds: boolean): number {
  if (!thresholds) return rows.every((r) => r.status === "match" || r.status === "self-signed") ? 0 : 1;
  if (rows.some((r) => r.status === "unreachable")) return 3;
  if (rows.some((r) => r.status === "UNTRUSTED" || (r.served && r.served.expiry !== "OK" && r.served.expiry !== "WARNING"))) return 2;
  if (rows.some((r) => r.status === "STALE" || r.served?.expiry === "WARNING")) return 1;
  return 0;
}
