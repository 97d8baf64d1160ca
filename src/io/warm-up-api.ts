import { once } from "node:events";
import { createSecureServer, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import * as k8s from "@kubernetes/client-node";
import type { WarmUpApi } from "../approver/warm-up.js";
import { createCertificate, randomSerial } from "../pki/cert.js";
import { parseIp } from "../pki/ip.js";
import { generateKeyPair, privateKeyToPem } from "../pki/keys.js";
import { kubeApproverApi } from "./kube-api.js";

const CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

/**
 * A stand-in for kube-apiserver that `approver run` warms its code against before it starts: an
 * HTTP/2 server on 127.0.0.1 (a free port, a TLS certificate made for this run and trusted only by
 * this run's client) that answers the approver's lists with the warm-up node and no CSRs, holds
 * its watches open, sends the CSRs it is given as ADDED events (a few per write, as kube-apiserver
 * does), and answers each /approval write as kube-apiserver does: the object back, and a MODIFIED
 * event on the watch. The client is the approver's own (kube-api.ts on kube-transport.ts), so the
 * HTTP/2 streams, the JSON of lists, watch events and bodies run the code a real cluster runs.
 * It answers nothing else (404), and nobody but that client (401: a bearer token made for the run).
 * It holds no secret of the cluster's, and is closed before the approver connects to its cluster.
 */
export async function startWarmUpApi(nodeListJson: string, crypto: Crypto): Promise<WarmUpApi> {
  const key = await generateKeyPair("ECDSA-P256", crypto);
  const now = Date.now();
  const cert = await createCertificate(
    { subject: { commonName: "kpki-warm-up" }, serial: randomSerial(crypto), notBefore: new Date(now - 60_000), notAfter: new Date(now + 3_600_000), isCa: false, keyUsages: ["digitalSignature"], extKeyUsages: ["serverAuth"], dnsNames: [], ips: [parseIp("127.0.0.1")!] },
    key.publicKey,
    { selfSigned: key },
    crypto,
  );
  const server = createSecureServer({ key: await privateKeyToPem(key, crypto), cert: cert.pem });
  const sessions = new Set<ServerHttp2Session>();
  server.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  let resourceVersion = 1;
  /** The names of the CSRs sent and not yet written to, and what runs once there are none. */
  const waiting = new Set<string>();
  let allWritten: () => void = () => undefined;
  let csrWatch: ServerHttp2Stream | undefined;
  let watchOpened: () => void = () => undefined;
  const watchOpen = new Promise<void>((resolve) => (watchOpened = resolve));
  const answer = (stream: ServerHttp2Stream, status: number, body: string): void => {
    stream.respond({ ":status": status, "content-type": "application/json" });
    stream.end(body);
  };
  // Only this run's client may use it: another local process could connect to the port.
  const token = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex");
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined); // a stream the client cancels (its watches, at the end)
    if (headers.authorization !== `Bearer ${token}`) return answer(stream, 401, '{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}');
    const url = new URL(String(headers[":path"]), "https://127.0.0.1");
    const method = headers[":method"];
    if (method === "GET" && url.searchParams.get("watch") === "true") {
      stream.respond({ ":status": 200, "content-type": "application/json" });
      if (url.pathname === CSRS) {
        csrWatch = stream;
        watchOpened();
      }
      return; // held open until the client ends it
    }
    if (method === "GET" && url.pathname === CSRS) return answer(stream, 200, `{"kind":"CertificateSigningRequestList","apiVersion":"certificates.k8s.io/v1","metadata":{"resourceVersion":"${resourceVersion}"},"items":[]}`);
    if (method === "GET" && url.pathname === "/api/v1/nodes") return answer(stream, 200, nodeListJson); // Nodes never change here: its watch stays quiet
    if (method === "PUT" && url.pathname.startsWith(`${CSRS}/`) && url.pathname.endsWith("/approval")) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const csr = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { metadata: { name: string; resourceVersion?: string }; status?: { conditions?: { lastUpdateTime?: string; lastTransitionTime?: string }[] } };
        csr.metadata.resourceVersion = String(++resourceVersion);
        if (waiting.delete(csr.metadata.name) && waiting.size === 0) allWritten();
        for (const c of csr.status?.conditions ?? []) if (c.lastUpdateTime !== undefined) c.lastTransitionTime ??= c.lastUpdateTime; // as kube-apiserver stores a condition
        const text = JSON.stringify(csr);
        answer(stream, 200, text);
        csrWatch?.write(`{"type":"MODIFIED","object":${text}}\n`);
      });
      return;
    }
    answer(stream, 404, '{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}');
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "warm-up", server: `https://127.0.0.1:${port}`, caData: Buffer.from(cert.pem).toString("base64"), skipTLSVerify: false }],
    users: [{ name: "warm-up", token }],
    contexts: [{ name: "warm-up", cluster: "warm-up", user: "warm-up" }],
    currentContext: "warm-up",
  });
  const api = kubeApproverApi(kc);
  return {
    api,
    url: `https://127.0.0.1:${port}`,
    send: async (csrs) => {
      await watchOpen;
      const written = new Promise<void>((resolve) => (allWritten = resolve));
      for (const { name } of csrs) waiting.add(name);
      for (let i = 0; i < csrs.length; i += 4) {
        csrWatch?.write(csrs.slice(i, i + 4).map(({ json }) => `{"type":"ADDED","object":${json}}\n`).join(""));
        await new Promise((resolve) => setImmediate(resolve));
      }
      // A controller that cannot write (it never should) must not hold the approver's start for long.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${waiting.size} of the warm-up's CSRs were not written in 30 s`)), 30_000)));
      try {
        await Promise.race([written, late]);
      } finally {
        clearTimeout(timer);
        waiting.clear();
      }
    },
    close: async () => {
      api.close();
      server.close();
      for (const session of sessions) session.destroy();
      await once(server, "close");
      collectGarbage();
    },
  };
}

/**
 * A full, compacting garbage collection, now. The warm-up leaves tens of MB of dead objects in V8's
 * old generation (the CSRs its controllers cached, their bodies and streams); left alone, V8
 * collects them in a major GC when the old generation next fills, which was during the second burst
 * of CSRs after a start (40 ms of marking and compaction on the main thread, more on helpers:
 * `node --trace-gc`). `gc` is V8's own function, which Node exposes only with --expose-gc; a new
 * context made after setting that flag has it (the pattern of Node's own tests).
 */
function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}
