import { KUBECONFIGS, LEAVES, type CaName } from "../kubeadm/catalogue.js";

/** One certificate `kpki certs renew` knows: a PKI pair or a kubeconfig's client certificate. */
export interface RenewTarget {
  /** The renew subcommand name (kubeadm's): `apiserver`, `etcd-server`, `admin.conf`, ... */
  readonly name: string;
  readonly longName: string;
  readonly ca: CaName;
  readonly kind: "pki" | "kubeconfig";
  /** PKI: base name under the cert dir; kubeconfig: file name under the kubeconfig dir. */
  readonly file: string;
}

/**
 * kubeadm's renewable certificates, sorted by name as `kubeadm certs renew`
 * lists them: every leaf (the etcd ones only with local etcd) and the
 * kubeconfigs kubeadm manages. CAs are never renewed ("this would cause serious
 * consequences", renewal/manager.go); kubelet.conf is the kubelet's own.
 */
export function renewTargets(externalEtcd: boolean): RenewTarget[] {
  const leaves = LEAVES.filter((l) => !(l.localEtcdOnly && externalEtcd)).map(
    (l): RenewTarget => ({ name: l.name, longName: l.longName, ca: l.ca, kind: "pki", file: l.baseName }),
  );
  const confs = KUBECONFIGS.filter((k) => k.managedByKubeadm).map(
    (k): RenewTarget => ({ name: k.fileName, longName: k.longName, ca: "ca", kind: "kubeconfig", file: k.fileName }),
  );
  return [...leaves, ...confs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

