/**
 * The exporter's file sources: kubeadm's layout, the kubelet's files, kubeconfigs and scanned
 * files, read with check-expiration's readers (src/expiry/inventory.ts) and turned into what is
 * exported (series.ts). Pure: the reads go through a BytesReader.
 *
 * A file of kubeadm's layout or the kubelet's that does not exist is not exported and is no error
 * (a worker has only ca.crt; super-admin.conf is on the first control-plane node only), as
 * x509-certificate-exporter v4 does with files that match nothing. A file named on the command
 * line (--kubeconfig, --scan FILE) that does not exist is an error.
 */
import { CAS, KUBECONFIGS, LEAVES } from "../kubeadm/catalogue.js";
import { kubeconfigPaths, pkiPaths } from "../kubeadm/files.js";
import { joinPath } from "../kubeadm/store.js";
import type { BytesReader, FoundRow } from "../expiry/inventory.js";
import { kubeletRows, rowsFromFile, rowsFromKubeconfig } from "../expiry/inventory.js";
import type { KubeadmLayout } from "../expiry/kubeadm-inventory.js";
import { exportedCertificate, type ExportError, type ExportedCertificate, type Location, type SourceState } from "./series.js";

/** The file sources, as check-expiration's flags give them. */
export interface FileSources {
  /** kubeadm's folders; undefined to leave them out. */
  readonly kubeadm: KubeadmLayout | undefined;
  /** The kubelet's folder, and where kubelet.conf is; undefined to leave them out. */
  readonly kubelet: { readonly dir: string; readonly kubeconfigDir: string } | undefined;
  readonly kubeconfigs: readonly string[];
  /** Files found by a scan (src/io/scan.ts); `explicit` when named on the command line. */
  readonly scanned: readonly ({ readonly path: string; readonly explicit: boolean } | { readonly path: string; readonly error: string })[];
}

export interface FileExport {
  readonly certificates: ExportedCertificate[];
  readonly errors: ExportError[];
  readonly sources: SourceState[];
}

/** The reason an unreadable place is counted under in x509_source_errors_total: x509-certificate-exporter v4's names (pkg/cert/reason.go), as its file and PEM readers give them (pkg/source/file/file.go classifyReadError, pkg/cert/pem/pem.go). */
export function reasonOf(row: FoundRow): string {
  const e = row.error ?? "";
  if (row.missing) return "not_found";
  if (row.unreadable) return /ENOENT|no such file/i.test(e) ? "not_found" : /EACCES|EPERM|permission denied/i.test(e) ? "permission_denied" : "read_failed";
  if (/^not a kubeconfig|not valid base64|current-context/.test(e)) return "decode_failed";
  if (/^empty file$|no certificate|^no CERTIFICATE block|^neither PEM nor DER|^holds a private key/i.test(e)) return "no_certificate_found";
  if (/^DER data/.test(e)) return "bad_der";
  return "bad_pem";
}

const baseName = (path: string): string => path.slice(path.lastIndexOf("/") + 1);

/** Collects one source's rows. */
class SourceRows {
  readonly errors = new Map<string, number>();
  private readonly kind: SourceState["kind"];
  private readonly name: string;
  private readonly out: FileExport;
  constructor(kind: SourceState["kind"], name: string, out: FileExport) {
    this.kind = kind;
    this.name = name;
    this.out = out;
  }

  /**
   * Adds the rows of one file or kubeconfig; `lenient` drops the file itself when it is missing (a
   * file a kubeconfig names that is missing is still an error). Every certificate of a bundle, or
   * of one kubeconfig entry, is numbered from 0 in the order it was read.
   */
  add(rows: readonly FoundRow[], extra: Omit<Location, "filepath" | "filename" | "embedded_kind" | "embedded_key">, lenient: boolean): void {
    const index = new Map<string, number>();
    for (const row of rows) {
      if (row.missing && lenient && !row.embedded) continue;
      // A kubeconfig's series carry the kubeconfig's path, also for a certificate it names by file.
      const filepath = row.embedded?.kubeconfig ?? row.path;
      const location: Location = {
        ...extra,
        filepath,
        filename: baseName(filepath),
        ...(row.embedded ? { embedded_kind: row.embedded.kind, embedded_key: row.embedded.name } : {}),
      };
      const source = `${this.kind}:${filepath}${row.embedded ? `#${row.embedded.kind}/${row.embedded.name}` : ""}`;
      if (row.certificate) {
        const i = index.get(source) ?? 0;
        index.set(source, i + 1);
        this.out.certificates.push(exportedCertificate(row.certificate, location, source, i));
      } else if (row.error !== undefined || row.missing) {
        const reason = reasonOf(row);
        this.errors.set(reason, (this.errors.get(reason) ?? 0) + 1);
        this.out.errors.push({ location, source, reason, message: row.error ?? "no such file" });
      }
    }
  }

  finish(): void {
    this.out.sources.push({ kind: this.kind, name: this.name, up: true, errors: this.errors });
  }
}

/** Reads every file source once. */
export async function readFileSources(sources: FileSources, reader: BytesReader): Promise<FileExport> {
  const out: FileExport = { certificates: [], errors: [], sources: [] };
  const layout = sources.kubeadm;
  if (layout) {
    const files = new SourceRows("file", "kubeadm", out);
    for (const e of [...CAS, ...LEAVES]) {
      if (e.localEtcdOnly && layout.externalEtcd) continue;
      files.add(await rowsFromFile(pkiPaths(layout.certificatesDir, e.baseName).cert, reader, true), { kubeadm_name: e.name }, true);
    }
    files.finish();
    const kubeconfigs = new SourceRows("kubeconfig", "kubeadm", out);
    for (const k of KUBECONFIGS) {
      if (!k.managedByKubeadm) continue;
      kubeconfigs.add(await rowsFromKubeconfig(kubeconfigPaths(layout.kubeconfigDir, k.fileName).file, reader), { kubeadm_name: k.fileName }, true);
    }
    kubeconfigs.finish();
  }
  if (sources.kubelet) {
    const kubelet = new SourceRows("file", "kubelet", out);
    const { dir, kubeconfigDir } = sources.kubelet;
    for (const row of await kubeletRows(kubeconfigDir, dir, reader)) {
      // kubelet.conf's series, its user certificate named by file included, carry the kubeconfig's path.
      kubelet.add([row], (row.embedded?.kubeconfig ?? row.path) === joinPath(kubeconfigDir, "kubelet.conf") ? { kubeadm_name: "kubelet.conf" } : {}, true);
    }
    kubelet.finish();
  }
  if (sources.kubeconfigs.length) {
    const named = new SourceRows("kubeconfig", "kubeconfig", out);
    for (const path of sources.kubeconfigs) named.add(await rowsFromKubeconfig(path, reader), {}, false);
    named.finish();
  }
  if (sources.scanned.length) {
    const scan = new SourceRows("file", "scan", out);
    for (const entry of sources.scanned) {
      if ("error" in entry) scan.add([{ name: entry.path, path: entry.path, error: entry.error, unreadable: true }], {}, false);
      else scan.add(await rowsFromFile(entry.path, reader, entry.explicit), {}, !entry.explicit);
    }
    scan.finish();
  }
  return out;
}
