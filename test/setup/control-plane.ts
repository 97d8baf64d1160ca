/**
 * Vitest global setup: one real control plane per test run, on a PKI written by
 * the kpki CLI itself — a 3-member etcd cluster with mutual TLS, kube-apiserver
 * and kube-controller-manager (v1.20.2, built by scripts/setup-testenv.sh). All
 * listen on 127.0.0.1 on ports picked free, and are stopped by PID at the end.
 * Without the binaries the interop tests skip with a printed reason, except
 * under CI=true, where this setup fails instead.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { findBinary, isCi } from "../helpers/testenv.js";
import { freePort, startProcess, stopProcess, waitFor } from "../helpers/procs.js";

export interface ControlPlaneInfo {
  /** Set when the real peers are missing (never under CI). */
  readonly skip?: string;
  readonly work: string;
  /** kubeconfigs here, certificates in `${dir}/pki` (kpki init --dir). */
  readonly dir: string;
  /** A second, unrelated kpki PKI: its certificates must be refused. */
  readonly foreignDir: string;
  readonly etcdClientUrls: readonly string[];
  readonly etcdLogs: readonly string[];
  readonly apiserverUrl: string;
  readonly apiserverLog: string;
  readonly kcmLog: string;
  readonly nodeName: string;
  readonly kubectl: string;
  readonly etcdctl: string;
  readonly kpki: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    controlPlane: ControlPlaneInfo;
  }
}

const ROOT = resolve(import.meta.dirname, "../..");
const KPKI = join(ROOT, "dist/bin/kpki.js");
const NODE_NAME = "kpki-e2e";

