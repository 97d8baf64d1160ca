import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type TLSSocket } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { clientNodeAuth } from "../../src/io/kube-api.js";
import { KubeTransport } from "../../src/io/kube-transport.js";
import { fakeIo } from "../helpers/fake-io.js";
import { freePort, waitFor } from "../helpers/procs.js";

const work = mkdtempSync(join(tmpdir(), "kpki-transport-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * The HTTP/2 health check (client-go's ReadIdleTimeout/PingTimeout, shortened here). The peer is
 * a TLS server that completes the handshake, offers h2 and then never sends a byte: what a
 * black-holed API server looks like from the client. No real program can be made to do that on
 * demand here, so this one stands in for it; the answering side is tested against the real
 * kube-apiserver in test/interop/approver-live.test.ts.
 */
describe("KubeTransport's HTTP/2 health check", () => {
  it("drops a connection whose peer stops answering: an open watch ends with an error once the PING goes unanswered", async () => {
    const port = await freePort();
    const f = fakeIo();
    expect(await run(["init", "phase", "certs", "all", "--cert-dir", join(work, "pki"), "--apiserver-advertise-address", "127.0.0.1", "--encryption-algorithm", "ECDSA-P256"], f.io)).toBe(0);
    expect(await run(["init", "phase", "kubeconfig", "admin", "--cert-dir", join(work, "pki"), "--kubeconfig-dir", work, "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(port), "--encryption-algorithm", "ECDSA-P256"], f.io)).toBe(0);
    const sockets: TLSSocket[] = [];
    const server = createServer({ cert: readFileSync(join(work, "pki", "apiserver.crt")), key: readFileSync(join(work, "pki", "apiserver.key")), ALPNProtocols: ["h2"] }, (socket) => {
      sockets.push(socket);
      socket.resume(); // read everything, answer nothing
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    try {
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(join(work, "admin.conf"));
      const transport = new KubeTransport(clientNodeAuth(kc), Date.now, { readIdleMs: 200, pingTimeoutMs: 300 });
      const ends: unknown[] = [];
      const t0 = Date.now();
      await transport.watch("/api/v1/nodes", {}, () => undefined, (e) => void ends.push(e));
      await waitFor("the watch's end", () => ends.length > 0, 5000, 20);
      const after = Date.now() - t0;
      expect(sockets).toHaveLength(1);
      expect(ends).toHaveLength(1);
      expect(ends[0]).toBeInstanceOf(Error);
      // Not before the idle time and the PING's timeout have both passed; well before the watch's own guard.
      expect(after).toBeGreaterThanOrEqual(500);
      expect(after).toBeLessThan(3000);
      transport.close();
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
