import { DEFAULTS } from "../../kubeadm/config.js";
import type { Bytes } from "../../pki/der.js";
import { usageError } from "../../errors.js";
import type { ExportError, LabelledCertificate, SourceState } from "../../exporter/series.js";
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
    secrets: { type: "boolean", default: false, describe: "Also export TLS Secrets (tls.crt) from the API server, listed and watched" },
    "secret-type": { type: "string", array: true, describe: "Export this Secret type's key instead, as TYPE:KEY (repeatable; implies --secrets) [default: kubernetes.io/tls:tls.crt]" },
    configmaps: { type: "boolean", default: false, describe: "Also export ConfigMaps' --configmap-key keys from the API server" },
    "configmap-key": { type: "string", array: true, describe: "A ConfigMap data key holding certificates, e.g. ca.crt (repeatable; implies --configmaps)" },
    csrs: { type: "boolean", default: false, describe: "Also export the certificates of CertificateSigningRequests (any signer), labelled with the CSR, its signer, requester, usages and Node" },
    "include-namespace": { type: "string", array: true, describe: "Secrets and ConfigMaps of these namespaces only (repeatable)" },
    "exclude-namespace": { type: "string", array: true, describe: "Leave out Secrets and ConfigMaps of these namespaces (repeatable)" },
    "include-label": { type: "string", array: true, describe: "Secrets and ConfigMaps with this label only, KEY or KEY=VALUE (repeatable)" },
    "exclude-label": { type: "string", array: true, describe: "Leave out Secrets and ConfigMaps with this label, KEY or KEY=VALUE (repeatable)" },
    "list-page-size": { type: "number", default: 100, describe: "Objects per LIST page of the cluster sources (fewer: less memory at start and at each new list; more: fewer requests)" },
    "api-kubeconfig": { type: "string", describe: "The kubeconfig to reach the API server with [default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account]" },
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
    ["$0 exporter --no-kubeadm --no-kubelet --secrets --csrs --exclude-namespace kube-system", "In a Deployment: TLS Secrets and issued CSRs, listed once and then watched"],
  ],
  epilogue:
    "Metrics: x509_cert_not_after, x509_cert_not_before and x509_cert_expired for every certificate (every one of a bundle), " +
    "with x509-certificate-exporter's labels (subject_CN, issuer_CN, serial_number, filepath, embedded_kind, ...) and kpki's (kubeadm_name, chain_position); " +
    "x509_cert_error for each place that should hold certificates and could not be read; x509_source_up, x509_source_errors_total{reason}, x509_exporter_build_info. " +
    "A file of kubeadm's or the kubelet's that does not exist is skipped; one named by --kubeconfig or --scan is an error. " +
    "Cluster sources are listed in pages and then watched (bookmarks; a new list after 410 Gone or an error): a scrape makes no API call, and only the certificates of an object are kept. " +
    "Exit codes: without --once, 0 stopped by SIGTERM/SIGINT, 1 error, 2 usage error; with --once, the monitoring-plugin convention: " +
    "0 OK, 1 WARNING, 2 CRITICAL (within --crit-within, expired, not yet valid, a certificate that does not parse), 3 UNKNOWN (usage error, nothing found, a file that cannot be read, a list the API server refused).",
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
    if (!Number.isInteger(args["list-page-size"]) || args["list-page-size"] < 1 || args["list-page-size"] > 10_000) throw usageError(`invalid --list-page-size ${args["list-page-size"]}: expected a whole number from 1 to 10000`);
    if (args.configmaps && !args["configmap-key"]?.length) throw usageError("--configmaps needs the keys to read: --configmap-key KEY (e.g. ca.crt)");
    const dirs = dirsFromArgs(args);
    const [{ readFileSources }, { addErrors, discriminate, expiredUnchangedUntil, labelOne, metricFamilies }, { expositionChunks, writeExposition }, { exportStatus, snapshotJson }, { clusterSourceSpecs, DEFAULT_SECRET_TYPE }, { Reflector }] = await Promise.all([
      import("../../exporter/file-sources.js"),
      import("../../exporter/series.js"),
      import("../../exporter/exposition.js"),
      import("../../exporter/status.js"),
      import("../../exporter/cluster-sources.js"),
      import("../../exporter/reflector.js"),
    ]);
    const specs = clusterSourceSpecs({
      secretTypes: args["secret-type"]?.length ? args["secret-type"] : args.secrets ? [DEFAULT_SECRET_TYPE] : [],
      configMapKeys: args["configmap-key"] ?? [],
      csrs: args.csrs,
      includeNamespaces: args["include-namespace"] ?? [],
      excludeNamespaces: args["exclude-namespace"] ?? [],
      includeLabels: args["include-label"] ?? [],
      excludeLabels: args["exclude-label"] ?? [],
      leafOnly: args["leaf-only"],
    });
    const sources = {
      kubeadm: args.kubeadm ? { certificatesDir: dirs.certDir ?? DEFAULTS.certificatesDir, kubeconfigDir: dirs.kubeconfigDir ?? DEFAULTS.kubernetesDir, externalEtcd: false } : undefined,
      kubelet: args.kubelet ? { dir: args["kubelet-dir"], kubeconfigDir: dirs.kubeconfigDir ?? DEFAULTS.kubernetesDir } : undefined,
      kubeconfigs: args.kubeconfig ?? [],
      scan: args.scan ?? [],
    };
    const build = { version: VERSION, runtime: io.runtime.node, os: io.runtime.platform.split("/")[0] ?? "", arch: io.runtime.platform.split("/")[1] ?? "" };
    const sha256 = (b: Bytes) => io.crypto.subtle.digest("SHA-256", b);

    // The file sources' last read; the cluster sources' stores are the reflectors'.
    let counted: SourceState[] = [];
    let files: { labelled: LabelledCertificate[]; errors: ExportError[] } = { labelled: [], errors: [] };
    const readFiles = async (): Promise<void> => {
      const found = await readFileSources(
        { kubeadm: sources.kubeadm, kubelet: sources.kubelet, kubeconfigs: sources.kubeconfigs, scanned: await io.scan(sources.scan) },
        { readBytes: io.readBytes, mayExist: io.existenceCache() },
      );
      counted = addErrors(counted, found.sources);
      files = { labelled: found.certificates.filter((c) => !args["leaf-only"] || c.chainPosition === "leaf").map(labelOne), errors: found.errors };
      changed();
    };
    const api = specs.length ? await io.exporterApi(args["api-kubeconfig"]) : undefined;
    const reflectors = api
      ? specs.map(
          (spec) =>
            new Reflector(spec, api, {
              pageSize: args["list-page-size"],
              watchTimeoutSeconds: WATCH_TIMEOUT_SECONDS,
              sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()),
              now: () => performance.now(),
              changed: () => changed(),
              log: (message) => io.stderr(`exporter: ${spec.name}: ${message}\n`),
            }),
        )
      : [];
    // What a scrape writes, built again only after a change: discriminators across every source.
    let view: Promise<View> | undefined;
    const changed = (): void => {
      view = undefined;
    };
    const current = (): Promise<View> =>
      (view ??= (async () => {
        const labelled = await discriminate([...files.labelled, ...reflectors.flatMap((r) => r.certificates())], sha256);
        return { labelled, errors: [...files.errors, ...reflectors.flatMap((r) => r.exportErrors())], sources: [...counted, ...reflectors.map((r) => r.state())] };
      })());
    const families = (v: View) => metricFamilies(v.labelled, v.errors, v.sources, build, { now: Math.floor(io.clock().getTime() / 1000), relative: args["expose-relative-metrics"] });
    const write = (v: View, out: (chunk: string) => void): void => writeExposition(families(v), out);

    if (args.once) {
      await readFiles();
      try {
        await Promise.all(reflectors.map((r) => r.listOnce()));
      } catch (error) {
        io.stderr(`UNKNOWN: listing from the API server failed: ${(error as Error).message}\n`);
        return 3;
      } finally {
        api?.close();
      }
      const v = await current();
      const status = exportStatus(v.labelled.map((l) => l.certificate), v.errors, io.clock(), thresholds);
      for (const e of v.errors) io.stderr(`error: ${placeOf(e)}: ${e.message}\n`);
      if (status.nothingFound) io.stderr("UNKNOWN: no certificate found\n");
      if (args.output === "json") io.stdout(`${JSON.stringify(snapshotJson(v.labelled, v.errors, io.clock(), thresholds), null, 2)}\n`);
      else write(v, io.stdout);
      return status.exitCode;
    }

    await readFiles();
    // The server starts once the files are read; /readyz answers 200 once every cluster source's first list is in.
    const running = reflectors.map((r) => r.run());
    // The text is the same until something changes, or a certificate's x509_cert_expired flips; with
    // --expose-relative-metrics, whose values move with the clock, it is new at every second.
    let text: { view: View; version: object; until: number } | undefined;
    const metrics = async () => {
      const v = await current();
      const now = Math.floor(io.clock().getTime() / 1000);
      if (text?.view !== v || now > text.until) text = { view: v, version: {}, until: args["expose-relative-metrics"] ? now : expiredUnchangedUntil(v.labelled, now) };
      return { version: text.version, chunks: () => expositionChunks(families(v)) };
    };
    const server = await io.exporterServer(args.listen, { metrics, ready: () => reflectors.every((r) => r.up) });
    // Read the files again after a change in their folders, and every --rescan-interval in any case
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
      void readFiles()
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
    io.stderr(
      `exporter: serving /metrics on ${server.address}: ${files.labelled.length} certificates and ${files.errors.length} errors in files, read again on change and every ${args["rescan-interval"]}` +
        (specs.length ? `; listing and watching ${specs.map((s) => s.name).join(", ")}` : "") +
        "\n",
    );
    return new Promise<number>((resolve) => {
      const stop = io.onStopSignal((signal) => {
        stop();
        clearInterval(interval);
        watcher.close();
        for (const r of reflectors) r.stop();
        api?.close();
        void Promise.all([server.close(), ...running]).then(() => {
          io.stderr(`exporter: stopping: ${signal}\n`);
          resolve(0);
        });
      });
    });
  },
});

/** What a scrape writes: every certificate labelled, every error, every source's state. */
interface View {
  readonly labelled: readonly LabelledCertificate[];
  readonly errors: readonly ExportError[];
  readonly sources: readonly SourceState[];
}

/** A watch is ended by the server after this, and opened again from its last resourceVersion (client-go: 5 to 10 minutes). */
const WATCH_TIMEOUT_SECONDS = 300;

/** Where an error is, for a person: the file, or the object and key. */
function placeOf(e: ExportError): string {
  const l = e.location;
  if (l.secret_name) return `Secret ${l.secret_namespace}/${l.secret_name} key ${l.secret_key}`;
  if (l.configmap_name) return `ConfigMap ${l.configmap_namespace}/${l.configmap_name} key ${l.configmap_key}`;
  if (l.csr_name) return `CertificateSigningRequest ${l.csr_name}`;
  return l.filepath || e.source;
}
