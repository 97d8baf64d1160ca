/** kpki's public library API: explicit named exports, no side effects beyond @peculiar/x509's own registration. */
export { PkiError, isPkiError, type PkiErrorCode } from "./errors.js";
export {
  generateKeyPair,
  parsePrivateKeyPem,
  privateKeyToPem,
  publicKeyToPem,
  KEY_ALGORITHMS,
  KUBEADM_KEY_ALGORITHMS,
  type KeyAlgorithm,
  type KeyPair,
} from "./pki/keys.js";
export {
  createCertificate,
  parseCertificatePem,
  parseCertificatesPem,
  parseCertificateDer,
  isSignedBy,
  keyMatchesCertificate,
  randomSerial,
  type CertificateSpec,
  type ParsedCertificate,
  type Issuer,
} from "./pki/cert.js";
export { createCsr, parseCsrPem, parseCsrDer, type CsrSpec, type ParsedCsr } from "./pki/csr.js";
export { createStandaloneCa, type StandaloneCaSpec } from "./pki/ca.js";
export { decodePem, encodePem, type PemBlock } from "./pki/pem.js";
export { parseIp, formatIp, parseCidr } from "./pki/ip.js";
export { CAS, LEAVES, KUBECONFIGS, CERT_PHASE_ORDER } from "./kubeadm/catalogue.js";
export {
  resolveClusterConfig,
  parseKubeadmConfig,
  DEFAULTS,
  type ClusterConfig,
  type ConfigFlags,
  type HostFacts,
} from "./kubeadm/config.js";
export { runInit, allCertPhases, allKubeconfigPhases, type InitDeps, type InitSelection } from "./kubeadm/init.js";
export { renderKubeconfig, readKubeconfig } from "./kubeadm/kubeconfig.js";
export type { PkiStore } from "./kubeadm/store.js";
