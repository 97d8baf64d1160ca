/**
 * What `kubeadm config print init-defaults` prints: kubeadm's defaulted InitConfiguration and
 * ClusterConfiguration (v1beta4), marshalled in Go's field order (sorted keys) and joined by "---\n"
 * (kubernetes/kubernetes cmd/kubeadm/app/cmd/config.go getDefaultInitConfigBytes →
 * configutil.DefaultedStaticInitConfiguration + MarshalKubeadmConfigObject).
 *
 * The text matches kubeadm v1.32 and v1.33's printed output byte for byte except for the
 * kubernetesVersion line, which kubeadm fills with its own version (`<major>.<minor>.0`), and the
 * placeholders are kubeadm's (configutil.PlaceholderToken, advertiseAddress 1.2.3.4, node name
 * "node", constants.DefaultCRISocket).
 */

/** The kubeadm release whose defaults kpki prints (kpki follows kubeadm v1.31–v1.34). */
export const INIT_DEFAULTS_KUBERNETES_VERSION = "1.34.0";

/** `kubeadm config print init-defaults`, for `kubernetesVersion` (default {@link INIT_DEFAULTS_KUBERNETES_VERSION}). */
export function initDefaultsYaml(kubernetesVersion: string = INIT_DEFAULTS_KUBERNETES_VERSION): string {
  return `apiVersion: kubeadm.k8s.io/v1beta4
bootstrapTokens:
- groups:
  - system:bootstrappers:kubeadm:default-node-token
  token: abcdef.0123456789abcdef
  ttl: 24h0m0s
  usages:
  - signing
  - authentication
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 1.2.3.4
  bindPort: 6443
nodeRegistration:
  criSocket: unix:///var/run/containerd/containerd.sock
  imagePullPolicy: IfNotPresent
  imagePullSerial: true
  name: node
  taints: null
timeouts:
  controlPlaneComponentHealthCheck: 4m0s
  discovery: 5m0s
  etcdAPICall: 2m0s
  kubeletHealthCheck: 4m0s
  kubernetesAPICall: 1m0s
  tlsBootstrap: 5m0s
  upgradeManifests: 5m0s
---
apiServer: {}
apiVersion: kubeadm.k8s.io/v1beta4
caCertificateValidityPeriod: 87600h0m0s
certificateValidityPeriod: 8760h0m0s
certificatesDir: /etc/kubernetes/pki
clusterName: kubernetes
controllerManager: {}
dns: {}
encryptionAlgorithm: RSA-2048
etcd:
  local:
    dataDir: /var/lib/etcd
imageRepository: registry.k8s.io
kind: ClusterConfiguration
kubernetesVersion: ${kubernetesVersion}
networking:
  dnsDomain: cluster.local
  serviceSubnet: 10.96.0.0/12
proxy: {}
scheduler: {}
`;
}
