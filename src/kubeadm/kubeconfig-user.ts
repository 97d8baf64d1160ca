import { createCertificate, parseCertificatePem, randomSerial, type Issuer } from "../pki/cert.js";
import { bytesEqual } from "../pki/der.js";
import { generateKeyPair, parsePrivateKeyPem, privateKeyToPem, spkiOf } from "../pki/keys.js";
import { mismatch } from "../errors.js";
import { DEFAULTS, type ClusterConfig } from "./config.js";
import { controlPlaneApiEndpoint, renderKubeconfig } from "./kubeconfig.js";
import { joinPath, type PkiStore } from "./store.js";

/** The cluster CA (ca.crt and ca.key) from the cert dir, with kubeadm's message when it cannot be loaded. */
export async function loadClusterCa(cfg: ClusterConfig, store: Pick<PkiStore, "read">, crypto: Crypto): Promise<Issuer> {
  const crtPath = joinPath(cfg.certificatesDir, "ca.crt");
  const keyPath = joinPath(cfg.certificatesDir, "ca.key");
  const [crt, key] = await Promise.all([store.read(crtPath), store.read(keyPath)]);
  if (crt === undefined || key === undefined) {
    throw mismatch(`couldn't create a kubeconfig; the CA files couldn't be loaded: ${crt === undefined ? crtPath : keyPath} does not exist`);
  }
  let ca: Issuer;
  try {
    ca = { certificate: parseCertificatePem(crt), key: await parsePrivateKeyPem(key, crypto) };
  } catch (error) {
    throw mismatch(`couldn't create a kubeconfig; the CA files couldn't be loaded: ${(error as Error).message}`);
  }
  // What init, renew and sign check before signing with a CA: it is one, and the key is its own.
  if (!ca.certificate.isCa) throw mismatch(`couldn't create a kubeconfig: ${crtPath} is not a CA certificate`);
  if (!bytesEqual(await spkiOf(ca.key.publicKey, crypto), ca.certificate.spki)) throw mismatch(`couldn't create a kubeconfig: ${keyPath} does not match ${crtPath}`);
  return ca;
}

export interface KubeconfigUserSpec {
  readonly clientName: string;
  readonly organizations: readonly string[];
  readonly validityMs: number;
  readonly token?: string | undefined;
}

/**
 * `kubeadm kubeconfig user` (kubeadm-certs.md §2.5): a kubeconfig for the
 * control-plane endpoint with a client certificate (CN = client name, O = orgs,
 * clientAuth, NotAfter = now + validity) signed by ca, or with a token.
 */
export async function kubeconfigForUser(cfg: ClusterConfig, spec: KubeconfigUserSpec, ca: Issuer, now: Date, crypto: Crypto): Promise<string> {
  const base = { clusterName: cfg.clusterName, server: controlPlaneApiEndpoint(cfg), caPem: ca.certificate.pem, user: spec.clientName };
  if (spec.token !== undefined) return renderKubeconfig({ ...base, token: spec.token });
  const key = await generateKeyPair(cfg.encryptionAlgorithm, crypto);
  const cert = await createCertificate(
    {
      subject: spec.organizations.length ? { commonName: spec.clientName, organizations: spec.organizations } : { commonName: spec.clientName },
      serial: randomSerial(crypto),
      notBefore: ca.certificate.notBefore, // the spec sets none: NewSignedCert falls back to the CA's
      notAfter: new Date(now.getTime() + spec.validityMs),
      isCa: false,
      keyUsages: ["digitalSignature", "keyEncipherment"],
      extKeyUsages: ["clientAuth"],
      dnsNames: [],
      ips: [],
    },
    key.publicKey,
    ca,
    crypto,
  );
  return renderKubeconfig({ ...base, clientCertPem: cert.pem, clientKeyPem: await privateKeyToPem(key, crypto) });
}

export const DEFAULT_USER_VALIDITY_MS = DEFAULTS.certificateValidityMs;
