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
export { kubeadmExpiration, type KubeadmLayout } from "./expiry/kubeadm-inventory.js";
export { renderKubeadmText, renderKubeadmJson, renderKubeadmYaml, type CertificateExpirationInfo, type ExpirationEntry } from "./expiry/kubeadm-report.js";
export { humanDuration, kubeadmDate } from "./expiry/human.js";
export { runRenew, renewTargets, defaultBackupDir, type RenewPort, type RenewOptions } from "./renew/renew.js";
export { generateCsrs } from "./kubeadm/generate-csr.js";
export { signCsr, SIGN_PROFILES } from "./kubeadm/sign.js";
export { kubeconfigForUser } from "./kubeadm/kubeconfig-user.js";
export {
  decideCsr,
  assessCsr,
  checkSignature,
  indexNodes,
  DEFAULT_POLICY,
  KUBELET_SERVING,
  type Assessment,
  type CsrObject,
  type NodeObject,
  type PolicyConfig,
  type Decision,
  type ApprovalHistory,
} from "./approver/policy.js";
export { readRequest, readRequestDer, RequestError, type StrictRequest } from "./approver/request.js";
export { ApprovalLedger } from "./approver/history.js";
export { factsFromCluster, withClusterFacts, readClusterConfiguration, type ClusterFacts } from "./approver/discovery.js";
export { webCryptoVerifier, type SignatureVerifier } from "./pki/signature.js";
export { ApproverController } from "./approver/controller.js";
export { runLeaderElection } from "./approver/leader.js";
export type { ApproverApi } from "./approver/ports.js";
