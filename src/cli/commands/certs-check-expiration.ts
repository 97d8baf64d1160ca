import type { CommandModule } from "yargs";
import { invalidInput } from "../../errors.js";
import { CAS, KUBECONFIGS, LEAVES } from "../../kubeadm/catalogue.js";
import { DEFAULTS, parseKubeadmConfig } from "../../kubeadm/config.js";
import { joinPath } from "../../kubeadm/store.js";
import type { FoundRow, RowStatus } from "../../expiry/inventory.js";
import type { KubeadmLayout } from "../../expiry/kubeadm-inventory.js";
import type { ExpirationEntry } from "../../expiry/kubeadm-report.js";
import { parseDuration } from "../../pki/duration.js";
import type { CliIo } from "../io.js";
import { dirsFromArgs } from "../options.js";
import { OUTPUT_FORMATS, type OutputFormat } from "../output.js";

interface Args {
  readonly "cert-dir"?: string | undefined;
  readonly "kubeconfig-dir"?: string | undefined;
  readonly dir?: string | undefined;
  readonly config?: string | undefined;
  readonly output: OutputFormat;
  readonly "warn-within"?: string | undefined;
  readonly "crit-within"?: string | undefined;
  readonly kubeconfig?: string[] | undefined;
  readonly "env-kubeconfig": boolean;
  readonly kubelet: boolean;
  readonly "kubelet-dir": string;
  readonly scan?: string[] | undefined;
  readonly verify: boolean;
  readonly kubeadm: boolean;
}

/** Exit codes of check-expiration (README): kubeadm's 0/1 unless thresholds are given. */
export const CHECK_EXIT = { ok: 0, warning: 1, critical: 2, error: 1 } as const;

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

