import { Agent } from "node:https";
import { connect, constants as h2, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from "node:http2";
import { createSecureContext, type SecureContext, type SecureContextOptions } from "node:tls";
import { ApiStatusError, type WatchEventType, type WatchHandle } from "../approver/ports.js";

/** TLS material for the connections to the API server, as a kubeconfig or the service account gives it. */
export type KubeTls = Pick<SecureContextOptions, "ca" | "cert" | "key" | "pfx" | "passphrase"> & {
  readonly servername?: string | undefined;
  readonly rejectUnauthorized?: boolean | undefined;
};

/**
 * Who we are to the API server: its URL, the TLS material (read once, for every connection), and
 * the headers of each request (a bearer token; asked again at most once a second, so a rotated
 * token is picked up). src/io/kube-api.ts makes one from client-node's KubeConfig (exec plugins
 * and every other kind of kubeconfig); src/io/kube-credentials.ts one without client-node.
 */
export interface KubeAuth {
  readonly server: string;
  readonly credentials: () => Promise<{ readonly tls: KubeTls; readonly headers: Readonly<Record<string, unknown>> }>;
}

/**
 * The approver's hot path to the API server: the CSR and Node lists and watches, the Lease watch,
 * discovery's reads, the /approval write and the Events, as streams of HTTP/2 connections, as
 * client-go talks to the API server: one for the watches and one for the calls.
 * client-node's generated client (the Lease's reads and writes) uses a keep-alive https pool
 * (`httpsAgent`) with the same TLS context. Who we are comes from a KubeAuth: client-node's
 * (the kubeconfig's files, the in-cluster service account, exec plugins; its authentication
 * applied to each request) for the approver; we ask it again at most once a second, so rotated
 * tokens are picked up as client-node's own caches refresh them.
 *
 * Why not client-node's generated clients and Watch here: in a burst of 200 node CSRs they cost
 * the approver 430–540 ms of CPU on a 2-core machine it shares with kube-apiserver and etcd
 * (a new https.Agent and a re-read of the credentials per request, node-fetch, ObjectSerializer on
 * every body), against about 100 ms for the same requests made plainly; see `npm run bench`.
 * Why HTTP/2: a burst's writes share one connection, so a burst that follows a quiet spell opens
 * at most one TLS connection (the API server closes idle ones after 90 s), where an https pool
 * opened one per concurrent write. On the bench's first burst after start (6 rounds, 2-core
 * machine) the approver's p99 went from 429 to 361 ms; warm bursts were unchanged. With the
 * watches on the writes' connection, warm bursts were 30–70 ms slower, so they have their own.
 */
export class KubeTransport {
  private readonly identity: KubeAuth;
  private readonly server: URL;
  private agent: Agent | undefined;
  private tls: { secureContext: SecureContext; servername?: string; rejectUnauthorized?: boolean } | undefined;
  /** Watches and calls on separate connections: a burst's writes do not queue behind its watch events. */
  private readonly lanes: Record<Lane, { session?: ClientHttp2Session; streams: number }> = { watch: { streams: 0 }, call: { streams: 0 } };
  private auth: { headers: OutgoingHttpHeaders; at: number } | undefined;
  private readonly now: () => number;
  private readonly health: HealthCheck;
  private opened = 0;

  constructor(auth: KubeAuth, now: () => number = Date.now, health: HealthCheck = CLIENT_GO_HEALTH_CHECK) {
    this.identity = auth;
    this.server = new URL(auth.server);
    if (this.server.protocol !== "https:") throw new Error(`the API server must be https, not ${this.server.protocol}`);
    this.now = now;
    this.health = health;
  }

  /** The keep-alive https pool, on the same TLS context (for client-node's generated clients). */
  async httpsAgent(): Promise<Agent> {
    return (await this.options()).agent;
  }

  /** HTTP/2 connections opened so far (one per lane while the API server keeps them). */
  get connections(): number {
    return this.opened;
  }

  /** The API server's URL, as the kubeconfig names it. */
  get serverUrl(): string {
    return this.identity.server;
  }

  /** The https agent (for client-node's clients), and the auth headers (refreshed each second). */
  private async options(): Promise<{ agent: Agent; headers: OutgoingHttpHeaders; basePath: string }> {
    if (!this.agent || !this.auth || this.now() - this.auth.at >= 1000) {
      // Concurrent callers share one refresh, so only one agent is ever built.
      this.refreshing ??= this.refresh().finally(() => (this.refreshing = undefined));
      await this.refreshing;
    }
    return { agent: this.agent!, headers: this.auth!.headers, basePath: this.server.pathname.replace(/\/$/, "") };
  }
  private refreshing: Promise<void> | undefined;
  private async refresh(): Promise<void> {
    const { tls: o, headers: given } = await this.identity.credentials();
    if (!this.agent) {
      // One TLS context for every connection: the key and certificates are parsed once, not per socket.
      const { ca, cert, key, pfx, passphrase } = o;
      const secureContext = createSecureContext({ ca, cert, key, pfx, passphrase });
      const peer = { ...(o.servername ? { servername: o.servername } : {}), ...(o.rejectUnauthorized !== undefined ? { rejectUnauthorized: o.rejectUnauthorized } : {}) };
      this.tls = { secureContext, ...peer };
      this.agent = new Agent({ ...peer, keepAlive: true, maxSockets: 64, secureContext });
    }
    // HTTP/2 wants lower-case header names and no connection-level headers.
    const headers: OutgoingHttpHeaders = { accept: "application/json" };
    for (const [k, v] of Object.entries(given)) {
      if (!/^(host|connection|keep-alive|transfer-encoding|upgrade|proxy-connection)$/i.test(k) && (typeof v === "string" || typeof v === "number" || Array.isArray(v))) headers[k.toLowerCase()] = v as string | number | string[];
    }
    this.auth = { headers, at: this.now() };
  }

  /**
   * A lane's HTTP/2 connection, opened on first use and again after the API server closes it (a
   * restart, GOAWAY). Streams open on a connection that dies end with an error; callers retry.
   * Like client-go, a connection with no frames for 30 s is PINGed and dropped when 15 s pass
   * without an answer, so a silently dead peer ends the watches long before their timeout.
   */
  private session(lane: Lane): ClientHttp2Session {
    const l = this.lanes[lane];
    if (l.session && !l.session.closed && !l.session.destroyed) return l.session;
    const s = connect(this.server.origin, { ...this.tls!, settings: { initialWindowSize: 4 << 20 } });
    l.session = s;
    this.opened++;
    if (l.streams === 0) s.unref();
    const drop = (): void => {
      if (l.session === s) delete l.session;
    };
    s.on("error", drop); // each open stream also gets the error
    s.once("goaway", drop); // streams already open finish; new ones go to a new connection
    s.once("close", drop);
    s.once("connect", () => s.setLocalWindowSize(16 << 20));
    s.setTimeout(this.health.readIdleMs, () => {
      const dead = setTimeout(() => s.destroy(new Error(`the API server did not answer a PING in ${this.health.pingTimeoutMs} ms`)), this.health.pingTimeoutMs);
      dead.unref();
      if (!s.ping((error) => (error ? s.destroy(error) : clearTimeout(dead)))) s.destroy();
    });
    return s;
  }

  /**
   * A stream on a lane's connection. A connection holds the process open only while a stream is
   * open on it, as an https agent does with its sockets: `approver run` exits once it has stopped.
   */
  private stream(lane: Lane, method: string, path: string, headers: OutgoingHttpHeaders, body: boolean): ClientHttp2Stream {
    const l = this.lanes[lane];
    const s = this.session(lane);
    if (l.streams++ === 0) s.ref();
    const req = s.request({ ...headers, [h2.HTTP2_HEADER_METHOD]: method, [h2.HTTP2_HEADER_PATH]: path }, { endStream: !body });
    req.once("close", () => {
      if (--l.streams === 0) l.session?.unref();
    });
    return req;
  }

  /**
   * One request with a JSON body; resolves to the JSON answer, or to undefined when `answer` is
   * false (the body is not parsed). A status outside 2xx throws ApiStatusError.
   */
  async json<T>(method: "GET" | "PUT" | "POST", path: string, body?: unknown, answer = true): Promise<T | undefined> {
    const o = await this.options();
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T | undefined>((resolve, reject) => {
      const req = this.stream("call", method, `${o.basePath}${path}`, payload ? { ...o.headers, "content-type": "application/json" } : o.headers, payload !== undefined);
      let status = 0;
      const chunks: Buffer[] = [];
      let done = false;
      req.on("response", (headers) => (status = Number(headers[h2.HTTP2_HEADER_STATUS])));
      // An answer nobody reads (an approval's echo of the whole CSR) is not kept or decoded.
      req.on("data", (chunk: Buffer) => {
        if (answer || status < 200 || status > 299) chunks.push(chunk);
      });
      req.on("error", (error) => {
        done = true;
        reject(error);
      });
      req.on("end", () => {
        done = true;
        const text = (): string => Buffer.concat(chunks).toString("utf8");
        if (status < 200 || status > 299) return reject(statusError(status, text()));
        if (!answer) return resolve(undefined);
        try {
          resolve(JSON.parse(text()) as T);
        } catch (error) {
          reject(new Error(`the API server's answer to ${method} ${path} is not JSON: ${(error as Error).message}`));
        }
      });
      req.on("close", () => {
        if (!done) reject(new Error(`the connection closed before the API server answered ${method} ${path}`));
      });
      if (payload !== undefined) req.end(payload);
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
    // The server ends the stream after timeoutSeconds; one that outlives that by 30 s is ended
    // here as an error (a hung stream on a connection that still answers PINGs).
    const timeout = typeof params["timeoutSeconds"] === "number" ? (params["timeoutSeconds"] + 30) * 1000 : undefined;
    const overdue = timeout === undefined ? undefined : setTimeout(() => end(new Error(`the watch outlived its ${params["timeoutSeconds"]}s timeout: the connection is dead`)), timeout);
    overdue?.unref();
    const end = (error?: unknown): void => {
      if (ended) return;
      ended = true;
      clearTimeout(overdue);
      if (!req.closed) req.close(h2.NGHTTP2_CANCEL);
      onEnd(stopped ? undefined : error);
    };
    const req = this.stream("watch", "GET", `${o.basePath}${path}?${query}`, o.headers, false);
    let status = 0;
    let buffered = "";
    req.setEncoding("utf8");
    req.on("response", (headers) => (status = Number(headers[h2.HTTP2_HEADER_STATUS])));
    req.on("data", (chunk: string) => {
      buffered += chunk;
      if (status !== 200) return; // an error Status, read whole at the end
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
          const st = event.object as { code?: number; message?: string };
          return end(new ApiStatusError(st.code ?? 500, st.message ?? "watch error"));
        }
        onEvent(event.type as WatchEventType, event.object as T);
      }
    });
    req.on("end", () => end(status === 200 ? undefined : statusError(status, buffered)));
    req.on("error", (error) => end(error));
    // A stream reset (not by us) or a connection lost before the answer is an error: the caller backs off.
    req.on("close", () => end(status === 200 && !req.rstCode ? undefined : new Error(`the watch of ${path} was cut off (HTTP/2 code ${req.rstCode ?? "none"})`)));
    return {
      stop: () => {
        stopped = true;
        end();
      },
    };
  }

  /** Closes the HTTP/2 connections and the pooled ones. */
  close(): void {
    for (const l of Object.values(this.lanes)) {
      l.session?.close();
      delete l.session;
    }
    this.agent?.destroy();
  }
}

type Lane = "watch" | "call";

/** When a silent connection is PINGed, and how long the answer may take before it is dropped. */
export interface HealthCheck {
  readonly readIdleMs: number;
  readonly pingTimeoutMs: number;
}
/** client-go's HTTP/2 health check: ReadIdleTimeout 30 s, PingTimeout 15 s. */
export const CLIENT_GO_HEALTH_CHECK: HealthCheck = { readIdleMs: 30_000, pingTimeoutMs: 15_000 };

function statusError(status: number, text: string): ApiStatusError {
  let message = text.trim().split("\n")[0] ?? "";
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? message;
  } catch {
    // not a Status object: keep the first line of the body
  }
  return new ApiStatusError(status, `HTTP ${status}: ${message}`);
}
