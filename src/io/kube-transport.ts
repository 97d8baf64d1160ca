import { Agent, request, type RequestOptions } from "node:https";
import type { IncomingMessage } from "node:http";
import { createSecureContext } from "node:tls";
import * as k8s from "@kubernetes/client-node";
import { ApiStatusError, type WatchEventType, type WatchHandle } from "../approver/ports.js";

/**
 * The approver's hot path to the API server: the CSR, Node and Lease watches, the /approval write
 * and the Events, on Node's https with one keep-alive connection pool, which client-node's generated
 * clients also use (`authentication`). client-node still does everything about who we
 * are: it reads the kubeconfig (files, in-cluster service account, exec plugins) and applies its
 * authentication (client certificate, bearer token, basic auth) to each request; we ask it again at
 * most once a second, so rotated tokens are picked up as client-node's own caches refresh them.
 *
 * Why not client-node's generated clients and Watch here: in a burst of 200 node CSRs they cost
 * the approver 430–540 ms of CPU on a 2-core machine it shares with kube-apiserver and etcd
 * (a new https.Agent and a re-read of the credentials per request, node-fetch, ObjectSerializer on
 * every body), against about 100 ms for the same requests made plainly; see `npm run bench`.
 */
export class KubeTransport {
  private readonly kc: k8s.KubeConfig;
  private readonly server: URL;
  private agent: Agent | undefined;
  private auth: { headers: Record<string, string>; at: number } | undefined;
  private readonly now: () => number;

  constructor(kc: k8s.KubeConfig, now: () => number = Date.now) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig has no current cluster");
    if (cluster.proxyUrl) throw new Error("a kubeconfig cluster with proxy-url is not supported by the approver");
    this.kc = kc;
    this.server = new URL(cluster.server);
    if (this.server.protocol !== "https:") throw new Error(`the API server must be https, not ${this.server.protocol}`);
    this.now = now;
  }

  /**
   * client-node's authentication for its generated API clients, with this transport's pool in place
   * of the new https.Agent client-node builds for every request.
   */
  readonly authentication: k8s.SecurityAuthentication = {
    getName: () => "kpki-keep-alive",
    applySecurityAuthentication: async (context) => {
      await this.kc.applySecurityAuthentication(context);
      (context.getAgent() as Agent | undefined)?.destroy();
      context.setAgent((await this.options()).agent as Agent);
    },
  };

  /** The API server's URL, as the kubeconfig names it. */
  get serverUrl(): string {
    return this.kc.getCurrentCluster()!.server;
  }

  /** The agent (built once from client-node's TLS options) and the auth headers (refreshed each second). */
  private async options(): Promise<RequestOptions> {
    if (!this.agent || !this.auth || this.now() - this.auth.at >= 1000) {
      // Concurrent callers share one refresh, so only one agent is ever built.
      this.refreshing ??= this.refresh().finally(() => (this.refreshing = undefined));
      await this.refreshing;
    }
    const basePath = this.server.pathname.replace(/\/$/, "");
    return { host: this.server.hostname, port: this.server.port || 443, agent: this.agent, headers: { ...this.auth!.headers, accept: "application/json" }, path: basePath };
  }
  private refreshing: Promise<void> | undefined;
  private async refresh(): Promise<void> {
    const context = new k8s.RequestContext(this.server.href, "GET" as k8s.HttpMethod);
    await this.kc.applySecurityAuthentication(context);
    const made = context.getAgent() as Agent | undefined;
    if (!this.agent) {
      // One TLS context for every connection: the key and certificates are parsed once, not per socket.
      const o = made?.options ?? {};
      const { ca, cert, key, pfx, passphrase } = o;
      this.agent = new Agent({ ...o, keepAlive: true, maxSockets: 64, secureContext: createSecureContext({ ca, cert, key, pfx, passphrase }) });
    }
    made?.destroy();
    this.auth = { headers: context.getHeaders(), at: this.now() };
  }

  /**
   * One request with a JSON body; resolves to the JSON answer, or to undefined when `answer` is
   * false (the body is not parsed). A status outside 2xx throws ApiStatusError.
   */
  async json<T>(method: "GET" | "PUT" | "POST", path: string, body?: unknown, answer = true): Promise<T | undefined> {
    const o = await this.options();
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T | undefined>((resolve, reject) => {
      const req = request({ ...o, method, path: `${o.path}${path}`, headers: { ...o.headers, ...(payload ? { "content-type": "application/json" } : {}) } }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("error", reject);
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) return reject(statusError(status, text));
          if (!answer) return resolve(undefined);
          try {
            resolve(JSON.parse(text) as T);
          } catch (error) {
            reject(new Error(`the API server's answer to ${method} ${path} is not JSON: ${(error as Error).message}`));
          }
        });
      });
      req.on("error", reject);
      req.end(payload);
    });
  }

  /**
   * A watch: one event per line. `onEnd` runs once: with no error when the server closes the
   * stream (its timeout) or `stop()` is called; with ApiStatusError for a non-200 answer or an
   * ERROR event (410 Gone arrives that way); with the socket's error otherwise.
   */
  async watch<T>(path: string, params: Record<string, string | number | boolean>, onEvent: (type: WatchEventType, obj: T) => void, onEnd: (error?: unknown) => void): Promise<WatchHandle> {
    const o = await this.options();
    const query = new URLSearchParams({ watch: "true", allowWatchBookmarks: "true" });
    for (const [k, v] of Object.entries(params)) query.set(k, String(v));
    let ended = false;
    let stopped = false;
    // The server ends the stream after timeoutSeconds; a connection that died without a FIN would
    // never end, so a watch that outlives that by 30 s is ended here as an error.
    const timeout = typeof params["timeoutSeconds"] === "number" ? (params["timeoutSeconds"] + 30) * 1000 : undefined;
    const overdue = timeout === undefined ? undefined : setTimeout(() => end(new Error(`the watch outlived its ${params["timeoutSeconds"]}s timeout: the connection is dead`)), timeout);
    overdue?.unref();
    const end = (error?: unknown): void => {
      if (ended) return;
      ended = true;
      clearTimeout(overdue);
      req.destroy();
      onEnd(stopped ? undefined : error);
    };
    const req = request({ ...o, method: "GET", path: `${o.path}${path}?${query}` }, (res: IncomingMessage) => {
      if (res.statusCode !== 200) {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => end(statusError(res.statusCode ?? 0, text)));
        return;
      }
      let buffered = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while (!ended && (nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (!line.trim()) continue;
          let event: { type: string; object: unknown };
          try {
            event = JSON.parse(line) as { type: string; object: unknown };
          } catch {
            return end(new Error("the watch stream carried a line that is not JSON"));
          }
          if (event.type === "ERROR") {
            const status = event.object as { code?: number; message?: string };
            return end(new ApiStatusError(status.code ?? 500, status.message ?? "watch error"));
          }
          onEvent(event.type as WatchEventType, event.object as T);
        }
      });
      res.on("end", () => end());
      res.on("error", (error) => end(error));
      res.on("close", () => end());
    });
    req.on("error", (error) => end(error));
    req.on("socket", (socket) => socket.setKeepAlive(true, 30_000));
    req.end();
    return {
      stop: () => {
        stopped = true;
        end();
      },
    };
  }

  /** Closes pooled connections. */
  close(): void {
    this.agent?.destroy();
  }
}

function statusError(status: number, text: string): ApiStatusError {
  let message = text.trim().split("\n")[0] ?? "";
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? message;
  } catch {
    // not a Status object: keep the first line of the body
  }
  return new ApiStatusError(status, `HTTP ${status}: ${message}`);
}