function httpsGet(url: string, pki: string, cert: string, key: string): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request(
      url,
      {
        ca: readFileSync(join(pki, "ca.crt")),
        cert: readFileSync(cert),
        key: readFileSync(key),
        timeout: 2000,
      },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolvePromise({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** A client cert for kubectl/https from a kubeconfig's embedded data, written next to it. */
function extractClient(dir: string, conf: string): { cert: string; key: string } {
  const text = readFileSync(join(dir, conf), "utf8");
  const field = (name: string): string => {
    const m = new RegExp(`${name}: (\\S+)`).exec(text);
    if (!m?.[1]) throw new Error(`${conf} has no ${name}`);
    return Buffer.from(m[1], "base64").toString("utf8");
  };
  const cert = join(dir, `${conf}.crt`);
  const key = join(dir, `${conf}.key`);
  writeFileSync(cert, field("client-certificate-data"));
  writeFileSync(key, field("client-key-data"), { mode: 0o600 });
  return { cert, key };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const binaries = ["etcd", "etcdctl", "kube-apiserver", "kube-controller-manager", "kubectl"] as const;
  const paths = Object.fromEntries(binaries.map((b) => [b, findBinary(b)])) as Record<(typeof binaries)[number], string | undefined>;
  const missing = binaries.filter((b) => !paths[b]);
  if (missing.length) {
    const reason = `missing real peer(s): ${missing.join(", ")} (run scripts/setup-testenv.sh)`;
    if (isCi()) throw new Error(`CI=true but ${reason}`);
    console.warn(`SKIP control plane: ${reason}`);
    project.provide("controlPlane", {
      skip: reason, work: "", dir: "", foreignDir: "", etcdClientUrls: [], etcdLogs: [], apiserverUrl: "", apiserverLog: "",
      kcmLog: "", nodeName: NODE_NAME, kubectl: "", etcdctl: "", kpki: KPKI,
    });
    return async () => undefined;
  }

  const work = mkdtempSync(join(tmpdir(), "kpki-cp-"));
  const pids: number[] = [];
  const stopAll = async (): Promise<void> => {
    // Reverse start order: controller-manager, apiserver, then etcd (SIGKILL: its data is thrown away).
    for (const pid of [...pids].reverse()) await stopProcess(pid, "SIGTERM", 5000);
  };
  try {
    const apiPort = await freePort();
    const kcmPort = await freePort();
    const etcdPorts = await Promise.all(Array.from({ length: 9 }, () => freePort()));
    const dir = join(work, "cluster");
    const foreignDir = join(work, "foreign");
    // The PKI under test, written by the kpki CLI with kubeadm's defaults (RSA-2048).
    execFileSync(process.execPath, [KPKI, "init", "--dir", dir, "--node-name", NODE_NAME,
      "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort)], { stdio: "pipe" });
    execFileSync(process.execPath, [KPKI, "init", "--dir", foreignDir, "--node-name", NODE_NAME,
      "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort), "--encryption-algorithm", "ECDSA-P256"], { stdio: "pipe" });
    const pki = join(dir, "pki");

    // etcd: three members, client and peer mutual TLS with kpki's etcd/server and etcd/peer.
    const members = [0, 1, 2].map((i) => ({
      name: `m${i}`,
      client: `https://127.0.0.1:${etcdPorts[i]}`,
      peer: `https://127.0.0.1:${etcdPorts[3 + i]}`,
      metrics: `http://127.0.0.1:${etcdPorts[6 + i]}`,
      log: join(work, `etcd-m${i}.log`),
    }));
    const initialCluster = members.map((m) => `${m.name}=${m.peer}`).join(",");
    for (const m of members) {
      const child = startProcess(paths.etcd!, [
        "--name", m.name, "--data-dir", join(work, `${m.name}.etcd`),
        "--listen-client-urls", m.client, "--advertise-client-urls", m.client,
        "--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
        "--listen-metrics-urls", m.metrics,
        "--initial-cluster", initialCluster, "--initial-cluster-state", "new", "--initial-cluster-token", "kpki-e2e",
        "--cert-file", join(pki, "etcd/server.crt"), "--key-file", join(pki, "etcd/server.key"),
        "--client-cert-auth", "--trusted-ca-file", join(pki, "etcd/ca.crt"),
        "--peer-cert-file", join(pki, "etcd/peer.crt"), "--peer-key-file", join(pki, "etcd/peer.key"),
        "--peer-client-cert-auth", "--peer-trusted-ca-file", join(pki, "etcd/ca.crt"),
        "--logger", "zap", "--log-outputs", "stderr",
      ], m.log);
      if (child.pid) pids.push(child.pid);
    }
    for (const m of members) {
      await waitFor(`etcd ${m.name} /health`, async () => {
        const res = await fetch(`${m.metrics}/health`);
        return res.ok && (await res.text()).includes('"true"');
      }, 30_000);
    }

    // kube-apiserver with kubeadm's static-pod flags, every file from kpki.
    const apiserverLog = join(work, "kube-apiserver.log");
    const api = startProcess(paths["kube-apiserver"]!, [
      "--advertise-address=127.0.0.1", "--bind-address=127.0.0.1", `--secure-port=${apiPort}`, "--insecure-port=0",
      "--allow-privileged=true", "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
      `--client-ca-file=${join(pki, "ca.crt")}`, "--enable-bootstrap-token-auth=true",
      `--etcd-cafile=${join(pki, "etcd/ca.crt")}`, `--etcd-certfile=${join(pki, "apiserver-etcd-client.crt")}`,
      `--etcd-keyfile=${join(pki, "apiserver-etcd-client.key")}`, `--etcd-servers=${members.map((m) => m.client).join(",")}`,
      `--kubelet-client-certificate=${join(pki, "apiserver-kubelet-client.crt")}`, `--kubelet-client-key=${join(pki, "apiserver-kubelet-client.key")}`,
      `--proxy-client-cert-file=${join(pki, "front-proxy-client.crt")}`, `--proxy-client-key-file=${join(pki, "front-proxy-client.key")}`,
      "--requestheader-allowed-names=front-proxy-client", `--requestheader-client-ca-file=${join(pki, "front-proxy-ca.crt")}`,
      "--requestheader-extra-headers-prefix=X-Remote-Extra-", "--requestheader-group-headers=X-Remote-Group",
      "--requestheader-username-headers=X-Remote-User",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${join(pki, "sa.pub")}`, `--service-account-signing-key-file=${join(pki, "sa.key")}`,
      "--service-cluster-ip-range=10.96.0.0/12",
      `--tls-cert-file=${join(pki, "apiserver.crt")}`, `--tls-private-key-file=${join(pki, "apiserver.key")}`,
      "--endpoint-reconciler-type=none", `--cert-dir=${join(work, "apiserver-certs")}`, "--v=1",
    ], apiserverLog);
    if (api.pid) pids.push(api.pid);
    const superAdmin = extractClient(dir, "super-admin.conf");
    const apiserverUrl = `https://127.0.0.1:${apiPort}`;
    await waitFor("kube-apiserver /readyz", async () => {
      const res = await httpsGet(`${apiserverUrl}/readyz`, pki, superAdmin.cert, superAdmin.key);
      return res.status === 200 && res.body === "ok";
    }, 40_000, 250);

    // kube-controller-manager on kpki's controller-manager.conf, signing with kpki's ca.crt/ca.key.
    const kcmLog = join(work, "kube-controller-manager.log");
    mkdirSync(join(work, "kcm-certs"));
    const kcm = startProcess(paths["kube-controller-manager"]!, [
      `--kubeconfig=${join(dir, "controller-manager.conf")}`, "--use-service-account-credentials=true",
      "--bind-address=127.0.0.1", `--secure-port=${kcmPort}`, "--port=0", `--cert-dir=${join(work, "kcm-certs")}`,
      "--leader-elect=false", "--controllers=csrsigning,csrcleaner",
      `--cluster-signing-cert-file=${join(pki, "ca.crt")}`, `--cluster-signing-key-file=${join(pki, "ca.key")}`,
      `--root-ca-file=${join(pki, "ca.crt")}`, "--v=2",
    ], kcmLog);
    if (kcm.pid) pids.push(kcm.pid);
    await waitFor("kube-controller-manager caches", () =>
      readFileSync(kcmLog, "utf8").includes("Caches are synced for certificate-csrsigning-kubelet-serving"), 60_000, 100);

    project.provide("controlPlane", {
      work, dir, foreignDir,
      etcdClientUrls: members.map((m) => m.client),
      etcdLogs: members.map((m) => m.log),
      apiserverUrl, apiserverLog, kcmLog, nodeName: NODE_NAME,
      kubectl: paths.kubectl!, etcdctl: paths.etcdctl!, kpki: KPKI,
    });
  } catch (error) {
    await stopAll();
    console.error(`control plane failed to start; logs kept in ${work}`);
    throw error;
  }
  return async () => {
    await stopAll();
    if (!process.env["KPKI_KEEP_WORK"]) rmSync(work, { recursive: true, force: true });
  };
}
