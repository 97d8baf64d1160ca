/**
 * The file port the kubeadm workflows use. src/io/fs-store.ts implements it on
 * node:fs; tests use an in-memory map. Paths are absolute or relative to the
 * process's working directory, joined with "/".
 */
export interface PkiStore {
  /** The file's text, or undefined when it does not exist. Other failures throw (a directory, no permission). */
  read(path: string): Promise<string | undefined>;
  /**
   * Writes the file so that readers see the old content or the new, never a
   * mix: a temporary name in the same directory, flushed, then renamed.
   * Missing parent directories are created with mode 0755.
   */
  write(path: string, data: string, mode: number): Promise<void>;
  /**
   * Throws one clear line (with the errno: EROFS, EACCES, ENOSPC, ...) unless new files can be
   * created in `dir`, or in the nearest existing folder above it that would hold it. Run before
   * any key is generated or any file written, so that a target that cannot be written changes nothing.
   */
  checkWritable(dir: string): Promise<void>;
}

/** Joins path segments with "/" (the engine must not import node:path). */
export function joinPath(dir: string, ...parts: string[]): string {
  let out = dir;
  for (const p of parts) out = out.endsWith("/") ? `${out}${p}` : `${out}/${p}`;
  return out;
}

/** File modes kubeadm uses (client-go keyutil/certutil, clientcmd). */
export const MODES = { key: 0o600, cert: 0o644, publicKey: 0o600, kubeconfig: 0o600, csr: 0o600 } as const;
