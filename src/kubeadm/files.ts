import { mismatch } from "../errors.js";
import { keyMatchesCertificate, parseCertificatePem, parseCertificatesPem, type Issuer, type ParsedCertificate } from "../pki/cert.js";
import { PemError } from "../pki/pem.js";
import { parsePrivateKeyPem, type KeyPair } from "../pki/keys.js";
import { caEntry, type CaName } from "./catalogue.js";
import { readKubeconfig } from "./kubeconfig.js";
import { joinPath } from "./store.js";

/*
 * kubeadm's file rules, written once: where each certificate of the catalogue lives, how a CA pair
 * is loaded (cmd/kubeadm/app/util/pkiutil TryLoadCertAndKeyFromDisk), when a CA is external (its
 * certificate without its key: phases/certs UsingExternalCA), and how a certificate is read whether
 * it sits in a PKI file or in a kubeconfig (phases/certs/renewal/readwriter.go). init, renew, sign,
 * kubeconfig user, generate-csr and the expiry report all go through here.
 */

type Read = (path: string) => Promise<string | undefined>;

/** `<certDir>/<baseName>.crt`, `.key` and (generate-csr) `.csr`. */
export const pkiPaths = (certificatesDir: string, baseName: string): { readonly cert: string; readonly key: string; readonly csr: string } => ({
  cert: joinPath(certificatesDir, `${baseName}.crt`),
  key: joinPath(certificatesDir, `${baseName}.key`),
  csr: joinPath(certificatesDir, `${baseName}.csr`),
});

/** The service-account key pair: `<certDir>/sa.key` and `sa.pub`. */
export const saPaths = (certificatesDir: string): { readonly key: string; readonly pub: string } => ({
  key: joinPath(certificatesDir, "sa.key"),
  pub: joinPath(certificatesDir, "sa.pub"),
});

/** A kubeconfig file of the catalogue under the kubeconfig folder, and (generate-csr) its `.csr`. */
export const kubeconfigPaths = (kubeconfigDir: string, fileName: string): { readonly file: string; readonly csr: string } => ({
  file: joinPath(kubeconfigDir, fileName),
  csr: joinPath(kubeconfigDir, `${fileName}.csr`),
});

/** The paths of a catalogue CA under `certificatesDir`. */
export const caPaths = (certificatesDir: string, ca: CaName): { readonly cert: string; readonly key: string; readonly csr: string } =>
  pkiPaths(certificatesDir, caEntry(ca).baseName);

/** The folder of a path (the engine does not import node:path). */
export const dirOf = (path: string): string => path.slice(0, Math.max(path.lastIndexOf("/"), 0)) || (path.startsWith("/") ? "/" : ".");

/** Where a CA pair is and what to call it in messages (`ca`, `etcd-ca`, or the path for --ca-cert). */
export interface CaLocation {
  readonly name: string;
  readonly cert: string;
  readonly key: string;
}

/** A catalogue CA's location. */
export function caLocation(certificatesDir: string, ca: CaName): CaLocation {
  const { cert, key } = caPaths(certificatesDir, ca);
  return { name: caEntry(ca).baseName, cert, key };
}

/**
 * What is on disk of a CA, checked: the certificate (parsed, a CA), the key (parsed, the
 * certificate's). Either may be absent; a key without its certificate is what an interrupted run
 * leaves, a certificate without its key is an external CA.
 */
export interface CaFiles {
  readonly location: CaLocation;
  readonly certificate: ParsedCertificate | undefined;
  readonly key: KeyPair | undefined;
  /**
   * Every certificate of the CA file, as PEM, `certificate` first: what a kubeconfig of the cluster
   * trusts. One CA, or during a CA rotation (kpki ca rotate) the old one and the new one.
   */
  readonly trustPem: string | undefined;
}

/** A CA that can sign, with what its clients trust (CaFiles.trustPem). */
export interface CaIssuer extends Issuer {
  readonly trustPem: string;
}

/** Whether the CA is external: its certificate is here, its key is not (kubeadm's UsingExternalCA). */
export const isExternalCa = (ca: CaFiles): boolean => ca.certificate !== undefined && ca.key === undefined;

