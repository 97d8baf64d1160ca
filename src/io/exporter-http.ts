import { createServer } from "node:http";
import { once } from "node:events";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import type { AddressInfo } from "node:net";
import { EXPOSITION_CONTENT_TYPE } from "../exporter/exposition.js";

/**
 * What `kpki exporter` serves: the metrics text, and whether its first read is done. `metrics`
 * gives the text's writer and a `version` object that stays the same for as long as the text
 * does: its gzip form is then made once and kept, and the text itself is not kept.
 */
export interface ExporterHandler {
  readonly metrics: () => Promise<{ readonly version: object; readonly chunks: () => Iterable<string> }>;
  readonly ready: () => boolean;
}

/**
 * The text, gzipped as it is made (level 1: the 17 MB of 10,000 certificates in about 0.3 MB), a
 * chunk at a time: the next chunk is made once zlib has taken the last, so the whole text never
 * sits in memory.
 */
async function gzipped(chunks: Iterable<string>): Promise<Buffer> {
  const parts: Buffer[] = [];
  const z = createGzip({ level: 1 });
  z.on("data", (b: Buffer) => parts.push(b));
  const ended = once(z, "end");
  for (const chunk of chunks) if (!z.write(chunk)) await once(z, "drain");
  z.end();
  await ended;
  return Buffer.concat(parts);
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
  // The last text is kept gzipped only, and sent again while it is the same: Prometheus asks for
  // gzip; another client gets it decompressed on the way. Concurrent scrapes share one compression
  // (on libuv's thread pool).
  let kept: { version: object; gzip: Promise<Buffer> } | undefined;
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/metrics") {
      const wantsGzip = /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
      void handler
        .metrics()
        .then(async ({ version, chunks }) => {
          if (kept?.version !== version) {
            const gzip = gzipped(chunks());
            kept = { version, gzip };
            gzip.catch(() => kept?.gzip === gzip && (kept = undefined)); // the next scrape tries again
          }
          const body = await kept.gzip;
          if (wantsGzip) {
            res.writeHead(200, { "content-type": EXPOSITION_CONTENT_TYPE, "content-encoding": "gzip", "content-length": body.length, vary: "Accept-Encoding" });
            return void res.end(req.method === "GET" ? body : undefined);
          }
          // A client without gzip (curl): the kept form, decompressed as it is sent.
          res.writeHead(200, { "content-type": EXPOSITION_CONTENT_TYPE, vary: "Accept-Encoding" });
          if (req.method !== "GET") return void res.end();
          await pipeline(Readable.from([body]), createGunzip(), res);
        })
        .catch(() => res.destroy());
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
