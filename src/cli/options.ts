import { invalidInput, usageError } from "../errors.js";
import { parseKubeadmConfig, resolveClusterConfig, type ClusterConfig, type ConfigFlags, type KubeadmConfigDocuments } from "../kubeadm/config.js";
import { DURATION_EXAMPLE, parseDuration } from "../pki/duration.js";
import type { CliIo } from "./io.js";

/*
 * The flags commands share, in groups, with kubeadm's names and texts (`kubeadm init --help`).
 * A command declares only the groups it honours, so its --help lists nothing it ignores.
 */

/** --config and --allow-unknown-fields: a kubeadm configuration file. */
export const CONFIG_OPTIONS = {
  config: { type: "string", describe: "Path to a kubeadm configuration file (InitConfiguration/ClusterConfiguration, v1beta4 or v1beta3)" },
  "allow-unknown-fields": { type: "boolean", default: false, describe: "Warn about unknown or misplaced fields in --config instead of refusing the file (kubeadm only warns)" },
} as const;

/** Where the certificates are: --cert-dir, or --dir's DIR/pki. */
export const CERT_DIR_OPTIONS = {
  "cert-dir": { type: "string", describe: "The path where to save and store the certificates [default: /etc/kubernetes/pki]" },
  dir: { type: "string", describe: "Shorthand: kubeconfigs in DIR and certificates in DIR/pki (a dev-cluster layout)" },
} as const;

/** --kubeconfig-dir (with CERT_DIR_OPTIONS' --dir). */
export const KUBECONFIG_DIR_OPTIONS = {
  "kubeconfig-dir": { type: "string", describe: "The path where to save the kubeconfig files [default: /etc/kubernetes]" },
} as const;

/** What the API server's URL is built from (kubeconfig `server:`). */
export const ENDPOINT_OPTIONS = {
  "apiserver-advertise-address": { type: "string", describe: "The IP address the API Server will advertise it's listening on [default: this machine's default-route address]" },
  "apiserver-bind-port": { type: "number", describe: "Port for the API Server to bind to [default: 6443]" },
  "control-plane-endpoint": { type: "string", describe: "A stable IP address or DNS name for the control plane, optionally with :port" },
} as const;

/** What the serving certificates' SANs and the node certificates' names are built from. */
export const SAN_OPTIONS = {
  "apiserver-cert-extra-sans": { type: "string", describe: "Optional extra Subject Alternative Names (IPs or DNS names) for the API Server serving certificate, comma-separated" },
  "service-cidr": { type: "string", describe: "Range of IP addresses for service VIPs [default: 10.96.0.0/12]" },
  "service-dns-domain": { type: "string", describe: 'Alternative domain for services [default: "cluster.local"]' },
  "node-name": { type: "string", describe: "The node name [default: this machine's hostname, lower-cased]" },
} as const;

/** The key type of new keys. */
export const KEY_OPTIONS = {
  "encryption-algorithm": { type: "string", describe: "Key type: RSA-2048 (default), RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384 (kubeadm: ClusterConfiguration.encryptionAlgorithm)" },
} as const;

/** The validity of new certificates. */
export const VALIDITY_OPTIONS = {
  "certificate-validity-period": { type: "string", describe: `Leaf validity, e.g. 8760h or 365d (kubeadm: certificateValidityPeriod) [default: 8760h]` },
  "ca-certificate-validity-period": { type: "string", describe: `CA validity, e.g. 87600h or 10y (kubeadm: caCertificateValidityPeriod) [default: 87600h]` },
} as const;

export const DRY_RUN_OPTION = {
  "dry-run": { type: "boolean", default: false, describe: "Don't apply any changes; just output what would be done" },
} as const;

/** Every flag `init`, its phases and `certs generate-csr` take. */
export const CLUSTER_OPTIONS = {
  ...CONFIG_OPTIONS,
  ...CERT_DIR_OPTIONS,
  ...KUBECONFIG_DIR_OPTIONS,
  ...ENDPOINT_OPTIONS,
  ...SAN_OPTIONS,
  ...KEY_OPTIONS,
  ...VALIDITY_OPTIONS,
  ...DRY_RUN_OPTION,
} as const;

/** The parsed values of any subset of CLUSTER_OPTIONS (a flag a command does not declare is absent). */
export interface ClusterArgs {
  readonly config?: string | undefined;
  readonly "allow-unknown-fields"?: boolean | undefined;
  readonly dir?: string | undefined;
  readonly "cert-dir"?: string | undefined;
  readonly "kubeconfig-dir"?: string | undefined;
  readonly "apiserver-advertise-address"?: string | undefined;
  readonly "apiserver-bind-port"?: number | undefined;
  readonly "control-plane-endpoint"?: string | undefined;
  readonly "apiserver-cert-extra-sans"?: string | undefined;
  readonly "service-cidr"?: string | undefined;
  readonly "service-dns-domain"?: string | undefined;
  readonly "node-name"?: string | undefined;
  readonly "encryption-algorithm"?: string | undefined;
  readonly "certificate-validity-period"?: string | undefined;
  readonly "ca-certificate-validity-period"?: string | undefined;
}

