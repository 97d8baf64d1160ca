/**
 * The bench's baseline: an approver that checks nothing. It watches kubelet-serving CSRs and
 * approves each new one through /approval at once, 16 at a time (a failed write is retried after a
 * fresh read, as any controller would), over one keep-alive connection
 * pool, with Node's https and JSON and nothing else. What it reaches on a machine is the floor that
 * the API server, etcd and the machine's cores allow; `kpki approver run` is measured against it.
 * Never deploy this: it approves anything.
 *
 *   node --import tsx bench/naive-approver.ts KUBECONFIG
 */
import { Agent, request } from "node:https";
import { createSecureContext } from "node:tls";
import * as k8s from "@kubernetes/client-node";

const kc = new k8s.KubeConfig();
kc.loadFromFile(process.argv[2]!);
const opts: { ca?: Buffer | string; cert?: Buffer | string; key?: Buffer | string } = {};
await kc.applyToHTTPSOptions(opts);
const api = new URL(kc.getCurrentCluster()!.server);
const agent = new Agent({ keepAlive: true, secureContext: createSecureContext({ ca: opts.ca, cert: opts.cert, key: opts.key }) });
const base = { host: api.hostname, port: api.port, agent };
const PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

type Csr = { metadata: { name: string }; status?: { conditions?: unknown[] } };
const queue: Csr[] = [];
const seen = new Set<string>();
let active = 0;
function drain(): void {
  while (active < 16 && queue.length) {
    const csr = queue.shift()!;
    active++;
    const body = JSON.stringify({ ...csr, status: { conditions: [{ type: "Approved", status: "True", reason: "Baseline", message: "approved unchecked", lastUpdateTime: new Date().toISOString().replace(/\.\d+Z$/, "Z") }] } });
    const req = request({ ...base, method: "PUT", path: `${PATH}/${csr.metadata.name}/approval`, headers: { "content-type": "application/json" } }, (res) => {
      res.resume();
      res.on("end", () => {
        active--;
        if ((res.statusCode ?? 0) >= 300) retry(csr.metadata.name);
        drain();
      });
    });
    req.on("error", () => {
      active--;
      retry(csr.metadata.name);
      drain();
    });
    req.end(body);
  }
}

/** A write that failed (a conflict, the API server busy): read the CSR again and approve it if it is still pending. */
function retry(name: string): void {
  setTimeout(() => {
    const get = request({ ...base, path: `${PATH}/${name}` }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => {
        if (res.statusCode !== 200) return retry(name);
        const csr = JSON.parse(text) as Csr;
        if (csr.status?.conditions?.length) return;
        queue.push(csr);
        drain();
      });
    });
    get.on("error", () => retry(name));
    get.end();
  }, 100);
}

/**
 * The watch, opened again whenever the API server ends it (as it does after a while), from the
 * last resourceVersion seen; after 410 Gone, from now, which starts with an ADDED event for every
 * CSR there is. Without this the process ran out of work and exited mid-bench.
 */
let lastRv = "";
let ready = false;
function watchCsrs(): void {
  const from = lastRv ? `&resourceVersion=${lastRv}&allowWatchBookmarks=true` : "";
  const watch = request({ ...base, path: `${PATH}?watch=1&fieldSelector=${encodeURIComponent("spec.signerName=kubernetes.io/kubelet-serving")}${from}` }, (res) => {
    if (res.statusCode !== 200) {
      lastRv = "";
      res.resume();
      res.on("end", () => setTimeout(watchCsrs, 100));
      return;
    }
    if (!ready) process.stdout.write("ready\n");
    ready = true;
    let buf = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const ev = JSON.parse(buf.slice(0, nl)) as { type: string; object: Csr & { metadata: { resourceVersion?: string } } };
        buf = buf.slice(nl + 1);
        if (ev.type === "ERROR") lastRv = "";
        else lastRv = ev.object.metadata.resourceVersion ?? lastRv;
        if (ev.type !== "ADDED" || ev.object.status?.conditions?.length || seen.has(ev.object.metadata.name)) continue;
        seen.add(ev.object.metadata.name);
        queue.push(ev.object);
        drain();
      }
    });
    res.on("end", watchCsrs);
  });
  watch.on("error", () => setTimeout(watchCsrs, 100));
  watch.end();
}
watchCsrs();
process.on("SIGTERM", () => process.exit(0));
