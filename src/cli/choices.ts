import { CERT_PHASE_ORDER, certPhaseName, KUBECONFIGS, LEAVES } from "../kubeadm/catalogue.js";
import { DEFAULTS } from "../kubeadm/config.js";
import type { CreateProfile } from "../kubeadm/create.js";
import type { StoreKind } from "../trust/plan.js";

/*
 * The values some flags and arguments accept, for yargs' `choices`. Every command's options are
 * declared when kpki starts, whichever command runs; these lists come from the catalogue, so that
 * declaring them does not load the engines that own the same lists (kubeadm/init.ts,
 * kubeadm/sign.ts, kubeadm/create.ts, trust/plan.ts), which a command loads when it runs. test/cli/choices.test.ts
 * checks that each equals the engine's.
 */

/** `init phase certs <name>`: kubeadm/init.ts's CERT_PHASE_NAMES. */
export const CERT_PHASE_CHOICES: readonly string[] = [...CERT_PHASE_ORDER.map(certPhaseName), "sa"];

/** `init phase kubeconfig <name>`: kubeadm/init.ts's KUBECONFIG_PHASE_NAMES. */
export const KUBECONFIG_PHASE_CHOICES: readonly string[] = KUBECONFIGS.map((k) => k.name);

/** `certs sign --profile`: the names of kubeadm/sign.ts's SIGN_PROFILES. */
export const SIGN_PROFILE_CHOICES: readonly string[] = [...LEAVES.map((l) => l.name), ...KUBECONFIGS.map((k) => k.fileName)];

/** `trust --store`: trust/plan.ts's STORE_KINDS. */
export const STORE_KIND_CHOICES = ["system", "nss", "java"] as const satisfies readonly StoreKind[];

/** `certs create --profile`: kubeadm/create.ts's CREATE_PROFILES. */
export const CREATE_PROFILE_CHOICES = ["server", "client", "peer", "etcd-server", "etcd-peer", "etcd-client", "kube-apiserver", "etcd-member"] as const satisfies readonly CreateProfile[];

/** The defaults `certs create` shows in its flags' help: kubeadm/create.ts's CREATE_DEFAULTS. */
export const CREATE_FLAG_DEFAULTS = { serviceCidr: DEFAULTS.serviceSubnet, clusterDomain: DEFAULTS.dnsDomain, validity: "8760h" } as const;
