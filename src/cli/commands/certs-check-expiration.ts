import { DEFAULTS, type KubeadmConfigDocuments } from "../../kubeadm/config.js";
import type { RowStatus } from "../../expiry/inventory.js";
import type { ExpirationEntry } from "../../expiry/kubeadm-report.js";
import { defineCommand } from "../command.js";
import { CERT_DIR_OPTIONS, CONFIG_OPTIONS, configFromArgs, dirsFromArgs, KUBECONFIG_DIR_OPTIONS, optionalDurationFlag } from "../options.js";
import { OUTPUT_FORMATS } from "../output.js";

/** The monitoring plugins' UNKNOWN: with --warn-within/--crit-within, every failure to check exits with it. */
export const UNKNOWN_EXIT = 3;

const THRESHOLD_FLAGS = ["--warn-within", "--crit-within"];

/** Whether the command line is `certs check-expiration` or `certs check-served` with a threshold, or `exporter --once` (the monitoring convention then applies). */
export function usesThresholds(args: readonly string[]): boolean {
  if (args[0] === "exporter") return args.some((a) => a === "--once" || a === "--once=true");
  return args[0] === "certs" && (args[1] === "check-expiration" || args[1] === "check-served") && args.some((a) => THRESHOLD_FLAGS.includes(a.split("=")[0] ?? a));
}

const COLOURS: Partial<Record<RowStatus, string>> = {
  WARNING: "\x1b[33m",
  CRITICAL: "\x1b[31m",
  EXPIRED: "\x1b[31m",
  "NOT YET VALID": "\x1b[31m",
  INVALID: "\x1b[31m",
};

/** Colours whole lines after layout, so the alignment stays kubeadm's. */
function colourLines(text: string, statusOfLine: (line: string, index: number) => RowStatus | undefined): string {
  return text
    .split("\n")
    .map((line, i) => {
      const status = statusOfLine(line, i);
      const colour = status ? COLOURS[status] : undefined;
      return colour && line ? `${colour}${line}\x1b[0m` : line;
    })
    .join("\n");
}

/** certificatesDir and whether etcd is external, from a kubeadm config's ClusterConfiguration. */
function layoutFromConfig(docs: KubeadmConfigDocuments | undefined): { certificatesDir?: string; externalEtcd: boolean } {
  const cluster = docs?.cluster;
  const dir = cluster?.["certificatesDir"];
  const etcd = cluster?.["etcd"];
  const externalEtcd = typeof etcd === "object" && etcd !== null && "external" in etcd && etcd.external != null;
  return typeof dir === "string" ? { certificatesDir: dir, externalEtcd } : { externalEtcd };
}

