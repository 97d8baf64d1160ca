import { createCertificate, randomSerial, type Issuer } from "../pki/cert.js";
import { generateKeyPair, privateKeyToPem } from "../pki/keys.js";
import { mismatch } from "../errors.js";
import { DEFAULTS, type ClusterConfig } from "./config.js";
import { controlPlaneApiEndpoint, renderKubeconfig } from "./kubeconfig.js";
import { caLocation, loadIssuer } from "./files.js";
import { clientCertSpec } from "./resolve.js";
import type { PkiStore } from "./store.js";

/** The cluster CA (ca.crt and ca.key) from the cert dir, checked as every CA is (files.ts), with kubeadm's message prefix. */
export async function loadClusterCa(cfg: ClusterConfig, store: Pick<PkiStore, "read">, crypto: Crypto): Promise<Issuer> {
  try {
    return await loadIssuer(store.read, caLocation(cfg.certificatesDir, "ca"), crypto);
  } catch (error) {
    throw mismatch(`couldn't create a kubeconfig; the CA files couldn't be loaded: ${(error as Error).message}`);
  }
}

export interface KubeconfigUserSpec {
  readonly clientName: string;
  readonly organizations: readonly string[];
  readonly validityMs: number;
  readonly token?: string | undefined;
}

/**
 * `kubeadm kubeconfig user` (cmd/kubeadm/app/cmd/kubeconfig.go): a kubeconfig for the
 * control-plane endpoint with a client certificate (CN = client name, O = orgs,
 * clientAuth, NotAfter = now + validity) signed by ca, or with a token.
 */
export async function kubeconfigForUser(cfg: ClusterConfig, spec: KubeconfigUserSpec, ca: Issuer, now: Date, crypto: Crypto): Promise<string> {
  const base = { clusterName: cfg.clusterName, server: controlPlaneApiEndpoint(cfg), caPem: ca.certificate.pem, user: spec.clientName };
  if (spec.token !== undefined) return renderKubeconfig({ ...base, token: spec.token });
  const key = await generateKeyPair(cfg.encryptionAlgorithm, crypto);
  // The spec sets no NotBefore: NewSignedCert falls back to the CA's.
  const cert = await createCertificate(
    { ...clientCertSpec(spec.clientName, spec.organizations, now, spec.validityMs, ca.certificate.notBefore), serial: randomSerial(crypto) },
    key.publicKey,
    ca,
    crypto,
  );
  return renderKubeconfig({ ...base, clientCertPem: cert.pem, clientKeyPem: await privateKeyToPem(key, crypto) });
}

export const DEFAULT_USER_VALIDITY_MS = DEFAULTS.certificateValidityMs;