/** `kpki certs check-expiration`: kubeadm's report, byte for byte, and opt-in checks beyond it. */
export const certsCheckExpirationCommand = (io: CliIo, setExitCode: (code: number) => void): CommandModule<object, Args> => ({
  command: "check-expiration",
  describe: "Check certificate expiration for a kubeadm cluster (kubeadm's report, byte for byte), and more",
  builder: (y) =>
    y
      .option("cert-dir", { type: "string", describe: "The path where certificates are stored [default: /etc/kubernetes/pki]" })
      .option("kubeconfig-dir", { type: "string", describe: "The path where kubeconfig files are stored [default: /etc/kubernetes]" })
      .option("dir", { type: "string", describe: "Shorthand: kubeconfigs in DIR and certificates in DIR/pki" })
      .option("config", { type: "string", describe: "A kubeadm configuration file (certificatesDir, etcd.external)" })
      .option("output", { alias: "o", type: "string", default: "text", choices: [...OUTPUT_FORMATS], describe: "Output format" })
      .option("warn-within", { type: "string", describe: "Exit 1 if a certificate expires within this duration (e.g. 30d, 720h)" })
      .option("crit-within", { type: "string", describe: "Exit 2 if a certificate expires within this duration, or is expired or invalid" })
      .option("kubeconfig", { type: "string", array: true, describe: "Also report every user and cluster certificate of this kubeconfig (repeatable)" })
      .option("env-kubeconfig", { type: "boolean", default: false, describe: "Also report every kubeconfig named in $KUBECONFIG (colon-separated)" })
      .option("kubelet", { type: "boolean", default: false, describe: "Also report kubelet.conf and the kubelet's own certificates" })
      .option("kubelet-dir", { type: "string", default: "/var/lib/kubelet/pki", describe: "Where the kubelet keeps kubelet-client-current.pem and kubelet.crt" })
      .option("scan", { type: "string", array: true, describe: "Also report every certificate under a file, directory or glob (repeatable)" })
      .option("verify", { type: "boolean", default: false, describe: "Also list kubeadm's own files in the detailed table, with chain and key checks" })
      .option("kubeadm", { type: "boolean", default: true, describe: "Print kubeadm's tables (--no-kubeadm for only the detailed table)" })
      .example("$0 certs check-expiration", "kubeadm's table for /etc/kubernetes")
      .example("$0 certs check-expiration --dir ./dev-cluster -o json", "The CertificateExpirationInfo object as JSON")
      .example("$0 certs check-expiration --kubelet --verify --warn-within 30d --crit-within 7d", "Everything on a control-plane node, for cron: exit 1 within 30 days, 2 within 7")
      .example("$0 certs check-expiration --no-kubeadm --scan './certs/**/*.pem'", "Any tree: one row per certificate, with its chain and key")
      .epilogue(
        "The detailed table (--kubeconfig, --env-kubeconfig, --kubelet, --scan, --verify) shows SUBJECT, ISSUER, CHAIN (ok, self-signed, " +
          "unknown issuer, bad signature), KEY (match, MISMATCH, unreadable, - when none beside it) and STATUS. " +
          "Exit codes: without --warn-within/--crit-within, kubeadm's: 0, or 1 when something is expired, invalid or unreadable. " +
          "With them: 0 ok, 1 warning, 2 critical, expired, not yet valid, invalid or unreadable. A usage error is also 2.",
      ) as never,
  handler: async (args) => {
    // The report's modules load with the command, not with every kpki start.
    const [{ extendedObjects, FAILING, renderExtendedText }, { checkRows, kubeletRows, rowsFromFile, rowsFromKubeconfig }, { kubeadmExpiration }, { goJson, kubeadmObject, renderKubeadmText, toGoYaml }] =
      await Promise.all([
        import("../../expiry/extended-report.js"),
        import("../../expiry/inventory.js"),
        import("../../expiry/kubeadm-inventory.js"),
        import("../../expiry/kubeadm-report.js"),
      ]);
    const threshold = (flag: "warn-within" | "crit-within"): number | undefined => {
      const text = args[flag];
      if (text === undefined) return undefined;
      const ms = parseDuration(text, { extendedUnits: true });
      if (ms === undefined || ms < 0) throw invalidInput(`invalid --${flag} "${text}": expected a duration such as 30d or 720h`);
      return ms;
    };
    const thresholds = { warnMs: threshold("warn-within"), critMs: threshold("crit-within") };
    const dirs = dirsFromArgs(args);
    let configCertDir: string | undefined;
    let externalEtcd = false;
    if (args.config !== undefined) {
      const text = await io.readText(args.config);
      if (text === undefined) throw invalidInput(`unable to read config from "${args.config}": no such file`);
      const { cluster } = await parseKubeadmConfig(text, args.config);
      const dir = cluster?.["certificatesDir"];
      if (typeof dir === "string") configCertDir = dir;
      const etcd = cluster?.["etcd"];
      externalEtcd = typeof etcd === "object" && etcd !== null && (etcd as { external?: unknown }).external != null;
    }
    const layout: KubeadmLayout = {
      certificatesDir: dirs.certDir ?? configCertDir ?? DEFAULTS.certificatesDir,
      kubeconfigDir: dirs.kubeconfigDir ?? DEFAULTS.kubernetesDir,
      externalEtcd,
    };
    const now = io.now();
    const { info } = await kubeadmExpiration(layout, { read: io.readText }, now);

    // Beyond kubeadm: every source the flags name, then the checks across all of them.
    const reader = { readBytes: io.readBytes, mayExist: io.existenceCache() };
    const found: FoundRow[] = [];
    if (args.verify) {
      for (const e of [...CAS, ...LEAVES]) {
        if (e.localEtcdOnly && layout.externalEtcd) continue;
        found.push(...(await rowsFromFile(joinPath(layout.certificatesDir, `${e.baseName}.crt`), reader, true)));
      }
      for (const k of KUBECONFIGS) if (k.managedByKubeadm) found.push(...(await rowsFromKubeconfig(joinPath(layout.kubeconfigDir, k.fileName), reader)));
    }
    if (args.kubelet) found.push(...(await kubeletRows(layout.kubeconfigDir, args["kubelet-dir"], reader)));
    const kubeconfigs = [...(args.kubeconfig ?? [])];
    if (args["env-kubeconfig"]) kubeconfigs.push(...(io.env["KUBECONFIG"] ?? "").split(":").filter((p) => p !== ""));
    for (const k of kubeconfigs) found.push(...(await rowsFromKubeconfig(k, reader)));
    const entries = await io.scan(args.scan ?? []);
    // Progress for long scans, on a terminal only (stderr, so pipes of stdout stay clean).
    const progress = io.isTty && entries.length >= 2000;
    for (const [i, entry] of entries.entries()) {
      if ("error" in entry) found.push({ name: entry.path, path: entry.path, error: entry.error });
      else found.push(...(await rowsFromFile(entry.path, reader, entry.explicit)));
      if (progress && i % 500 === 0) io.stderr(`\r[scan] ${i} of ${entries.length} files read`);
    }
    if (progress) io.stderr(`\r[scan] ${entries.length} files read; checking chains and keys\x1b[K`);
    const extended = args.verify || args.kubelet || kubeconfigs.length > 0 || (args.scan ?? []).length > 0;
    // The same certificate named twice (say by --verify and --scan) is listed once, where it first appeared.
    const seen = new Set<string>();
    const unique = found.filter((r) => {
      const key = `${r.name}\u0000${r.path}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    const rows = await checkRows(unique, now, thresholds, io.crypto);
    if (progress) io.stderr("\r\x1b[K");

    // Output.
    const kubeadmEntries = [...info.certificates, ...info.certificateAuthorities];
    const entryStatus = (e: ExpirationEntry): RowStatus | undefined => {
      if (e.error) return "INVALID";
      if (!e.expirationDate) return undefined;
      if (e.residualTime < 0) return "EXPIRED";
      if (thresholds.critMs !== undefined && e.residualTime * 1000 <= thresholds.critMs) return "CRITICAL";
      if (thresholds.warnMs !== undefined && e.residualTime * 1000 <= thresholds.warnMs) return "WARNING";
      return "OK";
    };
    if (args.kubeadm) for (const e of kubeadmEntries) if (e.error) io.stderr(`error: ${e.name}: ${e.error}\n`);
    for (const r of rows) if (r.status === "INVALID" && r.error) io.stderr(`error: ${r.name}: ${r.error}\n`);
    if (args.output === "text") {
      const colour = io.isTty && io.env["NO_COLOR"] === undefined;
      const parts: string[] = [];
      if (args.kubeadm) {
        const text = renderKubeadmText(info);
        parts.push(
          colour
            ? colourLines(text, (line) => {
                const e = kubeadmEntries.find((x) => line.startsWith(`${x.name} `) || line.endsWith(` ${x.name}`) || line.includes(`! ${x.name} `));
                return e ? entryStatus(e) : undefined;
              })
            : text,
        );
      }
      if (extended) {
        const text = renderExtendedText(rows);
        parts.push(colour ? colourLines(text, (_line, i) => (i > 0 ? rows[i - 1]?.status : undefined)) : text);
      }
      io.stdout(parts.join("\n"));
    } else {
      const extra = extended ? { additionalCertificates: extendedObjects(rows) } : {};
      const obj = args.kubeadm ? kubeadmObject(info, extra) : { kind: "CertificateExpirationInfo", apiVersion: "output.kubeadm.k8s.io/v1alpha3", ...extra };
      io.stdout(args.output === "json" ? goJson(obj) : toGoYaml(obj));
    }

    // Exit code.
    const statuses: RowStatus[] = [
      ...(args.kubeadm ? kubeadmEntries.map(entryStatus).filter((s): s is RowStatus => s !== undefined) : []),
      ...rows.map((r) => r.status),
    ];
    if (thresholds.warnMs === undefined && thresholds.critMs === undefined) {
      setExitCode(statuses.some((s) => FAILING.has(s)) ? CHECK_EXIT.error : CHECK_EXIT.ok);
      return;
    }
    setExitCode(statuses.some((s) => FAILING.has(s)) ? CHECK_EXIT.critical : statuses.includes("WARNING") ? CHECK_EXIT.warning : CHECK_EXIT.ok);
  },
});
