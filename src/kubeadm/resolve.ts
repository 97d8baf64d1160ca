import type { CertificateSpec } from "../pki/cert.js";
import type { Bytes } from "../pki/der.js";
import type { ExtKeyUsage } from "../pki/extensions.js";
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

/** Who a leaf certificate is for and what it may do: from the catalogue, a CSR, or the certificate it renews. */
export interface LeafIdentity {
  readonly commonName: string;
  readonly organizations: readonly string[];
  readonly dnsNames: readonly string[];
  readonly ips: readonly Bytes[];
  readonly extKeyUsages: readonly ExtKeyUsage[];
}

/**
 * kubeadm's leaf template (pkiutil NewSignedCert): the subject (O only when there is one),
 * KeyUsage digitalSignature|keyEncipherment, the given ExtKeyUsage, DNS and IP SANs sorted and
 * deduplicated, NotBefore start - 5m (or the given one), NotAfter start + period. Every leaf kpki
 * issues (init, renew, sign, kubeconfig user) is built here.
 */
export function leafSpec(id: LeafIdentity, start: Date, periodMs: number, notBefore?: Date): ResolvedSpec {
  const sans = dedupeAltNames({ dnsNames: id.dnsNames, ips: id.ips });
  const span = validity(start, periodMs);
  return {
    subject: id.organizations.length ? { commonName: id.commonName, organizations: id.organizations } : { commonName: id.commonName },
    notBefore: notBefore ?? span.notBefore,
    notAfter: span.notAfter,
    isCa: false,
    keyUsages: LEAF_KEY_USAGES,
    extKeyUsages: id.extKeyUsages,
    dnsNames: sans.dnsNames,
    ips: sans.ips,
  };
}

/** A leaf of the catalogue for this cluster: subject, usages and deduplicated SANs. */
export function resolveLeafSpec(entry: LeafEntry, cfg: ClusterConfig, start: Date): ResolvedSpec {
  const commonName = typeof entry.commonName === "string" ? entry.commonName : cfg.nodeName;
  const sans = entry.sans ? altNamesFor(entry.sans, cfg) : { dnsNames: [], ips: [] };
  return leafSpec({ commonName, organizations: entry.organizations, extKeyUsages: entry.extKeyUsages, ...sans }, start, cfg.certificateValidityMs);
}

/** The user name of a kubeconfig entry. */
export const kubeconfigUser = (entry: KubeconfigEntry, cfg: ClusterConfig): string =>
  typeof entry.user === "string" ? entry.user : nodeUser(cfg.nodeName);

/**
 * The client certificate of a kubeconfig (kubeconfig.go buildKubeConfigFromSpec):
 * clientAuth only, no SANs, NotAfter = start + period. Its NotBefore is the CA's
 * NotBefore, because the kubeconfig spec sets no NotBefore and NewSignedCert then
 * falls back to caCert.NotBefore (cmd/kubeadm/app/util/pkiutil/pki_helpers.go).
 */
export function resolveKubeconfigCertSpec(entry: KubeconfigEntry, cfg: ClusterConfig, start: Date, caNotBefore: Date): ResolvedSpec {
  return clientCertSpec(kubeconfigUser(entry, cfg), entry.organizations, start, cfg.certificateValidityMs, caNotBefore);
}

/** A kubeconfig's client certificate (init's kubeconfigs, `kubeconfig user`): clientAuth, no SANs, NotBefore the CA's. */
export const clientCertSpec = (user: string, organizations: readonly string[], start: Date, periodMs: number, caNotBefore: Date): ResolvedSpec =>
  leafSpec({ commonName: user, organizations, dnsNames: [], ips: [], extKeyUsages: ["clientAuth"] }, start, periodMs, caNotBefore);