/** `kpki certs check-expiration`: kubeadm's report, byte for byte, and opt-in checks beyond it. */
export const certsCheckExpirationCommand = defineCommand({
  command: "check-expiration",
  describe: "Check certificate expiration for a kubeadm cluster (kubeadm's report, byte for byte), and more",
  options: {
    ...CONFIG_OPTIONS,
    "cert-dir": { ...CERT_DIR_OPTIONS["cert-dir"], describe: "The path where certificates are stored [default: /etc/kubernetes/pki]" },
    "kubeconfig-dir": { ...KUBECONFIG_DIR_OPTIONS["kubeconfig-dir"], describe: "The path where kubeconfig files are stored [default: /etc/kubernetes]" },
    dir: { ...CERT_DIR_OPTIONS.dir, describe: "Shorthand: kubeconfigs in DIR and certificates in DIR/pki" },
    output: { alias: "o", type: "string", default: "text", choices: OUTPUT_FORMATS, describe: "Output format" },
    "warn-within": { type: "string", describe: "Exit 1 (WARNING) if a certificate expires within this duration (e.g. 30d, 720h)" },
    "crit-within": { type: "string", describe: "Exit 2 (CRITICAL) if a certificate expires within this duration, or is expired or invalid" },
    kubeconfig: { type: "string", array: true, describe: "Also report every user and cluster certificate of this kubeconfig (repeatable)" },
    "env-kubeconfig": { type: "boolean", default: false, describe: "Also report every kubeconfig named in $KUBECONFIG (colon-separated)" },
    kubelet: { type: "boolean", default: false, describe: "Also report kubelet.conf and the kubelet's own certificates (client, and serving: kubelet-server-current.pem or kubelet.crt)" },
    "kubelet-dir": { type: "string", default: "/var/lib/kubelet/pki", describe: "Where the kubelet keeps kubelet-client-current.pem, kubelet-server-current.pem and kubelet.crt" },
    scan: { type: "string", array: true, describe: "Also report every certificate under a file, directory or glob (repeatable)" },
    verify: { type: "boolean", default: false, describe: "Check every signature of the detailed table, and also list kubeadm's own files in it" },
    kubeadm: { type: "boolean", default: true, describe: "Print kubeadm's tables (--no-kubeadm for only the detailed table)" },
    served: { type: "boolean", default: false, describe: "Also ask each control-plane server what it presents over TLS, as certs check-served does (STALE: restart needed)" },
  },
  examples: [
    ["$0 certs check-expiration", "kubeadm's table for /etc/kubernetes"],
    ["$0 certs check-expiration --dir ./dev-cluster -o json", "The CertificateExpirationInfo object as JSON"],
    ["$0 certs check-expiration --kubelet --verify --warn-within 30d --crit-within 7d", "Everything on a control-plane node, for cron or Nagios: exit 1 within 30 days, 2 within 7"],
    ["$0 certs check-expiration --no-kubeadm --scan './certs/**/*.pem'", "Any tree: one row per certificate, with its chain and key"],
    ["$0 certs check-expiration --served", "kubeadm's table, then what each server presents against its file"],
  ],
  epilogue:
    "The detailed table (--kubeconfig, --env-kubeconfig, --kubelet, --scan, --verify) shows SUBJECT, ISSUER, CHAIN, KEY (match, MISMATCH, " +
    "unreadable, - when none beside it) and STATUS. Without --verify, CHAIN is found by names alone, no signature is checked: linked (a " +
    "certificate read has the issuer's name and, where both carry one, the matching key identifier), self-issued (issuer and subject names " +
    "are the same), unknown issuer. With --verify every signature is checked: ok, self-signed, bad signature (INVALID), unknown issuer. " +
    "Exit codes: without --warn-within/--crit-within, kubeadm's: 0 (also when a certificate is expired or missing), " +
    "1 when a file cannot be read or holds no valid certificate, 2 usage error; " +
    "with them, the monitoring-plugin convention (Nagios, Icinga, Sensu): 0 OK, 1 WARNING, 2 CRITICAL (within --crit-within, " +
    "expired, not yet valid, invalid), 3 UNKNOWN (usage error, a folder that does not exist, nothing found, a file that cannot be read). " +
    "With --served, the worse of that and certs check-served's code.",
  run: async (args, io) => {
    const monitoring = args["warn-within"] !== undefined || args["crit-within"] !== undefined;
    const thresholds = {
      warnMs: optionalDurationFlag("warn-within", args["warn-within"], { min: 0 }),
      critMs: optionalDurationFlag("crit-within", args["crit-within"], { min: 0 }),
    };
    // The report's modules load with the command, not with every kpki start.
    const [{ checkExpiration }, { extendedObjects, writeExtendedJson, writeExtendedText }, { goJson, kubeadmObject, renderKubeadmText, toGoYaml }] = await Promise.all([
      import("../../expiry/check.js"),
      import("../../expiry/extended-report.js"),
      import("../../expiry/kubeadm-report.js"),
    ]);
    const dirs = dirsFromArgs(args);
    const docs = await configFromArgs(args, io);
    const fromConfig = layoutFromConfig(docs);
    const kubeconfigs = [...(args.kubeconfig ?? [])];
    if (args["env-kubeconfig"]) kubeconfigs.push(...(io.env["KUBECONFIG"] ?? "").split(":").filter((p) => p !== ""));
    const scanned = await io.scan(args.scan ?? []);
    // Progress for long scans, on a terminal only (stderr, so pipes of stdout stay clean).
    const progress = io.isTty && scanned.length >= 2000;
    const check = await checkExpiration(
      {
        layout: {
          certificatesDir: dirs.certDir ?? fromConfig.certificatesDir ?? DEFAULTS.certificatesDir,
          kubeconfigDir: dirs.kubeconfigDir ?? DEFAULTS.kubernetesDir,
          externalEtcd: fromConfig.externalEtcd,
        },
        thresholds,
        kubeadm: args.kubeadm,
        verify: args.verify,
        kubeletDir: args.kubelet ? args["kubelet-dir"] : undefined,
        kubeconfigs,
        scanned,
      },
      {
        read: io.readText,
        readBytes: io.readBytes,
        mayExist: io.existenceCache(),
        crypto: io.crypto,
        verifySignature: io.verifySignature,
        now: io.now(),
        ...(progress ? { progress: (done: number, total: number) => io.stderr(`\r[scan] ${done} of ${total} files read`) } : {}),
      },
    );
    if (progress) io.stderr("\r\x1b[K");

    // --served: the servers at kubeadm's addresses (--config's, or this host's), after the files.
    const served = args.served
      ? await (async () => {
          const [{ servedRows }, { configEndpoints }] = await Promise.all([import("./certs-check-served.js"), import("../../kubeadm/config.js")]);
          const c = configEndpoints(docs);
          return servedRows(io, {
            certDir: dirs.certDir ?? fromConfig.certificatesDir ?? DEFAULTS.certificatesDir,
            kubeletDir: args["kubelet-dir"],
            advertise: c.advertiseAddress,
            bindPort: c.bindPort ?? DEFAULTS.bindPort,
            asked: [],
            thresholds,
          });
        })()
      : undefined;

    // Output: kubeadm's stdout unchanged; what is wrong goes to stderr, one line each.
    const { info, rows } = check;
    const kubeadmEntries = [...info.certificates, ...info.certificateAuthorities];
    for (const p of check.problems) io.stderr(`${monitoring ? "UNKNOWN" : "warning"}: ${p}\n`);
    if (args.kubeadm) for (const e of kubeadmEntries) if (e.error) io.stderr(`error: ${e.name}: ${e.error}\n`);
    // Only the INVALID rows are made here (statusAt reads the status alone; a scan can have 100,000 rows).
    for (let i = 0; i < rows.length; i++) {
      if (rows.statusAt(i) !== "INVALID") continue;
      const r = rows.row(i);
      if (r.error) io.stderr(`error: ${r.name}: ${r.error}\n`);
    }
    // The detailed table and JSON are written in chunks as they are made (a scan can have 100,000 rows).
    if (args.output === "text") {
      const colour = io.isTty && io.env["NO_COLOR"] === undefined;
      if (args.kubeadm) {
        const text = renderKubeadmText(info);
        io.stdout(
          colour
            ? colourLines(text, (line) => {
                const e: ExpirationEntry | undefined = kubeadmEntries.find((x) => line.startsWith(`${x.name} `) || line.endsWith(` ${x.name}`) || line.includes(`! ${x.name} `));
                return e ? check.statusOf(e) : undefined;
              })
            : text,
        );
      }
      if (check.extended) {
        if (args.kubeadm) io.stdout("\n");
        writeExtendedText(rows, io.stdout, colour ? (status) => COLOURS[status] : undefined);
      }
      if (served) {
        const { servedTable } = await import("./certs-check-served.js");
        if (args.kubeadm || check.extended) io.stdout("\n");
        io.stdout(servedTable(served));
      }
    } else if (args.output === "json") {
      const servedField = served ? { servedCertificates: served.map((await import("./certs-check-served.js")).servedJson) } : {};
      const head = { ...(args.kubeadm ? kubeadmObject(info) : { kind: "CertificateExpirationInfo", apiVersion: "output.kubeadm.k8s.io/v1alpha3" }), ...servedField };
      if (check.extended) writeExtendedJson(head, rows, io.stdout);
      else io.stdout(goJson(head));
    } else {
      const extra = { ...(served ? { servedCertificates: served.map((await import("./certs-check-served.js")).servedJson) } : {}), ...(check.extended ? { additionalCertificates: extendedObjects([...rows]) } : {}) };
      const obj = args.kubeadm ? kubeadmObject(info, extra) : { kind: "CertificateExpirationInfo", apiVersion: "output.kubeadm.k8s.io/v1alpha3", ...extra };
      io.stdout(toGoYaml(obj));
    }
    if (!served) return monitoring ? check.monitoringExit : check.kubeadmExit;
    const { servedExitCode } = await import("../../expiry/served.js");
    for (const r of served) if (r.error) io.stderr(`${monitoring ? "UNKNOWN" : "warning"}: ${r.endpoint} (${r.address}): ${r.error}\n`);
    // The worse of the two: the files' and the servers'.
    return Math.max(monitoring ? check.monitoringExit : check.kubeadmExit, servedExitCode(served, monitoring));
  },
});
