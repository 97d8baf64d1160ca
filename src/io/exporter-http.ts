import { createServer } from "node:http";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { EXPOSITION_CONTENT_TYPE } from "../exporter/exposition.js";

/** What `kpki exporter` serves: the metrics text, written in chunks, and whether its first read is done. */
export interface ExporterHandler {
  readonly metrics: (write: (chunk: string) => void) => void | Promise<void>;
  readonly ready: () => boolean;
}

export interface ExporterServer {
  /** host:port actually listened on (the port chosen when 0 was asked for). */
  readonly address: string;
  readonly close: () => Promise<void>;
}

/** Splits `--listen`: `:9793` (every address), `127.0.0.1:9793`, `[::1]:9793`. Throws on anything else. */
export function parseListen(listen: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`expected [HOST]:PORT, e.g. :9793 or 127.0.0.1:9793`);
  const host = m[1] ?? m[2];
  return { host: host ? host : undefined, port };
}

/**
 * /metrics (the Prometheus text format), /healthz (the process answers) and /readyz (the sources'
 * first read is done), as x509-certificate-exporter serves them; anything else is 404. A scrape
 * only formats what the sources hold: it reads no file and makes no API call.
 */
export async function serveExporter(listen: string, handler: ExporterHandler): Promise<ExporterServer> {
  const { host, port } = parseListen(listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/metrics") {
      res.writeHead(200, { "content-type": EXPOSITION_CONTENT_TYPE });
      if (req.method !== "GET") return void res.end();
      void Promise.resolve()
        .then(() => handler.metrics((chunk) => res.write(chunk)))
        .then(
          () => res.end(),
          () => res.destroy(),
        );
    } else if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      const ready = handler.ready();
      res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(ready ? "ok\n" : "the first read of the sources is not done\n");
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics\n");
    }
  });
  server.listen(port, host);
  await Promise.race([once(server, "listening"), once(server, "error").then(([error]) => Promise.reject(error as Error))]);
  const a = server.address() as AddressInfo;
  return {
    address: `${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
