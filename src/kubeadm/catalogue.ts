import type { ExtKeyUsage, KeyUsage } from "../pki/extensions.js";

/**
 * kubeadm's certificate and kubeconfig catalogue as data
 * (kubernetes/kubernetes cmd/kubeadm/app/phases/certs/certlist.go and
 * phases/kubeconfig/kubeconfig.go). Everything else (CLI choices, phase order,
 * report rows) is derived from these arrays; their order is kubeadm's phase order.
 */

export type CaName = "ca" | "front-proxy-ca" | "etcd-ca";
export type SanProfile = "apiserver" | "etcd-server" | "etcd-peer";

/** A subject value that comes from the cluster rather than a constant. */
export type FromConfig = { readonly from: "nodeName" };

export interface CaEntry {
  readonly kind: "ca";
  readonly name: CaName;
  readonly baseName: string;
  readonly longName: string;
  readonly commonName: string;
  /** The name kubeadm uses for it in external-CA messages. */
  readonly uxName: string;
  /** Only made when etcd is local (kubeadm skips it with `etcd.external`). */
  readonly localEtcdOnly: boolean;
}

export interface LeafEntry {
  readonly kind: "leaf";
  readonly name: string;
  readonly baseName: string;
  readonly longName: string;
  readonly uxName: string;
  readonly ca: CaName;
  readonly commonName: string | FromConfig;
  readonly organizations: readonly string[];
  readonly extKeyUsages: readonly ExtKeyUsage[];
  readonly sans?: SanProfile;
  readonly localEtcdOnly: boolean;
}

export interface KubeconfigEntry {
  readonly kind: "kubeconfig";
  readonly name: string;
  readonly fileName: string;
  readonly longName: string;
  readonly user: string | FromConfig;
  readonly organizations: readonly string[];
  /** controlPlane: controlPlaneEndpoint (or the local endpoint); local: always the local endpoint. */
  readonly server: "controlPlane" | "local";
  /**
   * kubelet.conf is written at init but never renewed or reported by kubeadm:
   * the kubelet rotates its own client certificate (renewal/manager.go).
   */
  readonly managedByKubeadm: boolean;
}

/** KeyUsage of every kubeadm leaf and CA (pki_helpers.go NewSignedCert / NewSelfSignedCACert). */
export const LEAF_KEY_USAGES: readonly KeyUsage[] = ["digitalSignature", "keyEncipherment"];
export const CA_KEY_USAGES: readonly KeyUsage[] = ["digitalSignature", "keyEncipherment", "keyCertSign"];

export const CAS = [
  {
    kind: "ca",
    name: "ca",
    baseName: "ca",
    longName: "self-signed Kubernetes CA to provision identities for other Kubernetes components",
    commonName: "kubernetes",
    uxName: "CA",
    localEtcdOnly: false,
  },
  {
    kind: "ca",
    name: "front-proxy-ca",
    baseName: "front-proxy-ca",
    longName: "self-signed CA to provision identities for front proxy",
    commonName: "front-proxy-ca",
    uxName: "front-proxy CA",
    localEtcdOnly: false,
  },
  {
    kind: "ca",
    name: "etcd-ca",
    baseName: "etcd/ca",
    longName: "self-signed CA to provision identities for etcd",
    commonName: "etcd-ca",
    uxName: "etcd CA",
    localEtcdOnly: true,
  },
] as const satisfies readonly CaEntry[];

