import { CAS, KUBECONFIGS, LEAVES, type CaName } from "../kubeadm/catalogue.js";
import { kubeconfigClientCertificate, kubeconfigPaths, pkiPaths } from "../kubeadm/files.js";
import { parseCertificatePem, type ParsedCertificate } from "../pki/cert.js";
import type { CertificateExpirationInfo, ExpirationEntry } from "./kubeadm-report.js";

/** Where kubeadm looks, and whether etcd is external (then the etcd rows are not part of the cluster). */
export interface KubeadmLayout {
  readonly certificatesDir: string;
  readonly kubeconfigDir: string;
  readonly externalEtcd: boolean;
}

/** The reads the report needs; src/io provides them. */
export interface ExpiryReader {
  /** Text of a file, undefined when it does not exist; throws (with a message) when it cannot be read. */
  readonly read: (path: string) => Promise<string | undefined>;
}

/** A certificate the report found, with where it came from (for the checks beyond kubeadm). */
export interface FoundCertificate {
  readonly name: string;
  readonly path: string;
  readonly certificate: ParsedCertificate;
}

/** The report and the certificates behind its rows. */
export interface KubeadmExpiration {
  readonly info: CertificateExpirationInfo;
  readonly found: readonly FoundCertificate[];
}

const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Whole seconds until `notAfter`, truncated toward zero, as int64(time.Until(t) / time.Second). */
export const residualSeconds = (notAfter: Date, now: Date): number => Math.trunc((notAfter.getTime() - now.getTime()) / 1000);

/**
 * Builds kubeadm's CertificateExpirationInfo (renewal.Manager.Certificates and
 * CAs): every leaf of the catalogue plus admin, super-admin, controller-manager
 * and scheduler.conf (kubelet.conf is left out, as kubeadm does: the kubelet
 * rotates it), sorted by name; the CAs sorted too. EXTERNALLY MANAGED follows
 * the external-CA rule: CA certificate present, CA key absent. A file that
 * cannot be read becomes a row with an error instead of ending the report.
 */
export async function kubeadmExpiration(layout: KubeadmLayout, reader: ExpiryReader, now: Date): Promise<KubeadmExpiration> {
  const found: FoundCertificate[] = [];

  type Loaded = { cert?: ParsedCertificate; error?: string; unreadable?: boolean };
  async function load(name: string, path: string): Promise<Loaded> {
    let text: string | undefined;
    try {
      text = await reader.read(path);
    } catch (error) {
      return { error: (error as Error).message, unreadable: true };
    }
    if (text === undefined) return {};
    try {
      const cert = parseCertificatePem(text);
      found.push({ name, path, certificate: cert });
      return { cert };
    } catch (error) {
      return { error: `${path}: ${(error as Error).message}` };
    }
  }

  const entry = (name: string, res: Loaded, externallyManaged: boolean, caName?: string): ExpirationEntry => {
    if (!res.cert) {
      return {
        name, expirationDate: undefined, residualTime: 0, externallyManaged, missing: res.error === undefined,
        ...(res.error ? { error: res.error } : {}), ...(res.unreadable ? { unreadable: true } : {}),
      };
    }
    return {
      name,
      expirationDate: res.cert.notAfter,
      residualTime: residualSeconds(res.cert.notAfter, now),
      externallyManaged,
      ...(caName ? { caName } : {}),
      missing: false,
    };
  };

  const cas = CAS.filter((c) => !(c.localEtcdOnly && layout.externalEtcd));
  const external = new Map<CaName, boolean>();
  const caEntries: ExpirationEntry[] = [];
  for (const ca of cas) {
    const paths = pkiPaths(layout.certificatesDir, ca.baseName);
    const res = await load(ca.name, paths.cert);
    let keyAbsent = false;
    try {
      keyAbsent = (await reader.read(paths.key)) === undefined;
    } catch {
      keyAbsent = false; // only "does not exist" counts as external (kubeadm: os.IsNotExist)
    }
    const isExternal = res.cert !== undefined && res.cert.isCa && keyAbsent;
    external.set(ca.name, isExternal);
    caEntries.push(entry(ca.name, res, isExternal));
  }

  const certEntries: ExpirationEntry[] = [];
  for (const leaf of LEAVES) {
    if (leaf.localEtcdOnly && layout.externalEtcd) continue;
    const res = await load(leaf.name, pkiPaths(layout.certificatesDir, leaf.baseName).cert);
    certEntries.push(entry(leaf.name, res, external.get(leaf.ca) ?? false, leaf.ca));
  }
  for (const kc of KUBECONFIGS) {
    if (!kc.managedByKubeadm) continue;
    const path = kubeconfigPaths(layout.kubeconfigDir, kc.fileName).file;
    let res: Loaded = {};
    let text: string | undefined;
    try {
      text = await reader.read(path);
    } catch (error) {
      res = { error: (error as Error).message, unreadable: true };
    }
    if (text !== undefined) {
      try {
        const cert = await kubeconfigClientCertificate(text, path);
        found.push({ name: kc.fileName, path, certificate: cert });
        res = { cert };
      } catch (error) {
        res = { error: (error as Error).message };
      }
    }
    certEntries.push(entry(kc.fileName, res, external.get("ca") ?? false, "ca"));
  }

  return {
    info: { certificates: certEntries.sort(byName), certificateAuthorities: caEntries.sort(byName) },
    found,
  };
}
