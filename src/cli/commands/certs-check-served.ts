import { configEndpoints, DEFAULTS } from "../../kubeadm/config.js";
import { usageError } from "../../errors.js";
import type { Thresholds } from "../../expiry/inventory.js";
import type { ServedEndpoint, ServedEndpointName, ServedRow } from "../../expiry/served.js";
import type { CliIo } from "../io.js";
import { defineCommand } from "../command.js";
import { CERT_DIR_OPTIONS, CONFIG_OPTIONS, configFromArgs, dirsFromArgs, integerFlag, optionalDurationFlag } from "../options.js";
import { OUTPUT_FORMATS, renderData } from "../output.js";

const NAMES: readonly ServedEndpointName[] = ["apiserver", "etcd-server", "etcd-peer", "controller-manager", "scheduler", "kubelet"];

/** `--endpoint NAME` or `--endpoint NAME=HOST:PORT` (`[v6]:PORT`). */
function parseEndpointFlag(text: string): { name: ServedEndpointName; host?: string; port?: number } {
  const eq = text.indexOf("=");
  const raw = eq < 0 ? text : text.slice(0, eq);
  const name = NAMES.find((n) => n === raw);
  if (name === undefined) throw usageError(`invalid --endpoint "${text}": the name must be one of ${NAMES.join(", ")}`);
  if (eq < 0) return { name };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.slice(eq + 1));
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw usageError(`invalid --endpoint "${text}": expected NAME=HOST:PORT, e.g. apiserver=10.0.0.5:6443`);
  return { name, host: m[1] ?? m[2]!, port };
}

/** `kpki certs check-served`: what the servers present, next to the files on disk. */
export const certsCheckServedCommand = defineCommand({
  command: "check-served",
  describe: "Compare the certificates the control plane's servers present over TLS with the files on disk (STALE: restart needed)",
  options: {
    ...CONFIG_OPTIONS,
    "cert-dir": { ...CERT_DIR_OPTIONS["cert-dir"], describe: "The path where certificates are stored [default: /etc/kubernetes/pki]" },
    dir: { ...CERT_DIR_OPTIONS.dir, describe: "Shorthand: certificates in DIR/pki" },
    "kubelet-dir": { type: "string", default: "/var/lib/kubelet/pki", describe: "Where the kubelet keeps kubelet-server-current.pem or kubelet.crt" },
    "apiserver-advertise-address": { type: "string", describe: "The API server's advertise address, where it and etcd's peer port listen [default: --config's, or this host's default address]" },
    "apiserver-bind-port": { type: "number", describe: "The API server's port [default: --config's, or 6443]" },
    endpoint: { type: "string", array: true, describe: "Check only this endpoint, NAME or NAME=HOST:PORT (repeatable): apiserver, etcd-server, etcd-peer, controller-manager, scheduler, kubelet" },
    output: { alias: "o", type: "string", default: "text", choices: OUTPUT_FORMATS, describe: "Output format" },
    "warn-within": { type: "string", describe: "Exit 1 (WARNING) if a served certificate expires within this duration, or is STALE" },
    "crit-within": { type: "string", describe: "Exit 2 (CRITICAL) if a served certificate expires within this duration, is expired, not yet valid or UNTRUSTED" },
  },
  examples: [
    ["$0 certs check-served", "On a control-plane node: every server's certificate against its file"],
    ["$0 certs check-served --config kubeadm.yaml", "The addresses and folder of kubeadm's config file"],
    ["$0 certs check-served --endpoint apiserver=10.0.0.5:6443 -o json", "One API server, as JSON"],
    ["$0 certs check-served --warn-within 30d --crit-within 7d", "For cron or Nagios: STALE is a WARNING, UNTRUSTED CRITICAL, unreachable UNKNOWN"],
  ],
  epilogue:
    "STATUS: match (the server presents the file's certificate, signed by the cluster's CA file), STALE (it presents another: restart it), " +
    "UNTRUSTED (no CA file of the cluster signed what it presents), self-signed (kube-controller-manager and kube-scheduler make their own " +
    "in memory: no file to compare), unreachable. " +
    "Exit codes: without --warn-within/--crit-within, 0 when every server presents its file's certificate (or its own), 1 otherwise, 2 usage error; " +
    "with them, the monitoring-plugin convention: 0 OK, 1 WARNING (STALE, or within --warn-within), 2 CRITICAL (UNTRUSTED, within --crit-within, " +
    "expired, not yet valid), 3 UNKNOWN (usage error, a server that cannot be reached).",
  run: async (args, io) => {
    const monitoring = args["warn-within"] !== undefined || args["crit-within"] !== undefined;
    const thresholds = { warnMs: optionalDurationFlag("warn-within", args["warn-within"], { min: 0 }), critMs: optionalDurationFlag("crit-within", args["crit-within"], { min: 0 }) };
    const fromConfig = configEndpoints(await configFromArgs(args, io));
    const bindPort = args["apiserver-bind-port"] !== undefined ? integerFlag("apiserver-bind-port", args["apiserver-bind-port"], 1) : (fromConfig.bindPort ?? DEFAULTS.bindPort);
    const asked = (args.endpoint ?? []).map(parseEndpointFlag);
    const { servedExitCode } = await import("../../expiry/served.js");
    const rows = await servedRows(io, {
      certDir: dirsFromArgs(args).certDir ?? fromConfig.certificatesDir ?? DEFAULTS.certificatesDir,
      kubeletDir: args["kubelet-dir"],
      advertise: args["apiserver-advertise-address"] ?? fromConfig.advertiseAddress,
      bindPort,
      asked,
      thresholds,
    });
    for (const r of rows) if (r.error) io.stderr(`${monitoring ? "UNKNOWN" : "warning"}: ${r.endpoint} (${r.address}): ${r.error}\n`);
    if (args.output === "text") io.stdout(servedTable(rows));
    else io.stdout(await renderData({ kind: "ServedCertificates", endpoints: rows.map(servedJson) }, args.output));
    return servedExitCode(rows, monitoring);
  },
});