/** Flags that may not be combined with --config, as kubeadm refuses ("can not mix '--config' with arguments"). */
const CONFIG_EXCLUSIVE = [
  "apiserver-advertise-address",
  "apiserver-bind-port",
  "control-plane-endpoint",
  "apiserver-cert-extra-sans",
  "service-cidr",
  "service-dns-domain",
  "encryption-algorithm",
  "certificate-validity-period",
  "ca-certificate-validity-period",
] as const;

/**
 * A duration flag's value in milliseconds: Go's grammar (`720h`, `1h30m`) plus `d` (24h) and `y`
 * (365 days), the one grammar every kpki duration flag takes. A value of another form is a usage
 * error with one text; `min` is the smallest value accepted (0 or 1 ms).
 */
export function durationFlag(flag: string, text: string, { min = 1 }: { min?: 0 | 1 } = {}): number {
  const ms = parseDuration(text, { extendedUnits: true });
  if (ms === undefined || ms < min) {
    throw usageError(`invalid --${flag} "${text}": expected a ${min === 0 ? "" : "positive "}duration such as ${DURATION_EXAMPLE}`);
  }
  return ms;
}

/** durationFlag for an optional flag. */
export const optionalDurationFlag = (flag: string, text: string | undefined, opts?: { min?: 0 | 1 }): number | undefined =>
  text === undefined ? undefined : durationFlag(flag, text, opts);

/** A whole number flag within bounds (yargs has checked that it is a number). */
export function integerFlag(flag: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw usageError(`invalid --${flag} ${value}: expected a whole number of at least ${min}`);
  return value;
}

/** Reads a file a flag names; a missing file is one line naming the flag. */
export async function readFlagFile(io: CliIo, flag: string, path: string): Promise<string> {
  const text = await io.readText(path);
  if (text === undefined) throw invalidInput(`--${flag} ${path}: no such file`);
  return text;
}

/** The kubeadm config file --config names, checked field by field (see CONFIG_OPTIONS). */
export async function configFromArgs(args: Pick<ClusterArgs, "config" | "allow-unknown-fields">, io: CliIo): Promise<KubeadmConfigDocuments | undefined> {
  if (args.config === undefined) return undefined;
  const text = await io.readText(args.config);
  if (text === undefined) throw invalidInput(`unable to read config from "${args.config}": no such file`);
  return parseKubeadmConfig(text, args.config, {
    allowUnknownFields: args["allow-unknown-fields"] === true,
    warn: (line) => io.stderr(`WARNING: ${line}\n`),
  });
}

/** Turns the flags (and the config file they name) into a validated ClusterConfig. */
export async function clusterConfigFromArgs(args: ClusterArgs, io: CliIo): Promise<ClusterConfig> {
  if (args.config !== undefined) {
    const mixed = CONFIG_EXCLUSIVE.filter((f) => args[f] !== undefined);
    if (mixed.length) throw usageError(`can not mix '--config' with arguments [${mixed.join(" ")}]`);
  }
  const docs = await configFromArgs(args, io);
  const dirs = dirsFromArgs(args);
  const flags: ConfigFlags = {
    certDir: dirs.certDir,
    kubeconfigDir: dirs.kubeconfigDir,
    advertiseAddress: args["apiserver-advertise-address"],
    bindPort: args["apiserver-bind-port"],
    controlPlaneEndpoint: args["control-plane-endpoint"],
    certSans: args["apiserver-cert-extra-sans"]?.split(",").map((s) => s.trim()).filter((s) => s !== ""),
    serviceCidr: args["service-cidr"],
    dnsDomain: args["service-dns-domain"],
    nodeName: args["node-name"],
    encryptionAlgorithm: args["encryption-algorithm"],
    certificateValidityMs: optionalDurationFlag("certificate-validity-period", args["certificate-validity-period"]),
    caCertificateValidityMs: optionalDurationFlag("ca-certificate-validity-period", args["ca-certificate-validity-period"]),
  };
  return resolveClusterConfig(docs, flags, io.host());
}

/**
 * `--cert-dir` and `--kubeconfig-dir`, or kpki's `--dir D` shorthand for `D/pki` and `D`; undefined
 * where none was given. Refuses `--dir` together with either of the other two.
 */
export function dirsFromArgs(args: Pick<ClusterArgs, "dir" | "cert-dir" | "kubeconfig-dir">): { certDir?: string | undefined; kubeconfigDir?: string | undefined } {
  if (args.dir !== undefined && (args["cert-dir"] !== undefined || args["kubeconfig-dir"] !== undefined)) {
    throw usageError("--dir is a shorthand for --cert-dir and --kubeconfig-dir; give either --dir or those two");
  }
  const dir = args.dir?.replace(/\/+$/, "") || (args.dir !== undefined ? "/" : undefined);
  return {
    certDir: args["cert-dir"] ?? (dir !== undefined ? `${dir === "/" ? "" : dir}/pki` : undefined),
    kubeconfigDir: args["kubeconfig-dir"] ?? dir,
  };
}