/**
 * Reads and checks a CA pair. Every command that signs or reuses a CA loads it here, with these
 * messages: an unreadable certificate or key, a certificate that is not a CA, a key that is not the
 * certificate's.
 */
export async function loadCaFiles(read: Read, location: CaLocation, crypto: Crypto): Promise<CaFiles> {
  const [certText, keyText] = await Promise.all([read(location.cert), read(location.key)]);
  let certificate: ParsedCertificate | undefined;
  let trustPem: string | undefined;
  if (certText !== undefined) {
    try {
      const all = parseCertificatesPem(certText);
      if (!all[0]) throw new PemError("no CERTIFICATE block found");
      certificate = all[0];
      trustPem = all.map((c) => c.pem).join("");
    } catch (error) {
      throw mismatch(`failure loading ${location.name} certificate authority from ${location.cert}: ${(error as Error).message}`);
    }
    if (!certificate.isCa) throw mismatch(`${location.cert} is not a certificate authority (${location.name}): its basicConstraints do not say CA:TRUE`);
  }
  let key: KeyPair | undefined;
  if (keyText !== undefined) {
    try {
      key = await parsePrivateKeyPem(keyText, crypto);
    } catch (error) {
      throw mismatch(`failure loading ${location.name} certificate authority key from ${location.key}: ${(error as Error).message}`);
    }
  }
  if (certificate && key && !(await keyMatchesCertificate(certificate, key, crypto))) {
    throw mismatch(`${location.key} does not match ${location.cert}: the key is not the ${location.name} certificate authority's`);
  }
  return { location, certificate, key, trustPem };
}

/** The issuer to sign with; refuses a missing certificate or an external CA (no key) in one way. */
export function requireIssuer(ca: CaFiles): CaIssuer {
  if (!ca.certificate) throw mismatch(`${ca.location.cert} does not exist`);
  if (!ca.key) throw mismatch(`${ca.location.key} does not exist: kpki cannot sign with the ${ca.location.name} certificate authority without its key (an external CA)`);
  return { certificate: ca.certificate, key: ca.key, trustPem: ca.trustPem ?? ca.certificate.pem };
}

/** Loads a CA that must be able to sign. */
export async function loadIssuer(read: Read, location: CaLocation, crypto: Crypto): Promise<CaIssuer> {
  return requireIssuer(await loadCaFiles(read, location, crypto));
}

/** Where one certificate of the cluster sits: a PKI pair, or the client certificate of a kubeconfig. */
export type CertificatePlace =
  | { readonly kind: "pki"; readonly cert: string; readonly key: string }
  | { readonly kind: "kubeconfig"; readonly path: string };

/** The path that holds the certificate itself. */
export const certificatePath = (place: CertificatePlace): string => (place.kind === "pki" ? place.cert : place.path);

/** A certificate as found at its place; for a kubeconfig, also its text (to rewrite it). */
export interface StoredCertificate {
  readonly certificate: ParsedCertificate;
  readonly text: string;
}

/**
 * The client certificate of a kubeconfig's current context, with kubeadm's messages
 * (renewal/readwriter.go kubeConfigReadWriter.Read).
 */
export async function kubeconfigClientCertificate(text: string, path: string): Promise<ParsedCertificate> {
  const view = await readKubeconfig(text, path);
  if (!view.clientCertData) throw mismatch(`kubeConfig file ${path} does not have an embedded client certificate`);
  try {
    return parseCertificatePem(view.clientCertData);
  } catch (error) {
    throw mismatch(`kubeConfig file ${path} does not contain a valid client certificate: ${(error as Error).message}`);
  }
}

/**
 * Reads the certificate at `place` (renewal's read-writer): undefined when the file does not
 * exist; a file that exists but holds no valid certificate throws one line naming it.
 */
export async function readCertificateAt(read: Read, place: CertificatePlace): Promise<StoredCertificate | undefined> {
  const path = certificatePath(place);
  const text = await read(path);
  if (text === undefined) return undefined;
  if (place.kind === "kubeconfig") return { certificate: await kubeconfigClientCertificate(text, path), text };
  try {
    return { certificate: parseCertificatePem(text), text };
  } catch (error) {
    throw mismatch(`failure loading certificate from ${path}: ${(error as Error).message}`);
  }
}
