import { execFile, execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:tls";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { parseCertificatePem } from "../../src/pki/cert.js";
import { controlPlane, type ControlPlane } from "../helpers/control-plane.js";
import { freePort } from "../helpers/procs.js";
import { findBinary, missingBinaries } from "../helpers/testenv.js";
import { kubectl } from "../helpers/kubectl.js";

const run = promisify(execFile);
const KPKI = resolve(import.meta.dirname, "../../dist/bin/kpki.js");
const skip = missingBinaries("etcd", "etcdctl", "kube-apiserver", "kube-controller-manager", "kubectl", "openssl");
const work = mkdtempSync(join(tmpdir(), "kpki-live-"));
const running: ControlPlane[] = [];
afterAll(async () => {
  for (const cp of running) await cp.stop();
  if (!process.env["KPKI_KEEP_WORK"]) rmSync(work, { recursive: true, force: true });
});

const kpki = (...args: string[]) => run(process.execPath, [KPKI, ...args]);
const bins = () => ({ etcd: findBinary("etcd")!, kubeApiserver: findBinary("kube-apiserver")!, kubeControllerManager: findBinary("kube-controller-manager")! });

/** The serial of the certificate a TLS server presents. */
function servedSerial(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      resolvePromise(socket.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, ""));
      socket.end();
    });
    socket.on("error", reject);
  });
}

