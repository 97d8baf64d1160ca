import type { CommandModule } from "yargs";
import { invalidInput } from "../../errors.js";
import { DEFAULTS, parseKubeadmConfig } from "../../kubeadm/config.js";
import { kubeadmExpiration } from "../../expiry/kubeadm-inventory.js";
import { renderKubeadmJson, renderKubeadmText, renderKubeadmYaml } from "../../expiry/kubeadm-report.js";
import { parseDuration } from "../../pki/duration.js";
import type { CliIo } from "../io.js";
import { OUTPUT_FORMATS, type OutputFormat } from "../output.js";

interface Args {
  readonly "cert-dir"?: string | undefined;
  readonly "kubeconfig-dir"?: string | undefined;
  readonly dir?: string | undefined;
  readonly config?: string | undefined;
  readonly output: OutputFormat;
  readonly "warn-within"?: string | undefined;
  readonly "crit-within"?: string | undefined;
}

/** Exit codes of check-expiration (README): kubeadm's 0/1 unless thresholds are given. */
export const CHECK_EXIT = { ok: 0, warning: 1, critical: 2, error: 1 } as const;

/** `kpki certs check-expiration`: kubeadm's report, byte for byte, with optional thresholds. */
export const certsCheckExpirationCommand = (io: CliIo, setExitCode: (code: number) => void): CommandModule<object, Args> => ({
  command: "check-expiration",
  describe: "Check certificate expiration for a kubeadm cluster (kubeadm's report, byte for byte)",
  builder: (y) =>
    y
      .option("cert-dir", { type: "string", describe: "The path where certificates are stored [default: /etc/kubernetes/pki]" })
      .option("kubeconfig-dir", { type: "string", describe: "The path where kubeconfig files are stored [default: /etc/kubernetes]" })
      .option("dir", { type: "string", describe: "Shorthand: kubeconfigs in DIR and certificates in DIR/pki" })
      .option("config", { type: "string", describe: "A kubeadm configuration file (certificatesDir, etcd.external)" })
      .option("output", { alias: "o", type: "string", default: "text", choices: [...OUTPUT_FORMATS], describe: "Output format" })
      .option("warn-within", { type: "string", describe: "Exit 1 if a certificate expires within this duration (e.g. 30d, 720h)" })
      .option("crit-within", { type: "string", describe: "Exit 2 if a certificate expires within this duration, or is expired or unreadable" })
      .example("$0 certs check-expiration", "kubeadm's table for /etc/kubernetes")
      .example("$0 certs check-expiration --dir ./dev-cluster -o json", "The CertificateExpirationInfo object as JSON")
      .example("$0 certs check-expiration --warn-within 30d --crit-within 7d", "For cron or CI: exit 1 within 30 days, 2 within 7")
      .epilogue(
        "Exit codes: without --warn-within/--crit-within, kubeadm's: 0, or 1 when a file could not be read. " +
          "With them: 0 ok, 1 warning, 2 critical, expired or unreadable. 2 is also a usage error.",
      ) as never,
  handler: async (args) => {
    const threshold = (flag: "warn-within" | "crit-within"): number | undefined => {
      const text = args[flag];
      if (text === undefined) return undefined;
      const ms = parseDuration(text, { extendedUnits: true });
      if (ms === undefined || ms < 0) throw invalidInput(`invalid --${flag} "${text}": expected a duration such as 30d or 720h`);
      return ms;
    };
    const warnMs = threshold("warn-within");
    const critMs = threshold("crit-within");
    if (args.dir !== undefined && (args["cert-dir"] !== undefined || args["kubeconfig-dir"] !== undefined)) {
      throw invalidInput("--dir is a shorthand for --cert-dir and --kubeconfig-dir; give either --dir or those two");
    }
    let certificatesDir: string | undefined;
    let externalEtcd = false;
    if (args.config !== undefined) {
      const text = await io.readText(args.config);
      if (text === undefined) throw invalidInput(`unable to read config from "${args.config}": no such file`);
      const { cluster } = await parseKubeadmConfig(text, args.config);
      const dir = cluster?.["certificatesDir"];
      if (typeof dir === "string") certificatesDir = dir;
      const etcd = cluster?.["etcd"];
      externalEtcd = typeof etcd === "object" && etcd !== null && "external" in etcd && (etcd as { external?: unknown }).external != null;
    }
    const dir = args.dir?.replace(/\/+$/, "");
    const layout = {
      certificatesDir: args["cert-dir"] ?? (dir !== undefined ? `${dir}/pki` : undefined) ?? certificatesDir ?? DEFAULTS.certificatesDir,
      kubeconfigDir: args["kubeconfig-dir"] ?? dir ?? DEFAULTS.kubernetesDir,
      externalEtcd,
    };
    const now = io.now();
    const { info } = await kubeadmExpiration(layout, { read: io.readText }, now);
    const all = [...info.certificates, ...info.certificateAuthorities];
    for (const e of all) if (e.error) io.stderr(`error: ${e.name}: ${e.error}\n`);
    io.stdout(args.output === "json" ? renderKubeadmJson(info) : args.output === "yaml" ? renderKubeadmYaml(info) : renderKubeadmText(info));

    const broken = all.some((e) => e.error !== undefined);
    if (warnMs === undefined && critMs === undefined) {
      setExitCode(broken ? CHECK_EXIT.error : CHECK_EXIT.ok);
      return;
    }
    const within = (ms: number | undefined) => (e: (typeof all)[number]) =>
      ms !== undefined && e.expirationDate !== undefined && e.residualTime * 1000 <= ms;
    const critical = broken || all.some((e) => e.expirationDate !== undefined && e.residualTime < 0) || all.some(within(critMs));
    setExitCode(critical ? CHECK_EXIT.critical : all.some(within(warnMs)) ? CHECK_EXIT.warning : CHECK_EXIT.ok);
  },
});