/** Asks kubeadm's endpoints (or those asked for, at their addresses) what they present; `advertise` undefined: this host's default address. */
export async function servedRows(
  io: CliIo,
  o: { certDir: string; kubeletDir: string; advertise: string | undefined; bindPort: number; asked: readonly { name: ServedEndpointName; host?: string; port?: number }[]; thresholds: Thresholds },
): Promise<ServedRow[]> {
  const [{ checkServed, kubeadmEndpoints }, { decodePem }, { parseCertificateDer }] = await Promise.all([import("../../expiry/served.js"), import("../../pki/pem.js"), import("../../pki/cert.js")]);
  const all = kubeadmEndpoints({ certDir: o.certDir, kubeletDir: o.kubeletDir, advertise: o.advertise ?? io.host().defaultAddress ?? "127.0.0.1", bindPort: o.bindPort });
  const endpoints: ServedEndpoint[] = o.asked.length
    ? o.asked.map((a) => {
        const e = all.find((x) => x.name === a.name)!;
        return a.host !== undefined && a.port !== undefined ? { ...e, host: a.host, port: a.port } : e;
      })
    : all;
  return checkServed(
    endpoints,
    {
      peerChain: io.tlsPeerChain,
      readBytes: io.readBytes,
      certificatesIn: (bytes) => decodePem(new TextDecoder().decode(bytes)).filter((b) => b.label === "CERTIFICATE").map((b) => parseCertificateDer(b.der)),
      crypto: io.crypto,
    },
    io.clock(),
    o.thresholds,
  );
}

const iso = (d: Date | undefined): string => (d ? d.toISOString().replace(/\.\d+Z$/, "Z") : "-");

export function servedJson(r: ServedRow): unknown {
  return {
    endpoint: r.endpoint,
    address: r.address,
    status: r.status,
    ...(r.served ? { served: { ...r.served, notAfter: iso(r.served.notAfter) } } : {}),
    ...(r.file ? { file: { ...r.file, ...(r.file.notAfter ? { notAfter: iso(r.file.notAfter) } : {}) } } : {}),
    ...(r.error ? { error: r.error } : {}),
  };
}

/** One line per endpoint, columns padded. */
export function servedTable(rows: readonly ServedRow[]): string {
  const lines = [["ENDPOINT", "ADDRESS", "SERVED EXPIRES", "SERVED SERIAL", "FILE", "FILE SERIAL", "STATUS"]];
  for (const r of rows) {
    const status = r.status === "STALE" ? "STALE (restart needed)" : r.status;
    lines.push([r.endpoint, r.address, iso(r.served?.notAfter), r.served?.serial ?? "-", r.file?.path ?? "-", r.file?.serial ?? (r.file?.error ? "unreadable" : "-"), status]);
  }
  const widths = lines[0]!.map((_v, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return `${lines.map((l) => l.map((c, i) => (i === l.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n")}\n`;
}
