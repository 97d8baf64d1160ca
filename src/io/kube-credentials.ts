import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { parse } from "yaml";
import type { KubeAuth, KubeTls } from "./kube-transport.js";

/** Where a pod's service account credentials are (the kubelet mounts them there). */
const SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";

type Entry = Record<string, unknown>;
const record = (v: unknown): Entry => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Entry) : {});
const named = (list: unknown, name: unknown, field: string): Entry | undefined => {
  const found = Array.isArray(list) ? list.map(record).find((e) => e["name"] === name) : undefined;
  return found ? record(found[field]) : undefined;
};
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/**
 * Who we are to the API server, read the way client-go and client-node read it (--kubeconfig, then
 * $KUBECONFIG, then ~/.kube/config, then the in-cluster service account), without loading
 * client-node: the exporter's resident memory is then about 70 MB smaller. It covers what a
 * Deployment or a node uses: client certificates (data or files), bearer tokens (data or files,
 * read again when asked, so a projected token's rotation is picked up) and the service account.
 * For anything else (exec plugins, auth providers, basic auth, a proxy, several $KUBECONFIG files)
 * it returns undefined, and the caller uses client-node's reading (clientNodeAuth, kube-api.ts).
 */
export function lightKubeAuth(path: string | undefined, env: NodeJS.ProcessEnv = process.env): KubeAuth | undefined {
  const fromEnv = str(env["KUBECONFIG"]);
  if (path === undefined && fromEnv?.includes(":")) return undefined; // several files to merge: client-node's job
  const home = join(homedir(), ".kube", "config");
  const file = path ?? fromEnv ?? (existsSync(home) ? home : undefined);
  if (file === undefined) return inCluster(env);
  const doc = record(parse(readFileSync(file, "utf8")));
  const context = named(doc["contexts"], doc["current-context"], "context");
  const cluster = context && named(doc["clusters"], context["cluster"], "cluster");
  const user = context && named(doc["users"], context["user"], "user");
  const server = cluster && str(cluster["server"]);
  if (!cluster || !user || !server) return undefined;
  if (["exec", "auth-provider", "username", "password", "as", "as-groups", "impersonate", "impersonate-groups"].some((k) => k in user)) return undefined;
  if (["proxy-url"].some((k) => k in cluster)) return undefined;
  const base = dirname(file);
  const resolved = (p: string): string => (isAbsolute(p) ? p : join(base, p));
  const fromFile = (p: unknown): Buffer | undefined => {
    const s = str(p);
    return s ? readFileSync(resolved(s)) : undefined;
  };
  const fromData = (d: unknown): Buffer | undefined => {
    const s = str(d);
    return s ? Buffer.from(s, "base64") : undefined;
  };
  const tls: KubeTls = {
    ca: fromData(cluster["certificate-authority-data"]) ?? fromFile(cluster["certificate-authority"]),
    cert: fromData(user["client-certificate-data"]) ?? fromFile(user["client-certificate"]),
    key: fromData(user["client-key-data"]) ?? fromFile(user["client-key"]),
    servername: str(cluster["tls-server-name"]),
    ...(cluster["insecure-skip-tls-verify"] === true ? { rejectUnauthorized: false } : {}),
  };
  const token = str(user["token"]);
  const tokenFile = str(user["tokenFile"]);
  return {
    server,
    credentials: async () => {
      const bearer = token ?? (tokenFile ? readFileSync(resolved(tokenFile), "utf8").trim() : undefined);
      return { tls, headers: bearer ? { authorization: `Bearer ${bearer}` } : {} };
    },
  };
}

/** The pod's service account: KUBERNETES_SERVICE_HOST and _PORT, its token (read again each time) and ca.crt. */
function inCluster(env: NodeJS.ProcessEnv): KubeAuth | undefined {
  const host = env["KUBERNETES_SERVICE_HOST"];
  const port = env["KUBERNETES_SERVICE_PORT"];
  if (!host || !port || !existsSync(join(SERVICE_ACCOUNT, "token"))) return undefined;
  const tls: KubeTls = { ca: readFileSync(join(SERVICE_ACCOUNT, "ca.crt")) };
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    credentials: async () => ({ tls, headers: { authorization: `Bearer ${readFileSync(join(SERVICE_ACCOUNT, "token"), "utf8").trim()}` } }),
  };
}