describe.skipIf(skip)("certs renew on a live control plane", () => {
  it("renew all, restart etcd, kube-apiserver and kube-controller-manager: everything works on the new certificates", { timeout: 240_000 }, async () => {
    const dir = join(work, "renew");
    const apiPort = await freePort();
    await kpki("init", "--dir", dir, "--node-name", "kpki-live", "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort),
      "--encryption-algorithm", "ECDSA-P256");
    const cpWork = join(work, "renew-run");
    mkdirSync(cpWork);
    const cp = await controlPlane(bins(), { dir, work: cpWork, apiPort, etcdMembers: 1, controllerManager: true });
    running.push(cp);
    await cp.start();
    expect((await kubectl(["--kubeconfig", join(dir, "super-admin.conf"), "create", "clusterrolebinding", "kubeadm:cluster-admins",
      "--clusterrole=cluster-admin", "--group=kubeadm:cluster-admins"])).code).toBe(0);
    const before = JSON.parse((await kpki("certs", "check-expiration", "--dir", dir, "-o", "json")).stdout) as { certificates: { name: string; expirationDate: string }[] };
    const oldServing = await servedSerial(cp.apiserverUrl);
    expect(oldServing).toBe(parseCertificatePem(readFileSync(join(dir, "pki/apiserver.crt"), "utf8")).serialHex.replace(/^0+/, ""));

    await new Promise((r) => setTimeout(r, 1100)); // new certificates get a later NotAfter (whole seconds)
    const renewed = await kpki("certs", "renew", "all", "--dir", dir);
    expect(renewed.stdout).toContain("certificate for serving the Kubernetes API renewed");
    expect(renewed.stdout).toMatch(/\[renew\] Backed up 18 files to ".*pki-backup-\d{8}T\d{6}Z"/);

    await cp.stop();
    await cp.start(); // same etcd data, the renewed files

    const newServing = await servedSerial(cp.apiserverUrl);
    expect(newServing).not.toBe(oldServing);
    expect(newServing).toBe(parseCertificatePem(readFileSync(join(dir, "pki/apiserver.crt"), "utf8")).serialHex.replace(/^0+/, ""));
    const health = await run(findBinary("etcdctl")!, ["--endpoints", cp.etcdClientUrls.join(","), "--cacert", join(dir, "pki/etcd/ca.crt"),
      "--cert", join(dir, "pki/etcd/healthcheck-client.crt"), "--key", join(dir, "pki/etcd/healthcheck-client.key"), "endpoint", "health", "-w", "json"],
      { env: { ...process.env, ETCDCTL_API: "3" } });
    expect((JSON.parse(health.stdout) as { health: boolean }[]).map((h) => h.health)).toEqual([true]);
    for (const conf of ["admin.conf", "super-admin.conf"]) {
      const r = await kubectl(["--kubeconfig", join(dir, conf), "get", "ns", "kube-system", "-o", "name"]);
      expect(r.stdout.trim(), `${conf}: ${r.stderr}`).toBe("namespace/kube-system");
    }
    expect(readFileSync(cp.kcmLog, "utf8")).not.toMatch(/Unauthorized/);
    const after = JSON.parse((await kpki("certs", "check-expiration", "--dir", dir, "-o", "json")).stdout) as { certificates: { name: string; expirationDate: string }[] };
    for (const c of after.certificates) {
      const old = before.certificates.find((b) => b.name === c.name)!;
      expect(Date.parse(c.expirationDate), c.name).toBeGreaterThan(Date.parse(old.expirationDate));
    }
    await cp.stop();
  });

  it("generate-csr, sign with an external CA, place the certificates: the control plane starts on them", { timeout: 240_000 }, async () => {
    const ca = join(work, "external-ca");
    const dir = join(work, "external");
    const apiPort = await freePort();
    // The external CA: three standalone CAs made with kpki ca create.
    await kpki("ca", "create", "--out-dir", join(ca, "pki"), "--name", "ca", "--algorithm", "ECDSA-P256");
    await kpki("ca", "create", "--out-dir", join(ca, "pki"), "--name", "front-proxy-ca", "--algorithm", "ECDSA-P256");
    await kpki("ca", "create", "--out-dir", join(ca, "pki/etcd"), "--name", "ca", "--common-name", "etcd-ca", "--algorithm", "ECDSA-P256");
    // The cluster gets the CA certificates only, then keys and CSRs.
    mkdirSync(join(dir, "pki/etcd"), { recursive: true });
    for (const f of ["ca.crt", "front-proxy-ca.crt", "etcd/ca.crt"]) cpSync(join(ca, "pki", f), join(dir, "pki", f));
    const flags = ["--dir", dir, "--node-name", "kpki-ext", "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort), "--encryption-algorithm", "ECDSA-P256"];
    await kpki("certs", "generate-csr", ...flags);
    for (const [base, profile] of [["apiserver", "apiserver"], ["apiserver-kubelet-client", "apiserver-kubelet-client"], ["front-proxy-client", "front-proxy-client"],
      ["etcd/server", "etcd-server"], ["etcd/peer", "etcd-peer"], ["etcd/healthcheck-client", "etcd-healthcheck-client"], ["apiserver-etcd-client", "apiserver-etcd-client"]]) {
      await kpki("certs", "sign", "--csr", join(dir, `pki/${base}.csr`), "--profile", profile!, "--cert-dir", join(ca, "pki"), "--out", join(dir, `pki/${base}.crt`));
    }
    for (const conf of ["admin.conf", "super-admin.conf", "kubelet.conf", "controller-manager.conf", "scheduler.conf"]) {
      await kpki("certs", "sign", "--csr", join(dir, `${conf}.csr`), "--profile", conf, "--cert-dir", join(ca, "pki"), "--kubeconfig", join(dir, conf));
    }
    // The service-account key pair is the operator's in external-CA mode (kubeadm: "Using existing sa keys").
    execFileSync("openssl", ["genrsa", "-out", join(dir, "pki/sa.key"), "2048"], { stdio: "ignore" });
    execFileSync("openssl", ["rsa", "-in", join(dir, "pki/sa.key"), "-pubout", "-out", join(dir, "pki/sa.pub")], { stdio: "ignore" });
    // kpki init accepts it as kubeadm would: external CA, everything present and valid, nothing written.
    const init = await kpki("init", ...flags.filter((f) => f !== "--encryption-algorithm" && f !== "ECDSA-P256"));
    expect(init.stdout).toContain("[certs] Using existing ca keyless certificate authority");
    expect(init.stdout).toContain("[certs] Using existing apiserver certificate and key on disk");
    expect(init.stdout).toContain("[kubeconfig] External CA mode: Using user provided admin.conf");
    const cpWork = join(work, "external-run");
    mkdirSync(cpWork);
    const cp = await controlPlane(bins(), { dir, work: cpWork, apiPort, etcdMembers: 1, controllerManager: false });
    running.push(cp);
    await cp.start();
    const r = await kubectl(["--kubeconfig", join(dir, "super-admin.conf"), "get", "ns", "default", "-o", "name"]);
    expect(r.stdout.trim(), r.stderr).toBe("namespace/default");
    const sched = await kubectl(["--kubeconfig", join(dir, "scheduler.conf"), "get", "pods", "-A"]);
    expect(sched.code, sched.stderr).toBe(0);
    await cp.stop();
  });
});
