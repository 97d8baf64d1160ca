import { DEFAULTS } from "../../kubeadm/config.js";
import { usageError } from "../../errors.js";
import type { SourceState } from "../../exporter/series.js";
import { VERSION } from "../../version.js";
import { defineCommand } from "../command.js";
import { CERT_DIR_OPTIONS, dirsFromArgs, durationFlag, KUBECONFIG_DIR_OPTIONS } from "../options.js";

/** x509-certificate-exporter's Helm chart's alert thresholds (values.yaml warningDaysLeft, criticalDaysLeft): CertificateRenewal at 28 days, CertificateExpiration at 14. */
const WARN_DEFAULT = "28d";
const CRIT_DEFAULT = "14d";

/** `kpki exporter`: certificate expiry as Prometheus metrics, served or printed once. */
export const exporterCommand = defineCommand({
  command: "exporter",
  describe: "Serve certificate expiry as Prometheus metrics (x509-certificate-exporter's names and labels), or print them once",
  options: {
    "cert-dir": { ...CERT_DIR_OPTIONS["cert-dir"], describe: "kubeadm's certificate folder [default: /etc/kubernetes/pki]" },
    "kubeconfig-dir": { ...KUBECONFIG_DIR_OPTIONS["kubeconfig-dir"], describe: "kubeadm's kubeconfig folder [default: /etc/kubernetes]" },
    dir: { ...CERT_DIR_OPTIONS.dir, describe: "Shorthand: kubeconfigs in DIR and certificates in DIR/pki" },
    kubeadm: { type: "boolean", default: true, describe: "Export kubeadm's certificates and kubeconfigs, those that exist (--no-kubeadm: leave them out)" },
    kubelet: { type: "boolean", default: true, describe: "Export kubelet.conf and the kubelet's certificates, those that exist (--no-kubelet: leave them out)" },
    "kubelet-dir": { type: "string", default: "/var/lib/kubelet/pki", describe: "Where the kubelet keeps kubelet-client-current.pem, kubelet-server-current.pem and kubelet.crt" },
    kubeconfig: { type: "string", array: true, describe: "Also export every user and cluster certificate of this kubeconfig (repeatable)" },
    scan: { type: "string", array: true, describe: "Also export every certificate under a file, directory or glob (repeatable)" },
    "leaf-only": { type: "boolean", default: false, describe: "Export leaf certificates only, not the CAs of bundles and kubeconfigs" },
    "expose-relative-metrics": { type: "boolean", default: false, describe: "Also export x509_cert_expires_in_seconds and x509_cert_valid_since_seconds" },
    listen: { type: "string", default: ":9793", describe: "[HOST]:PORT for /metrics, /healthz and /readyz" },
    "rescan-interval": { type: "string", default: "5m", describe: "How often the files are read again, besides after each change in their folders" },
    once: { type: "boolean", default: false, describe: "Print the metrics once and exit with a status (no server)" },
    output: { alias: "o", type: "string", default: "text", choices: ["text", "json"] as const, describe: "With --once: text (the /metrics text, e.g. for node_exporter's textfile collector) or json" },
    "warn-within": { type: "string", default: WARN_DEFAULT, describe: "With --once: exit 1 (WARNING) if a certificate expires within this duration" },
    "crit-within": { type: "string", default: CRIT_DEFAULT, describe: "With --once: exit 2 (CRITICAL) if a certificate expires within this duration, or is expired, not yet valid, or does not parse" },
  },
  examples: [
    ["$0 exporter", "On a control-plane node: kubeadm's and the kubelet's certificates on :9793/metrics"],
    ["$0 exporter --once --dir ./dev-cluster --no-kubelet", "Print what would be exported, and exit 0, 1 or 2 for its expiry"],
    ["$0 exporter --once --no-kubeadm --no-kubelet --scan /etc/nginx/tls > /var/lib/node_exporter/textfile/kpki.prom", "For node_exporter's textfile collector, from cron"],
  ],
  epilogue:
    "Metrics: x509_cert_not_after, x509_cert_not_before and x509_cert_expired for every certificate (every one of a bundle), " +
    "with x509-certificate-exporter's labels (subject_CN, issuer_CN, serial_number, filepath, embedded_kind, ...) and kpki's (kubeadm_name, chain_position); " +
    "x509_cert_error for each place that should hold certificates and could not be read; x509_source_up, x509_source_errors_total{reason}, x509_exporter_build_info. " +
    "A file of kubeadm's or the kubelet's that does not exist is skipped; one named by --kubeconfig or --scan is an error. " +
    "Exit codes: without --once, 0 stopped by SIGTERM/SIGINT, 1 error, 2 usage error; with --once, the monitoring-plugin convention: " +
    "0 OK, 1 WARNING, 2 CRITICAL (within --crit-within, expired, not yet valid, a certificate that does not parse), 3 UNKNOWN (usage error, nothing found, a file that cannot be read).",
  run: async (args, io) => {
    // Every flag is checked before anything is read or listened on.
    const thresholds = { warnMs: durationFlag("warn-within", args["warn-within"], { min: 0 }), critMs: durationFlag("crit-within", args["crit-within"], { min: 0 }) };
    const rescanMs = durationFlag("rescan-interval", args["rescan-interval"]);
    const { parseListen } = await import("../../io/exporter-http.js");
    try {
      parseListen(args.listen);
    } catch (error) {
      throw usageError(`invalid --listen "${args.listen}": ${(error as Error).message}`);
    }
    const dirs = dirsFromArgs(args);
    const [{ readFileSources }, { addErrors, labelCertificates, metricFamilies }, { writeExposition }, { exportStatus, snapshotJson }] = await Promise.all([
      import("../../exporter/file-sources.js"),
      import("../../exporter/series.js"),
      import("../../exporter/exposition.js"),
      import("../../exporter/status.js"),
    ]);
    const sources = {
      kubeadm: args.kubeadm ? { certificatesDir: dirs.certDir ?? DEFAULTS.certificatesDir, kubeconfigDir: dirs.kubeconfigDir ?? DEFAULTS.kubernetesDir, externalEtcd: false } : undefined,
      kubelet: args.kubelet ? { dir: args["kubelet-dir"], kubeconfigDir: dirs.kubeconfigDir ?? DEFAULTS.kubernetesDir } : undefined,
      kubeconfigs: args.kubeconfig ?? [],
      scan: args.scan ?? [],
    };
    const build = { version: VERSION, runtime: io.runtime.node, os: io.runtime.platform.split("/")[0] ?? "", arch: io.runtime.platform.split("/")[1] ?? "" };
    let counted: SourceState[] = [];
    const read = async () => {
      const found = await readFileSources(
        { kubeadm: sources.kubeadm, kubelet: sources.kubelet, kubeconfigs: sources.kubeconfigs, scanned: await io.scan(sources.scan) },
        { readBytes: io.readBytes, mayExist: io.existenceCache() },
      );
      const labelled = await labelCertificates(found.certificates, { leafOnly: args["leaf-only"], sha256: (b) => io.crypto.subtle.digest("SHA-256", b) });
      counted = addErrors(counted, found.sources);
      return { ...found, sources: counted, labelled };
    };
    const write = (snap: Awaited<ReturnType<typeof read>>, out: (chunk: string) => void): void =>
      writeExposition(metricFamilies(snap.labelled, snap.errors, snap.sources, build, { now: Math.floor(io.clock().getTime() / 1000), relative: args["expose-relative-metrics"] }), out);

    if (args.once) {
      const snap = await read();
      const status = exportStatus(snap.labelled.map((l) => l.certificate), snap.errors, io.clock(), thresholds);
      for (const e of snap.errors) io.stderr(`error: ${e.location.filepath || e.source}: ${e.message}\n`);
      if (status.nothingFound) io.stderr("UNKNOWN: no certificate found\n");
      if (args.output === "json") io.stdout(`${JSON.stringify(snapshotJson(snap.labelled, snap.errors, io.clock(), thresholds), null, 2)}\n`);
      else write(snap, io.stdout);
      return status.exitCode;
    }

    let snap = await read();
    // The server starts once the first read is done, so it is ready from its first answer.
    const server = await io.exporterServer(args.listen, { metrics: (out) => write(snap, out), ready: () => true });
    // Read again after a change in the sources' folders, and every --rescan-interval in any case
    // (a folder made later, a watch the kernel refused, a file a kubeconfig names elsewhere).
    // One read at a time; a change during a read brings one more read after it.
    let reading = false;
    let dirty = false;
    const reread = (): void => {
      if (reading) {
        dirty = true;
        return;
      }
      reading = true;
      void read()
        .then((next) => (snap = next))
        .catch((error: unknown) => io.stderr(`exporter: reading the sources failed: ${(error as Error).message}\n`))
        .finally(() => {
          reading = false;
          if (dirty) {
            dirty = false;
            reread();
          }
        });
    };
    const watched = [
      ...(sources.kubeadm ? [{ path: sources.kubeadm.certificatesDir, recursive: true }, { path: sources.kubeadm.kubeconfigDir, recursive: false }] : []),
      ...(sources.kubelet ? [{ path: sources.kubelet.dir, recursive: false }, { path: sources.kubelet.kubeconfigDir, recursive: false }] : []),
      ...sources.kubeconfigs.map((path) => ({ path, recursive: false })),
      ...sources.scan.map((path) => ({ path, recursive: true })),
    ];
    const watcher = await io.watchPaths(watched, reread);
    const interval = setInterval(reread, rescanMs);
    io.stderr(`exporter: serving /metrics on ${server.address}: ${snap.labelled.length} certificates, ${snap.errors.length} errors; files read again on change and every ${args["rescan-interval"]}\n`);
    return new Promise<number>((resolve) => {
      const stop = io.onStopSignal((signal) => {
        stop();
        clearInterval(interval);
        watcher.close();
        void server.close().then(() => {
          io.stderr(`exporter: stopping: ${signal}\n`);
          resolve(0);
        });
      });
    });
  },
});
