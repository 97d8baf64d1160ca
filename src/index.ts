/** kpki's public library API: explicit named exports, no side effects beyond @peculiar/x509's own registration. */
export { PkiError, isPkiError, invalidInput, mismatch, usageError, EXIT_CODE_OF, type PkiErrorCode } from "./errors.js";
export { DerError } from "./pki/der.js";
export { PemError } from "./pki/pem.js";
export { KeyError } from "./pki/keys.js";
export { CertificateError } from "./pki/cert.js";
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
  validityWarnings,
  DEFAULTS,
  type ClusterConfig,
  type ConfigFlags,
  type HostFacts,
  type KubeadmConfigDocuments,
} from "./kubeadm/config.js";
export { validateKubeadmConfig, KUBEADM_API_VERSIONS, type KubeadmConfigOptions, type KubeadmConfigDocument } from "./kubeadm/config-schema.js";
export { initDefaultsYaml } from "./kubeadm/config-defaults.js";
export {
  pkiPaths,
  caPaths,
  saPaths,
  kubeconfigPaths,
  caLocation,
  loadCaFiles,
  loadIssuer,
  requireIssuer,
  isExternalCa,
  readCertificateAt,
  kubeconfigClientCertificate,
  type CaFiles,
  type CaIssuer,
  type CaLocation,
  type CertificatePlace,
  type StoredCertificate,
} from "./kubeadm/files.js";
export { leafSpec, type LeafIdentity, type ResolvedSpec } from "./kubeadm/resolve.js";
export { runInit, allCertPhases, allKubeconfigPhases, type InitDeps, type InitSelection } from "./kubeadm/init.js";
export { renderKubeconfig, readKubeconfig } from "./kubeadm/kubeconfig.js";
export { MODES, type PkiStore } from "./kubeadm/store.js";
export { fsStore, dryRunStore, writeFileAtomic, readFileIfExists, readBytesIfExists } from "./io/fs-store.js";
export { fsRenewPort } from "./io/renew-port.js";
export { kubeadmExpiration, type KubeadmLayout, type ExpiryReader } from "./expiry/kubeadm-inventory.js";
export {
  checkExpiration,
  MONITORING_EXIT,
  type CheckExpirationOptions,
  type CheckExpirationDeps,
  type ExpirationCheck,
  type Verdict,
} from "./expiry/check.js";
export type { CheckedRow, RowStatus, Thresholds, ChainStatus, KeyStatus } from "./expiry/inventory.js";
export { renderKubeadmText, renderKubeadmJson, renderKubeadmYaml, type CertificateExpirationInfo, type ExpirationEntry } from "./expiry/kubeadm-report.js";
export { humanDuration, kubeadmDate } from "./expiry/human.js";
export {
  runRenew,
  renewTargets,
  defaultBackupDir,
  type RenewPort,
  type RenewOptions,
  type RenewDeps,
  type RenewTarget,
  type StagedChange,
  type BackupCopy,
} from "./renew/renew.js";
export { generateCsrs, type GenerateCsrDeps } from "./kubeadm/generate-csr.js";
export { signCsr, SIGN_PROFILES, type SignOptions, type SignProfile } from "./kubeadm/sign.js";
export { kubeconfigForUser, loadClusterCa, type KubeconfigUserSpec } from "./kubeadm/kubeconfig-user.js";
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
export { ApproverController, type ApproverObserver, type CsrCounts } from "./approver/controller.js";
export { runLeaderElection } from "./approver/leader.js";
export { ApiStatusError, type ApproverApi, type ApiCsr, type ApiNode, type Lease, type WatchHandle, type WatchEventType } from "./approver/ports.js";
