import type { CliIo } from "../../src/cli/io.js";
import { directoryListingCache, dryRunStore, fsStore, readBytesIfExists, readFileIfExists } from "../../src/io/fs-store.js";
import { nodeSignatureVerifier, threadPoolSignatureVerifier } from "../../src/io/node-signature.js";
import { fsRenewPort } from "../../src/io/renew-port.js";
import { scanPaths } from "../../src/io/scan.js";
import { tlsPeerChain } from "../../src/io/tls-peer.js";
import type { PkiStore } from "../../src/kubeadm/store.js";
import { T0, crypto } from "./clock.js";

/** A CliIo that captures output; files go to the real file system unless a store is given. */
export function fakeIo(overrides: Partial<CliIo> & { store?: PkiStore } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (t) => void out.push(t),
    stderr: (t) => void err.push(t),
    env: {},
    isTty: false,
    crypto,
    verifySignature: nodeSignatureVerifier,
    now: () => T0,
    clock: () => T0,
    onStopSignal: () => () => undefined,
    approverRuntime: async () => {
      const [{ approverTelemetry }, { kubeApproverApi, loadKubeConfig }, { startWarmUpApi }] = await Promise.all([import("../../src/io/approver-http.js"), import("../../src/io/kube-api.js"), import("../../src/io/warm-up-api.js")]);
      return { api: (kubeconfig) => kubeApproverApi(loadKubeConfig(kubeconfig)), telemetry: approverTelemetry, verifySignature: threadPoolSignatureVerifier, warmUpApi: startWarmUpApi };
    },
    exporterServer: async (listen, handler) => (await import("../../src/io/exporter-http.js")).serveExporter(listen, handler),
    watchPaths: async (paths, onChange) => {
      const { foldersToWatch, watchFolders } = await import("../../src/io/exporter-watch.js");
      return watchFolders(foldersToWatch(paths), onChange);
    },
    userCsrApi: async (kubeconfig) => (await import("../../src/io/kube-user-csr.js")).kubeUserCsrApi(kubeconfig),
    exporterApi: async (kubeconfig) => (await import("../../src/io/exporter-api.js")).exporterApi(kubeconfig),
    runtime: { node: "v20.0.0", platform: "linux/x64" },
    store: fsStore(),
    dryRunStore,
    host: () => ({ hostname: "node1", defaultAddress: "192.0.2.10" }),
    readText: readFileIfExists,
    readBytes: readBytesIfExists,
    scan: scanPaths,
    existenceCache: directoryListingCache,
    tlsPeerChain,
    trustStores: async () => (await import("../../src/io/trust-store.js")).nodeTrustPort(),
    clusterInfoApi: async (kubeconfig) => (await import("../../src/io/cluster-info-api.js")).clusterInfoApi(kubeconfig),
    renewPort: fsRenewPort,
    ...overrides,
  };
  return { io, stdout: () => out.join(""), stderr: () => err.join("") };
}
