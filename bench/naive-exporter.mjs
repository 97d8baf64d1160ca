/**
 * The exporter bench's baseline: what any exporter must do at the least, in plain Node (https,
 * JSON, the native X509Certificate; no TypeScript loader, no Kubernetes client). It lists the TLS
 * Secrets (pages of 500, the server selecting type=kubernetes.io/tls, as `kpki exporter --secrets`
 * asks), reads each tls.crt's notAfter, prints "ready N", then watches from the list's
 * resourceVersion and reads each changed Secret the same way. It keeps no labels and serves nothing.
 *
 *   node bench/naive-exporter.mjs SERVER CA_FILE CERT_FILE KEY_FILE
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";

const [server, ca, cert, key] = process.argv.slice(2);
const api = new URL(server);
const agent = new Agent({ keepAlive: true, ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key) });
const SELECTOR = encodeURIComponent("type=kubernetes.io/tls");
const notAfter = new Map();
function keep(s) {
  const crt = s.data?.["tls.crt"];
  if (crt) notAfter.set(`${s.metadata.namespace}/${s.metadata.name}`, Date.parse(new X509Certificate(Buffer.from(crt, "base64")).validTo));
}
function get(path) {
  return new Promise((resolve, reject) => {
    request({ host: api.hostname, port: api.port, agent, path }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => (res.statusCode === 200 ? resolve(JSON.parse(Buffer.concat(chunks).toString("utf8"))) : reject(new Error(`HTTP ${res.statusCode}`))));
    }).on("error", reject).end();
  });
}

let token;
let rv = "";
do {
  const page = await get(`/api/v1/secrets?fieldSelector=${SELECTOR}&limit=500${token ? `&continue=${encodeURIComponent(token)}` : ""}`);
  for (const s of page.items) keep(s);
  rv = page.metadata.resourceVersion;
  token = page.metadata.continue || undefined;
} while (token);
process.stdout.write(`ready ${notAfter.size}\n`);

request({ host: api.hostname, port: api.port, agent, path: `/api/v1/secrets?watch=true&fieldSelector=${SELECTOR}&resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=3600` }, (res) => {
  let buffered = "";
  res.setEncoding("utf8");
  res.on("data", (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const event = JSON.parse(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      if (event.type === "DELETED") notAfter.delete(`${event.object.metadata.namespace}/${event.object.metadata.name}`);
      else if (event.type !== "BOOKMARK") keep(event.object);
    }
  });
}).end();