export const LEAVES = [
  {
    kind: "leaf",
    name: "apiserver",
    baseName: "apiserver",
    longName: "certificate for serving the Kubernetes API",
    uxName: "API server",
    ca: "ca",
    commonName: "kube-apiserver",
    organizations: [],
    extKeyUsages: ["serverAuth"],
    sans: "apiserver",
    localEtcdOnly: false,
  },
  {
    kind: "leaf",
    name: "apiserver-kubelet-client",
    baseName: "apiserver-kubelet-client",
    longName: "certificate for the API server to connect to kubelet",
    uxName: "API server kubelet client",
    ca: "ca",
    commonName: "kube-apiserver-kubelet-client",
    // kubeadm:cluster-admins since v1.29 (kubernetes/kubernetes#121837); system:masters before.
    organizations: ["kubeadm:cluster-admins"],
    extKeyUsages: ["clientAuth"],
    localEtcdOnly: false,
  },
  {
    kind: "leaf",
    name: "front-proxy-client",
    baseName: "front-proxy-client",
    longName: "certificate for the front proxy client",
    uxName: "front-proxy client",
    ca: "front-proxy-ca",
    commonName: "front-proxy-client",
    organizations: [],
    extKeyUsages: ["clientAuth"],
    localEtcdOnly: false,
  },
  {
    kind: "leaf",
    name: "etcd-server",
    baseName: "etcd/server",
    longName: "certificate for serving etcd",
    uxName: "etcd server",
    ca: "etcd-ca",
    commonName: { from: "nodeName" },
    organizations: [],
    // clientAuth too: etcd dials itself with its server cert (etcd-io/etcd#9785).
    extKeyUsages: ["serverAuth", "clientAuth"],
    sans: "etcd-server",
    localEtcdOnly: true,
  },
  {
    kind: "leaf",
    name: "etcd-peer",
    baseName: "etcd/peer",
    longName: "certificate for etcd nodes to communicate with each other",
    uxName: "etcd peer",
    ca: "etcd-ca",
    commonName: { from: "nodeName" },
    organizations: [],
    extKeyUsages: ["serverAuth", "clientAuth"],
    sans: "etcd-peer",
    localEtcdOnly: true,
  },
  {
    kind: "leaf",
    name: "etcd-healthcheck-client",
    baseName: "etcd/healthcheck-client",
    longName: "certificate for liveness probes to healthcheck etcd",
    uxName: "etcd health-check client",
    ca: "etcd-ca",
    commonName: "kube-etcd-healthcheck-client",
    // No O since v1.29 (kubernetes/kubernetes#119859).
    organizations: [],
    extKeyUsages: ["clientAuth"],
    localEtcdOnly: true,
  },
  {
    kind: "leaf",
    name: "apiserver-etcd-client",
    baseName: "apiserver-etcd-client",
    longName: "certificate the apiserver uses to access etcd",
    uxName: "apiserver etcd client",
    ca: "etcd-ca",
    commonName: "kube-apiserver-etcd-client",
    // No O since v1.29 (kubernetes/kubernetes#120521).
    organizations: [],
    extKeyUsages: ["clientAuth"],
    localEtcdOnly: true,
  },
] as const satisfies readonly LeafEntry[];

export const KUBECONFIGS = [
  {
    kind: "kubeconfig",
    name: "admin",
    fileName: "admin.conf",
    longName: "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself",
    user: "kubernetes-admin",
    // Bound to cluster-admin by the kubeadm:cluster-admins ClusterRoleBinding (v1.29+).
    organizations: ["kubeadm:cluster-admins"],
    server: "controlPlane",
    managedByKubeadm: true,
  },
  {
    kind: "kubeconfig",
    name: "super-admin",
    fileName: "super-admin.conf",
    longName: "certificate embedded in the kubeconfig file for the super-admin",
    user: "kubernetes-super-admin",
    // system:masters bypasses RBAC: the break-glass credential (kubeadm v1.29+).
    organizations: ["system:masters"],
    server: "controlPlane",
    managedByKubeadm: true,
  },
  {
    kind: "kubeconfig",
    name: "kubelet",
    fileName: "kubelet.conf",
    longName: "certificate embedded in the kubeconfig file for the kubelet to use",
    user: { from: "nodeName" },
    organizations: ["system:nodes"],
    server: "controlPlane",
    managedByKubeadm: false,
  },
  {
    kind: "kubeconfig",
    name: "controller-manager",
    fileName: "controller-manager.conf",
    longName: "certificate embedded in the kubeconfig file for the controller manager to use",
    user: "system:kube-controller-manager",
    organizations: [],
    server: "local",
    managedByKubeadm: true,
  },
  {
    kind: "kubeconfig",
    name: "scheduler",
    fileName: "scheduler.conf",
    longName: "certificate embedded in the kubeconfig file for the scheduler manager to use",
    user: "system:kube-scheduler",
    organizations: [],
    server: "local",
    managedByKubeadm: true,
  },
] as const satisfies readonly KubeconfigEntry[];

export type CertEntry = CaEntry | LeafEntry;

/** CAs and leaves in kubeadm's `init phase certs all` order (GetDefaultCertList). */
export const CERT_PHASE_ORDER: readonly CertEntry[] = [
  CAS[0],
  LEAVES[0],
  LEAVES[1],
  CAS[1],
  LEAVES[2],
  CAS[2],
  LEAVES[3],
  LEAVES[4],
  LEAVES[5],
  LEAVES[6],
];

/** The phase name kubeadm uses for `init phase certs <name>` (etcd/ca → etcd-ca, etc.). */
export const certPhaseName = (entry: CertEntry): string => entry.name;

export function caEntry(name: CaName): CaEntry {
  const entry = CAS.find((c) => c.name === name);
  if (!entry) throw new Error(`certificate references unknown CA "${name}"`);
  return entry;
}

/** The kubeadm node user name for kubelet.conf (NodesUserPrefix + node name). */
export const nodeUser = (nodeName: string): string => `system:node:${nodeName}`;
