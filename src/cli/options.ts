import type { Argv } from "yargs";
import { invalidInput } from "../errors.js";
import { parseKubeadmConfig, resolveClusterConfig, type ClusterConfig, type ConfigFlags } from "../kubeadm/config.js";
import type { CliIo } from "./io.js";

/**
 * The cluster flags shared by `init` and its phases, with kubeadm's names
 * (`kubeadm init --help`), plus kpki's `--dir` shorthand and key/validity
 * flags that kubeadm only takes from its config file.
 */
export function withClusterOptions<T>(y: Argv<T>) {
  return y
    .option("config", { type: "string", describe: "Path to a kubeadm configuration file (InitConfiguration/ClusterConfiguration, v1beta4 or v1beta3)" })
    .option("dir", { type: "string", describe: "Shorthand: kubeconfigs in DIR and certificates in DIR/pki (a dev-cluster layout)" })
    .option("cert-dir", { type: "string", describe: "The path where to save and store the certificates [default: /etc/kubernetes/pki]" })
    .option("kubeconfig-dir", { type: "string", describe: "The path where to save the kubeconfig files [default: /etc/kubernetes]" })
    .option("apiserver-advertise-address", { type: "string", describe: "The IP address the API Server will advertise it's listening on [default: this machine's first non-loopback address]" })
    .option("apiserver-bind-port", { type: "number", describe: "Port for the API Server to bind to [default: 6443]" })
    .option("control-plane-endpoint", { type: "string", describe: "A stable IP address or DNS name for the control plane, optionally with :port" })
    .option("apiserver-cert-extra-sans", { type: "string", describe: "Optional extra Subject Alternative Names (IPs or DNS names) for the API Server serving certificate, comma-separated" })
    .option("service-cidr", { type: "string", describe: "Range of IP addresses for service VIPs [default: 10.96.0.0/12]" })
    .option("service-dns-domain", { type: "string", describe: 'Alternative domain for services [default: "cluster.local"]' })
    .option("node-name", { type: "string", describe: "The node name [default: this machine's hostname, lower-cased]" })
    .option("encryption-algorithm", { type: "string", describe: "Key type: RSA-2048 (default), RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384 (kubeadm: ClusterConfiguration.encryptionAlgorithm)" })
    .option("certificate-validity-period", { type: "string", describe: "Leaf validity as a Go duration, e.g. 8760h (kubeadm: certificateValidityPeriod)" })
    .option("ca-certificate-validity-period", { type: "string", describe: "CA validity as a Go duration, e.g. 87600h (kubeadm: caCertificateValidityPeriod)" })
    .option("dry-run", { type: "boolean", default: false, describe: "Don't apply any changes; just output what would be done" });
}

/** The parsed values of withClusterOptions. */
export interface ClusterArgs {
  readonly config?: string | undefined;
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
  readonly "dry-run"?: boolean | undefined;
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

/** Turns the flags (and the config file they name) into a validated ClusterConfig. */
export async function clusterConfigFromArgs(args: ClusterArgs, io: CliIo): Promise<ClusterConfig> {
  let docs;
  if (args.config !== undefined) {
    const mixed = CONFIG_EXCLUSIVE.filter((f) => args[f] !== undefined);
    if (mixed.length) throw invalidInput(`can not mix '--config' with arguments [${mixed.join(" ")}]`);
    const text = await io.readText(args.config);
    if (text === undefined) throw invalidInput(`unable to read config from "${args.config}": no such file`);
    docs = await parseKubeadmConfig(text, args.config);
  }
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
    certificateValidityPeriod: args["certificate-validity-period"],
    caCertificateValidityPeriod: args["ca-certificate-validity-period"],
  };
  return resolveClusterConfig(docs, flags, io.host());
}

/**
 * `--cert-dir` and `--kubeconfig-dir`, or kpki's `--dir D` shorthand for `D/pki` and `D`; undefined
 * where none was given. Refuses `--dir` together with either of the other two.
 */
export function dirsFromArgs(args: Pick<ClusterArgs, "dir" | "cert-dir" | "kubeconfig-dir">): { certDir?: string | undefined; kubeconfigDir?: string | undefined } {
  if (args.dir !== undefined && (args["cert-dir"] !== undefined || args["kubeconfig-dir"] !== undefined)) {
    throw invalidInput("--dir is a shorthand for --cert-dir and --kubeconfig-dir; give either --dir or those two");
  }
  const dir = args.dir?.replace(/\/+$/, "") || (args.dir !== undefined ? "/" : undefined);
  return {
    certDir: args["cert-dir"] ?? (dir !== undefined ? `${dir === "/" ? "" : dir}/pki` : undefined),
    kubeconfigDir: args["kubeconfig-dir"] ?? dir,
  };
}
