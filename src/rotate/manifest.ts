/**
 * kube-controller-manager's static pod manifest, as kubeadm writes it
 * (cmd/kubeadm/app/phases/controlplane/manifests.go getControllerManagerCommand): one flag per
 * line, `- --name=value`. Only the two signing flags are touched, and only when they name exactly
 * the files `from`; every other byte stays.
 */
export function kcmManifestSigning(
  manifest: string,
  from: { readonly cert: string; readonly key: string },
  to: { readonly cert: string; readonly key: string },
): string {
  const swap = (text: string, flag: string, was: string, now: string): string =>
    text.replace(new RegExp(`^(\\s*-\\s+--${flag}=)${escape(was)}(\\s*)$`, "m"), (_m, head: string, tail: string) => `${head}${now}${tail}`);
  return swap(swap(manifest, "cluster-signing-cert-file", from.cert, to.cert), "cluster-signing-key-file", from.key, to.key);
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
