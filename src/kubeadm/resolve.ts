import type { CertificateSpec } from "../pki/cert.js";
import { CA_KEY_USAGES, LEAF_KEY_USAGES, nodeUser, type CaEntry, type KubeconfigEntry, type LeafEntry } from "./catalogue.js";
import { DEFAULTS, type ClusterConfig } from "./config.js";
import { altNamesFor, dedupeAltNames } from "./sans.js";

/** A certificate spec without its serial (which is random per issuance). */
export type ResolvedSpec = Omit<CertificateSpec, "serial">;

/**
 * kubeadm's validity rule (certlist.go GetConfig, v1.31+): NotBefore = start - 5m,
 * NotAfter = start + period. NotAfter is not backdated.
 */
function validity(start: Date, periodMs: number): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(start.getTime() - DEFAULTS.backdateMs), notAfter: new Date(start.getTime() + periodMs) };
}

/** The self-signed CA certificate kubeadm makes (NewSelfSignedCACert): SAN DNS:<CN>. */
export function resolveCaSpec(entry: CaEntry, cfg: ClusterConfig, start: Date): ResolvedSpec {
  return {
    subject: { commonName: entry.commonName },
    ...validity(start, cfg.caCertificateValidityMs),
    isCa: true,
    keyUsages: CA_KEY_USAGES,
    extKeyUsages: [],
    dnsNames: [entry.commonName],
    ips: [],
  };
}

/** A leaf of the catalogue for this cluster: subject, usages and deduplicated SANs. */
export function resolveLeafSpec(entry: LeafEntry, cfg: ClusterConfig, start: Date): ResolvedSpec {
  const commonName = typeof entry.commonName === "string" ? entry.commonName : cfg.nodeName;
  const sans = entry.sans ? dedupeAltNames(altNamesFor(entry.sans, cfg)) : { dnsNames: [], ips: [] };
  return {
    subject: entry.organizations.length ? { commonName, organizations: entry.organizations } : { commonName },
    ...validity(start, cfg.certificateValidityMs),
    isCa: false,
    keyUsages: LEAF_KEY_USAGES,
    extKeyUsages: entry.extKeyUsages,
    dnsNames: sans.dnsNames,
    ips: sans.ips,
  };
}

/** The user name of a kubeconfig entry. */
export const kubeconfigUser = (entry: KubeconfigEntry, cfg: ClusterConfig): string =>
  typeof entry.user === "string" ? entry.user : nodeUser(cfg.nodeName);

/**
 * The client certificate of a kubeconfig (kubeconfig.go buildKubeConfigFromSpec):
 * clientAuth only, no SANs, NotAfter = start + period. Its NotBefore is the CA's
 * NotBefore, because the kubeconfig spec sets no NotBefore and NewSignedCert then
 * falls back to caCert.NotBefore (kubeadm-certs.md §2.4).
 */
export function resolveKubeconfigCertSpec(entry: KubeconfigEntry, cfg: ClusterConfig, start: Date, caNotBefore: Date): ResolvedSpec {
  const commonName = kubeconfigUser(entry, cfg);
  return {
    subject: entry.organizations.length ? { commonName, organizations: entry.organizations } : { commonName },
    notBefore: caNotBefore,
    notAfter: new Date(start.getTime() + cfg.certificateValidityMs),
    isCa: false,
    keyUsages: LEAF_KEY_USAGES,
    extKeyUsages: ["clientAuth"],
    dnsNames: [],
    ips: [],
  };
}
