import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";

const run = promisify(execFile);
const cp = inject("controlPlane");

async function etcdctl(pki: string, cert: string, args: string[]) {
  return run(cp.etcdctl, [
    "--endpoints", cp.etcdClientUrls.join(","), "--cacert", join(pki, "etcd/ca.crt"),
    "--cert", join(pki, `${cert}.crt`), "--key", join(pki, `${cert}.key`),
    "--dial-timeout", "2s", "--command-timeout", "4s", ...args,
  ], { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 20_000 });
}

describe.skipIf(cp.skip)("a real 3-member etcd cluster on kpki's etcd certificates", () => {
  const pki = join(cp.dir, "pki");

  it("is healthy through etcd/healthcheck-client, with mutual TLS on clients and peers", async () => {
    const { stdout } = await etcdctl(pki, "etcd/healthcheck-client", ["endpoint", "health", "--cluster", "-w", "json"]);
    const health = JSON.parse(stdout) as { endpoint: string; health: boolean }[];
    expect(health.map((h) => h.health)).toEqual([true, true, true]);
    const { stdout: members } = await etcdctl(pki, "etcd/healthcheck-client", ["member", "list", "-w", "json"]);
    expect((JSON.parse(members) as { members: unknown[] }).members).toHaveLength(3);
    // A peer whose cert lacked clientAuth or a loopback SAN still shows "healthy"; only the logs tell.
    // ("EOF" rejections are clients hanging up mid-handshake; certificate problems name the certificate.)
    for (const log of cp.etcdLogs) {
      const rejected = readFileSync(log, "utf8").split("\n").filter((l) => l.includes("rejected connection") && /certificate|x509/.test(l));
      expect(rejected).toEqual([]);
    }
  });

  it("stores and reads a key with apiserver-etcd-client", async () => {
    const key = `/kpki-test/${Date.now()}`;
    await etcdctl(pki, "apiserver-etcd-client", ["put", key, "kpki"]);
    const { stdout } = await etcdctl(pki, "apiserver-etcd-client", ["get", key, "--print-value-only"]);
    expect(stdout.trim()).toBe("kpki");
  });

  it("refuses a client certificate from another kpki CA", async () => {
    const foreign = join(cp.foreignDir, "pki");
    const error = await run(cp.etcdctl, [
      "--endpoints", cp.etcdClientUrls[0]!, "--cacert", join(pki, "etcd/ca.crt"),
      "--cert", join(foreign, "etcd/healthcheck-client.crt"), "--key", join(foreign, "etcd/healthcheck-client.key"),
      "--dial-timeout", "2s", "--command-timeout", "3s", "get", "/kpki-test",
    ], { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 20_000 }).catch((e: unknown) => e as { code: number });
    expect((error as { code?: number }).code).not.toBe(0);
    expect((error as { code?: number }).code).toBeDefined();
    expect(readFileSync(cp.etcdLogs[0]!, "utf8")).toContain("certificate signed by unknown authority");
  });
});
