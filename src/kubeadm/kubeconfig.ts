import { invalidInput } from "../errors.js";
import { bytesToBase64, base64ToBytes } from "../pki/der.js";
import { formatIp } from "../pki/ip.js";
import { parseHostPort, type ClusterConfig } from "./config.js";

/** `net.JoinHostPort`: IPv6 literals in brackets. */
const joinHostPort = (host: string, port: number): string => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);

/** The local API endpoint URL: advertise address and bind port (util/endpoint.go). */
export const localApiEndpoint = (cfg: ClusterConfig): string =>
  `https://${joinHostPort(formatIp(cfg.advertiseAddress), cfg.bindPort)}`;

/**
 * The control-plane endpoint URL: controlPlaneEndpoint (its port, else bindPort)
 * or the local endpoint. `warn` receives kubeadm's warning when the ports differ.
 */
export function controlPlaneApiEndpoint(cfg: ClusterConfig, warn: (line: string) => void = () => {}): string {
  if (!cfg.controlPlaneEndpoint) return localApiEndpoint(cfg);
  const { host, port } = parseHostPort(cfg.controlPlaneEndpoint);
  if (port !== undefined && port !== cfg.bindPort) {
    warn("[endpoint] WARNING: port specified in controlPlaneEndpoint overrides bindPort in the controlplane address");
  }
  return `https://${joinHostPort(host, port ?? cfg.bindPort)}`;
}

/** What a kubeadm kubeconfig holds (CreateWithCerts). */
export interface KubeconfigContent {
  readonly clusterName: string;
  readonly server: string;
  readonly caPem: string;
  readonly user: string;
  readonly clientCertPem?: string;
  readonly clientKeyPem?: string;
  readonly token?: string;
}

const b64 = (text: string): string => bytesToBase64(new TextEncoder().encode(text));

/**
 * A YAML scalar as go-yaml writes a string: plain when that reads back as the
 * same string, double-quoted otherwise. (Hand-written so that writing a
 * kubeconfig does not load a YAML library: `kpki init` start-up time counts.)
 */
function scalar(value: string): string {
  const plain =
    /^[A-Za-z0-9_./][A-Za-z0-9_./:@\[\]+=-]*$/.test(value) &&
    !/^(?:true|false|yes|no|on|off|y|n|null|~)$/i.test(value) &&
    !/^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?$/.test(value) &&
    !/^0[xob]/i.test(value) &&
    !value.includes(": ") &&
    !value.endsWith(":");
  return plain ? value : JSON.stringify(value);
}

/**
 * A kubeconfig exactly as client-go's clientcmd.Write serialises kubeadm's
 * config: keys in alphabetical order, lists not indented, `preferences: {}`,
 * PEM data base64-encoded on one line, context `<user>@<cluster>`.
 */
export function renderKubeconfig(content: KubeconfigContent): string {
  const contextName = `${content.user}@${content.clusterName}`;
  const user: Record<string, string> = {};
  if (content.clientCertPem !== undefined) user["client-certificate-data"] = b64(content.clientCertPem);
  if (content.clientKeyPem !== undefined) user["client-key-data"] = b64(content.clientKeyPem);
  if (content.token !== undefined) user["token"] = content.token;
  const cluster: Record<string, string> = {};
  if (content.caPem !== "") cluster["certificate-authority-data"] = b64(content.caPem);
  cluster["server"] = content.server;
  const map = (indent: string, entries: Record<string, string>): string =>
    Object.entries(entries).map(([k, v]) => `${indent}${k}: ${scalar(v)}\n`).join("");
  return (
    "apiVersion: v1\n" +
    "clusters:\n" +
    "- cluster:\n" +
    map("    ", cluster) +
    `  name: ${scalar(content.clusterName)}\n` +
    "contexts:\n" +
    "- context:\n" +
    `    cluster: ${scalar(content.clusterName)}\n` +
    `    user: ${scalar(content.user)}\n` +
    `  name: ${scalar(contextName)}\n` +
    `current-context: ${scalar(contextName)}\n` +
    "kind: Config\n" +
    "preferences: {}\n" +
    "users:\n" +
    `- name: ${scalar(content.user)}\n` +
    (Object.keys(user).length ? `  user:\n${map("    ", user)}` : "  user: {}\n")
  );
}

/** The current context's cluster and user of a kubeconfig, with embedded data decoded. */
export interface KubeconfigView {
  readonly currentContext: string;
  readonly clusterName: string;
  readonly server: string | undefined;
  readonly caData: string | undefined;
  readonly caFile: string | undefined;
  readonly userName: string;
  readonly clientCertData: string | undefined;
  readonly clientCertFile: string | undefined;
  readonly clientKeyData: string | undefined;
  readonly clientKeyFile: string | undefined;
}

type Named = { name?: unknown; [k: string]: unknown };
const findNamed = (list: unknown, name: string): Named | undefined =>
  Array.isArray(list) ? (list as Named[]).find((x) => x && typeof x === "object" && x.name === name) : undefined;

function decodeData(value: unknown, what: string, source: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalidInput(`${source}: ${what} must be a string`);
  const clean = value.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 !== 0) {
    throw invalidInput(`${source}: ${what} is not valid base64`);
  }
  return new TextDecoder().decode(base64ToBytes(clean));
}

/** Reads the current context of a kubeconfig; errors name the file and what is missing, like kubeadm's. */
export async function readKubeconfig(text: string, source: string): Promise<KubeconfigView> {
  // Loaded on first use: most runs never read a kubeconfig, and start-up time counts.
  const { parse } = await import("yaml");
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    throw invalidInput(`failed to load kubeConfig file ${source}: ${(error as Error).message.split("\n")[0]}`);
  }
  if (!doc || typeof doc !== "object") throw invalidInput(`failed to load kubeConfig file ${source}: not a kubeconfig`);
  return kubeconfigView(doc as Record<string, unknown>, source);
}

/** The current context's cluster and user of an already parsed kubeconfig (see readKubeconfig). */
export function kubeconfigView(root: Record<string, unknown>, source: string): KubeconfigView {
  const currentContext = root["current-context"];
  if (typeof currentContext !== "string" || currentContext === "") {
    throw invalidInput(`invalid kubeConfig file ${source}: no current-context`);
  }
  const ctx = findNamed(root["contexts"], currentContext)?.["context"] as Record<string, unknown> | undefined;
  if (!ctx) throw invalidInput(`invalid kubeConfig file ${source}: missing context ${currentContext}`);
  const clusterName = String(ctx["cluster"] ?? "");
  const userName = String(ctx["user"] ?? "");
  const cluster = findNamed(root["clusters"], clusterName)?.["cluster"] as Record<string, unknown> | undefined;
  if (!cluster) throw invalidInput(`invalid kubeConfig file ${source}: missing cluster ${clusterName}`);
  const user = (findNamed(root["users"], userName)?.["user"] ?? undefined) as Record<string, unknown> | undefined;
  if (!user) throw invalidInput(`invalid kubeConfig file ${source}: missing authInfo ${userName}`);
  const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
  return {
    currentContext,
    clusterName,
    server: str(cluster["server"]),
    caData: decodeData(cluster["certificate-authority-data"], "certificate-authority-data", source),
    caFile: str(cluster["certificate-authority"]),
    userName,
    clientCertData: decodeData(user["client-certificate-data"], "client-certificate-data", source),
    clientCertFile: str(user["client-certificate"]),
    clientKeyData: decodeData(user["client-key-data"], "client-key-data", source),
    clientKeyFile: str(user["client-key"]),
  };
}
