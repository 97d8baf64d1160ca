import { fstatSync, writeSync } from "node:fs";
import type { CliIo } from "../cli/io.js";
import type { SignatureVerifier } from "../pki/signature.js";
import { directoryListingCache, dryRunStore, fsStore, readBytesIfExists, readFileIfExists } from "./fs-store.js";
import { hostFacts } from "./host.js";

let verifier: SignatureVerifier | undefined;

/**
 * What standard output is, looked at on first use: a file (a regular file, or a device such as
 * /dev/null that is not a terminal), a terminal, or a stream (a pipe, a socket).
 */
function stdoutKind(): "file" | "tty" | "stream" {
  try {
    const st = fstatSync(1);
    if (st.isFile()) return "file";
    // Making process.stdout tells a terminal from other devices (it loads net and tty: ~1.5 ms).
    if (st.isCharacterDevice()) return process.stdout.isTTY ? "tty" : "file";
  } catch {
    // no descriptor 1 to look at: process.stdout decides
  }
  return "stream";
}

/**
 * Standard output. A file is written with fs.writeSync, which encodes the text straight into it:
 * process.stdout (a SyncWriteStream there) first copies each string into a new Buffer, megabytes
 * for a large `-o json`. A terminal or a pipe gets process.stdout; `kpki ... | head` closes the
 * pipe early, which is not an error worth a stack trace.
 */
function stdoutWriter(kind: "file" | "tty" | "stream"): (text: string) => void {
  if (kind === "file") return (text) => void writeSync(1, text);
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
  return (text) => void process.stdout.write(text);
}

/** The real CliIo: process streams and env, the file system, Node's WebCrypto and the wall clock. */
export function nodeIo(): CliIo {
  // kubeadm captures the start time once per process (StartTimeUTC); so do we.
  const start = new Date();
  let kind: "file" | "tty" | "stream" | undefined;
  let stdout: ((text: string) => void) | undefined;
  return {
    stdout: (text) => (stdout ??= stdoutWriter((kind ??= stdoutKind())))(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    get isTty(): boolean {
      return (kind ??= stdoutKind()) === "tty";
    },
    // Node's WebCrypto (globalThis.crypto), read when a command first uses it: loading node:crypto
    // takes about 4 ms, which commands that sign or verify nothing (version, --help) need not pay.
    get crypto(): Crypto {
      return globalThis.crypto;
    },
    // node:crypto loads with the first check, not at start-up (see crypto above).
    // Once loaded, each check goes straight to it (a scan with --verify makes one per certificate).
    verifySignature: (...args) =>
      verifier ? verifier(...args) : import("./node-signature.js").then((m) => (verifier ??= m.nodeSignatureVerifier)(...args)),
    now: () => start,
    clock: () => new Date(),
    runtime: { node: process.version, platform: `${process.platform}/${process.arch}` },
    onStopSignal: (handler) => {
      const on = (signal: "SIGINT" | "SIGTERM") => (): void => {
        off();
        handler(signal);
      };
      const onInt = on("SIGINT");
      const onTerm = on("SIGTERM");
      const off = (): void => {
        process.off("SIGINT", onInt);
        process.off("SIGTERM", onTerm);
      };
      process.on("SIGINT", onInt);
      process.on("SIGTERM", onTerm);
      return off;
    },
    approverRuntime: async () => {
      const [{ approverTelemetry }, { kubeApproverApi, loadKubeConfig }, { startWarmUpApi }, { threadPoolSignatureVerifier }] = await Promise.all([
        import("./approver-http.js"), import("./kube-api.js"), import("./warm-up-api.js"), import("./node-signature.js"),
      ]);
      return { api: (kubeconfig) => kubeApproverApi(loadKubeConfig(kubeconfig)), telemetry: approverTelemetry, verifySignature: threadPoolSignatureVerifier, warmUpApi: startWarmUpApi };
    },
    exporterServer: async (listen, handler) => (await import("./exporter-http.js")).serveExporter(listen, handler),
    watchPaths: async (paths, onChange) => {
      const { foldersToWatch, watchFolders } = await import("./exporter-watch.js");
      return watchFolders(foldersToWatch(paths), onChange);
    },
    userCsrApi: async (kubeconfig) => (await import("./kube-user-csr.js")).kubeUserCsrApi(kubeconfig),
    exporterApi: async (kubeconfig) => (await import("./exporter-api.js")).exporterApi(kubeconfig),
    store: fsStore(),
    dryRunStore,
    host: hostFacts,
    readText: readFileIfExists,
    readBytes: readBytesIfExists,
    scan: async (paths) => (await import("./scan.js")).scanPaths(paths),
    existenceCache: directoryListingCache,
    tlsPeerChain: async (host, port, client) => (await import("./tls-peer.js")).tlsPeerChain(host, port, client),
    trustStores: async () => (await import("./trust-store.js")).nodeTrustPort(),
    clusterInfoApi: async (kubeconfig) => (await import("./cluster-info-api.js")).clusterInfoApi(kubeconfig),
    renewPort: (now) => {
      // The port's module loads on first use; it is only needed by certs renew and ca rotate.
      const port = import("./renew-port.js").then((m) => m.fsRenewPort(now));
      return {
        read: async (p) => (await port).read(p),
        checkWritable: async (d) => (await port).checkWritable(d),
        backup: async (d, f) => (await port).backup(d, f),
        stagePair: async (k, c, kp, cp) => (await port).stagePair(k, c, kp, cp),
        stageFile: async (p, d) => (await port).stageFile(p, d),
        removePair: async (k, c) => (await port).removePair(k, c),
        tidy: async (paths) => (await port).tidy(paths),
        stageKubeletPem: async (p, d) => (await port).stageKubeletPem(p, d),
        lock: async (p, w) => (await port).lock(p, w),
        uninterruptible: async (section) => (await port).uninterruptible(section),
      };
    },
  };
}
