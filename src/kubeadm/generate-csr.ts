import { mismatch } from "../errors.js";
import { createCsr } from "../pki/csr.js";
import { generateKeyPair, privateKeyToPem, type KeyPair } from "../pki/keys.js";
import { KUBECONFIGS, LEAVES } from "./catalogue.js";
import type { ClusterConfig } from "./config.js";
import { controlPlaneApiEndpoint, localApiEndpoint, renderKubeconfig } from "./kubeconfig.js";
import { kubeconfigUser, resolveLeafSpec } from "./resolve.js";
import { dirOf, kubeconfigPaths, pkiPaths } from "./files.js";
import { MODES, type PkiStore } from "./store.js";

export interface GenerateCsrDeps {
  readonly crypto: Crypto;
  readonly store: PkiStore;
  readonly now: Date;
  readonly log: (line: string) => void;
}

/**
 * `kubeadm certs generate-csr` (cmd/kubeadm/app/cmd/certs.go, phases/certs/certs.go CreateCSR), in the catalogue's
 * order rather than Go's random map order: a new key and a CSR (subject and
 * DNS/IP SANs, no usages) per leaf, and per kubeconfig a file with only
 * client-key-data plus `<file>.csr`. Nothing is written if any target exists.
 */
export async function generateCsrs(cfg: ClusterConfig, deps: GenerateCsrDeps): Promise<void> {
  const { crypto, store, log, now } = deps;
  const leaves = LEAVES.filter((l) => !(l.localEtcdOnly && cfg.etcd.external));
  const kubeconfigs = KUBECONFIGS;
  // Refuse before writing anything.
  for (const leaf of leaves) {
    const paths = pkiPaths(cfg.certificatesDir, leaf.baseName);
    if ((await store.read(paths.key)) !== undefined || (await store.read(paths.csr)) !== undefined) {
      throw mismatch(`file already exists: key or CSR ${paths.key.replace(/\.key$/, "")}`);
    }
  }
  for (const k of kubeconfigs) {
    const paths = kubeconfigPaths(cfg.kubeconfigDir, k.fileName);
    if ((await store.read(paths.file)) !== undefined) throw mismatch(`file already exists: kube config: ${paths.file}`);
    if ((await store.read(paths.csr)) !== undefined) throw mismatch(`file already exists: csr: ${paths.csr}`);
  }
  // Every folder is probed before the first key is generated.
  const dirs = new Set([...leaves.map((l) => dirOf(pkiPaths(cfg.certificatesDir, l.baseName).key)), cfg.kubeconfigDir]);
  for (const dir of dirs) await store.checkWritable(dir);
  const keys = new Map<string, Promise<KeyPair>>();
  for (const name of [...leaves.map((l) => l.name), ...kubeconfigs.map((k) => k.fileName)]) {
    const p = generateKeyPair(cfg.encryptionAlgorithm, crypto);
    p.catch(() => undefined);
    keys.set(name, p);
  }

  log(`generating keys and CSRs in ${cfg.certificatesDir}`);
  for (const leaf of leaves) {
    const spec = resolveLeafSpec(leaf, cfg, now);
    const key = await (keys.get(leaf.name) as Promise<KeyPair>);
    const csr = await createCsr({ subject: spec.subject, dnsNames: spec.dnsNames, ips: spec.ips }, key, crypto);
    const paths = pkiPaths(cfg.certificatesDir, leaf.baseName);
    await store.write(paths.key, await privateKeyToPem(key, crypto), MODES.key);
    await store.write(paths.csr, csr.pem, MODES.csr);
    log(`  ${leaf.baseName}`);
  }
  log(`generating keys and CSRs in ${cfg.kubeconfigDir}`);
  for (const k of kubeconfigs) {
    const user = kubeconfigUser(k, cfg);
    const key = await (keys.get(k.fileName) as Promise<KeyPair>);
    const csr = await createCsr({ subject: k.organizations.length ? { commonName: user, organizations: k.organizations } : { commonName: user }, dnsNames: [], ips: [] }, key, crypto);
    const paths = kubeconfigPaths(cfg.kubeconfigDir, k.fileName);
    const server = k.server === "local" ? localApiEndpoint(cfg) : controlPlaneApiEndpoint(cfg);
    await store.write(paths.file, renderKubeconfig({ clusterName: cfg.clusterName, server, caPem: "", user, clientKeyPem: await privateKeyToPem(key, crypto) }), MODES.kubeconfig);
    await store.write(paths.csr, csr.pem, MODES.csr);
    log(`  ${k.fileName}`);
  }
}
