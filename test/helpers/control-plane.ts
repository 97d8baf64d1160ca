/**
 * Starting real etcd, kube-apiserver and kube-controller-manager on a kpki
 * cluster folder (kubeconfigs in `dir`, certificates in `dir/pki`), all on
 * 127.0.0.1 and ports picked free, stopped by PID. Used by the vitest global
 * setup (one shared control plane) and by tests that need their own (renewal
 * with restarts, an external-CA cluster, a real kubelet in a network namespace).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { freePort, startProcess, stopProcess, waitFor } from "./procs.js";

export interface Binaries {
  readonly etcd: string;
  readonly kubeApiserver: string;
  readonly kubeControllerManager: string;
}

export interface ControlPlaneOptions {
  /** The kpki cluster folder: kubeconfigs here, certificates in pki/. */
  readonly dir: string;
  /** Scratch folder for logs and etcd data. */
  readonly work: string;
  readonly apiPort: number;
  readonly etcdMembers: 1 | 3;
  /** kube-controller-manager signing kubelet-serving CSRs with pki/ca.{crt,key}; off for an external CA. */
  readonly controllerManager: boolean;
  /**
   * The address kube-apiserver publishes in the `kubernetes` Endpoints (with the lease endpoint
   * reconciler). Default: none published (127.0.0.1 is not a valid endpoint); it still listens on
   * 127.0.0.1 only.
   */
  readonly advertiseAddress?: string;
  /**
   * The address kube-apiserver listens on (and apiserverUrl names). Default 127.0.0.1. A kubelet in
   * a network namespace reaches it on the host end of its veth pair.
   */
  readonly bindAddress?: string;
  /**
   * kube-apiserver verifies the serving certificate of every kubelet it calls against pki/ca.crt and
   * dials the Node's InternalIP (no DNS lookup of its name). Default: off, as before.
   */
  readonly verifyKubelets?: boolean;
  /** kube-controller-manager's --controllers. Default: csrsigning,csrcleaner. */
  readonly controllers?: readonly string[];
  /**
   * kube-controller-manager's --experimental-cluster-signing-duration (the 1.20 name), e.g. "8m".
   * The 1.20 signer backdates notBefore by 5 minutes (pkg/controller/certificates/signer), so a
   * certificate is valid for this duration minus 5 minutes after it is issued. Default: kcm's (1 year).
   */
  readonly signingDuration?: string;
  /**
   * kube-controller-manager signs service account tokens with pki/sa.key
   * (--service-account-private-key-file), which its serviceaccount-token controller needs to put a
   * token and ca.crt in each service account's Secret for pods. Default: off, as before.
   */
  readonly serviceAccountTokens?: boolean;
  /**
   * The pair kube-controller-manager signs with (--cluster-signing-cert-file, --cluster-signing-key-file),
   * read at each start. Default: pki/ca.crt and pki/ca.key.
   */
  readonly kcmSigningFiles?: () => { readonly cert: string; readonly key: string };
  /**
   * kube-controller-manager authenticates and authorizes its secure port's clients as kubeadm's manifest
   * sets it up: --client-ca-file=pki/ca.crt, --requestheader-client-ca-file=pki/front-proxy-ca.crt, and
   * controller-manager.conf for delegation. Default: off, as before.
   */
  readonly kcmAuthentication?: boolean;
  /** Also run kube-scheduler (this binary) with kubeadm's flags and scheduler.conf, on 127.0.0.1. Default: none. */
  readonly scheduler?: string;
}

export interface ControlPlane {
  readonly etcdClientUrls: readonly string[];
  readonly etcdLogs: readonly string[];
  readonly apiserverUrl: string;
  readonly apiserverLog: string;
  readonly kcmLog: string;
  /** kube-controller-manager's and kube-scheduler's secure ports (https://127.0.0.1:PORT). */
  readonly kcmUrl: string;
  readonly schedulerUrl: string;
  /** Starts every component (again, on the same data, after stop()). */
  start(): Promise<void>;
  /** Stops what this object started, by PID, in reverse order. */
  stop(): Promise<void>;
  /** What runs now: each started process's name and PID (for CPU accounting in the bench). */
  running(): { name: string; pid: number }[];
  /** Stops kube-apiserver alone (SIGTERM, by PID), waits `downMs`, starts it again and waits for /readyz. */
  pauseApiserver(downMs: number): Promise<void>;
  /** Stops kube-controller-manager alone (SIGTERM, by PID); the rest keeps running. */
  stopControllerManager(): Promise<void>;
  /** Starts kube-controller-manager again (as start() does) and waits for its signer's caches. */
  startControllerManager(): Promise<void>;
  /**
   * Stops one component by PID and starts it again as start() does, waiting until it serves
   * (etcd: /health; kube-apiserver: /readyz; kcm: its signer's caches; kube-scheduler: /healthz).
   * Returns the milliseconds from the stop signal to serving again.
   */
  restart(name: "kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | `etcd m${number}`): Promise<number>;
}

/** GET over mutual TLS with a client certificate and key from files. */
export function httpsGet(url: string, caFile: string, certFile: string, keyFile: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: readFileSync(caFile), cert: readFileSync(certFile), key: readFileSync(keyFile), timeout: 2000 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Writes a kubeconfig's embedded client certificate and key next to it (for https requests outside kubectl). */
export function extractClient(dir: string, conf: string): { cert: string; key: string } {
  const text = readFileSync(join(dir, conf), "utf8");
  const field = (name: string): string => {
    const m = new RegExp(`${name}: (\\S+)`).exec(text);
    if (!m?.[1]) throw new Error(`${conf} has no ${name}`);
    return Buffer.from(m[1], "base64").toString("utf8");
  };
  const cert = join(dir, `${conf}.client.crt`);
  const key = join(dir, `${conf}.client.key`);
  writeFileSync(cert, field("client-certificate-data"));
  writeFileSync(key, field("client-key-data"), { mode: 0o600 });
  return { cert, key };
}

/** Prepares (ports, folders) a control plane; nothing runs until start(). */
export async function controlPlane(bin: Binaries, opts: ControlPlaneOptions): Promise<ControlPlane> {
  const { dir, work, apiPort } = opts;
  const pki = join(dir, "pki");
  const n = opts.etcdMembers;
  const ports = await Promise.all(Array.from({ length: 3 * n + 2 }, () => freePort()));
  const members = Array.from({ length: n }, (_, i) => ({
    name: `m${i}`,
    client: `https://127.0.0.1:${ports[i]}`,
    peer: `https://127.0.0.1:${ports[n + i]}`,
    metrics: `http://127.0.0.1:${ports[2 * n + i]}`,
    log: join(work, `etcd-m${i}.log`),
  }));
  const kcmPort = ports[3 * n] ?? 0;
  const schedulerPort = ports[3 * n + 1] ?? 0;
  const schedulerLog = join(work, "kube-scheduler.log");
  const bindAddress = opts.bindAddress ?? "127.0.0.1";
  const apiserverUrl = `https://${bindAddress}:${apiPort}`;
  const apiserverLog = join(work, "kube-apiserver.log");
  const kcmLog = join(work, "kube-controller-manager.log");
  mkdirSync(join(work, "kcm-certs"), { recursive: true });
  const pids: number[] = [];
  const names = new Map<number, string>();
  const track = (pid: number | undefined, name: string): void => {
    if (pid === undefined) return;
    pids.push(pid);
    names.set(pid, name);
  };

  const stop = async (): Promise<void> => {
    while (pids.length) await stopProcess(pids.pop(), "SIGTERM", 5000);
  };

  // kube-apiserver with kubeadm's static-pod flags, every file from the cluster folder.
  const startApiserver = async (): Promise<number | undefined> => {
    const api = startProcess(bin.kubeApiserver, [
      `--advertise-address=${opts.advertiseAddress ?? "127.0.0.1"}`, `--bind-address=${bindAddress}`, `--secure-port=${apiPort}`, "--insecure-port=0",
      "--allow-privileged=true", "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
      `--client-ca-file=${join(pki, "ca.crt")}`, "--enable-bootstrap-token-auth=true",
      `--etcd-cafile=${join(pki, "etcd/ca.crt")}`, `--etcd-certfile=${join(pki, "apiserver-etcd-client.crt")}`,
      `--etcd-keyfile=${join(pki, "apiserver-etcd-client.key")}`, `--etcd-servers=${members.map((m) => m.client).join(",")}`,
      `--kubelet-client-certificate=${join(pki, "apiserver-kubelet-client.crt")}`, `--kubelet-client-key=${join(pki, "apiserver-kubelet-client.key")}`,
      ...(opts.verifyKubelets ? [`--kubelet-certificate-authority=${join(pki, "ca.crt")}`, "--kubelet-preferred-address-types=InternalIP"] : []),
      `--proxy-client-cert-file=${join(pki, "front-proxy-client.crt")}`, `--proxy-client-key-file=${join(pki, "front-proxy-client.key")}`,
      "--requestheader-allowed-names=front-proxy-client", `--requestheader-client-ca-file=${join(pki, "front-proxy-ca.crt")}`,
      "--requestheader-extra-headers-prefix=X-Remote-Extra-", "--requestheader-group-headers=X-Remote-Group",
      "--requestheader-username-headers=X-Remote-User",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${join(pki, "sa.pub")}`, `--service-account-signing-key-file=${join(pki, "sa.key")}`,
      "--service-cluster-ip-range=10.96.0.0/12",
      `--tls-cert-file=${join(pki, "apiserver.crt")}`, `--tls-private-key-file=${join(pki, "apiserver.key")}`,
      `--endpoint-reconciler-type=${opts.advertiseAddress ? "lease" : "none"}`, `--cert-dir=${join(work, "apiserver-certs")}`, "--v=1",
    ], apiserverLog);
    const superAdmin = extractClient(dir, "super-admin.conf");
    const exited = (): boolean => api.exitCode !== null || api.signalCode !== null;
    await waitFor("kube-apiserver /readyz", async () => {
      if (exited()) throw new Error(`kube-apiserver exited (${api.exitCode ?? api.signalCode}); see ${apiserverLog}`);
      const res = await httpsGet(`${apiserverUrl}/readyz`, join(pki, "ca.crt"), superAdmin.cert, superAdmin.key);
      return res.status === 200 && res.body === "ok";
    }, 60_000, 250).catch(async (error: unknown) => {
      await stopProcess(api.pid, "SIGTERM", 5000);
      throw error;
    });
    return api.pid;
  };

  /** Stops the running process called `name`; returns where it stood in `pids` (stop order). */
  const stopNamed = async (name: string): Promise<number> => {
    const i = pids.findIndex((pid) => names.get(pid) === name);
    if (i < 0) throw new Error(`${name} is not running`);
    const pid = pids[i];
    await stopProcess(pid, "SIGTERM", 5000);
    if (pid !== undefined) names.delete(pid);
    pids.splice(i, 1);
    return i;
  };

  const pauseApiserver = async (downMs: number): Promise<void> => {
    const i = await stopNamed("kube-apiserver");
    await new Promise((r) => setTimeout(r, downMs));
    const pid = await startApiserver();
    if (pid === undefined) throw new Error("kube-apiserver did not start");
    pids.splice(i, 0, pid);
    names.set(pid, "kube-apiserver");
  };

  // kube-controller-manager, waiting until its kubelet-serving signer's caches are synced.
  const startKcm = async (): Promise<void> => {
    const logStart = (() => {
      try {
        return readFileSync(kcmLog, "utf8").length;
      } catch {
        return 0;
      }
    })();
    const kcm = startProcess(bin.kubeControllerManager, [
      `--kubeconfig=${join(dir, "controller-manager.conf")}`, "--use-service-account-credentials=true",
      "--bind-address=127.0.0.1", `--secure-port=${kcmPort}`, "--port=0", `--cert-dir=${join(work, "kcm-certs")}`,
      "--leader-elect=false", `--controllers=${(opts.controllers ?? ["csrsigning", "csrcleaner"]).join(",")}`,
      ...(opts.signingDuration ? [`--experimental-cluster-signing-duration=${opts.signingDuration}`] : []),
      ...(opts.serviceAccountTokens ? [`--service-account-private-key-file=${join(pki, "sa.key")}`] : []),
      ...(() => {
        const signing = opts.kcmSigningFiles?.() ?? { cert: join(pki, "ca.crt"), key: join(pki, "ca.key") };
        return [`--cluster-signing-cert-file=${signing.cert}`, `--cluster-signing-key-file=${signing.key}`];
      })(),
      ...(opts.kcmAuthentication ? [`--authentication-kubeconfig=${join(dir, "controller-manager.conf")}`, `--authorization-kubeconfig=${join(dir, "controller-manager.conf")}`,
        `--client-ca-file=${join(pki, "ca.crt")}`, `--requestheader-client-ca-file=${join(pki, "front-proxy-ca.crt")}`] : []),
      `--root-ca-file=${join(pki, "ca.crt")}`, "--v=2",
    ], kcmLog);
    track(kcm.pid, "kube-controller-manager");
    await waitFor("kube-controller-manager caches", () =>
      readFileSync(kcmLog, "utf8").slice(logStart).includes("Caches are synced for certificate-csrsigning-kubelet-serving"), 60_000, 100);
  };

  const stopControllerManager = async (): Promise<void> => {
    await stopNamed("kube-controller-manager");
  };

  const startControllerManager = async (): Promise<void> => {
    if (!opts.controllerManager) throw new Error("this control plane runs without kube-controller-manager");
    if (pids.some((pid) => names.get(pid) === "kube-controller-manager")) throw new Error("kube-controller-manager is already running");
    await startKcm();
  };

  const initialCluster = members.map((m) => `${m.name}=${m.peer}`).join(",");
  const startEtcd = (m: (typeof members)[number]): void => {
    const child = startProcess(bin.etcd, [
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
    track(child.pid, `etcd ${m.name}`);
  };
  const etcdHealthy = (m: (typeof members)[number]): Promise<void> =>
    waitFor(`etcd ${m.name} /health`, async () => {
      const res = await fetch(`${m.metrics}/health`).catch(() => undefined);
      return res !== undefined && res.ok && (await res.text()).includes('"true"');
    }, 30_000);

  // kube-scheduler with kubeadm's flags (its clients' CA comes from kube-apiserver's extension-apiserver-authentication ConfigMap).
  const startScheduler = async (): Promise<void> => {
    if (!opts.scheduler) return;
    const conf = join(dir, "scheduler.conf");
    const child = startProcess(opts.scheduler, [`--kubeconfig=${conf}`, `--authentication-kubeconfig=${conf}`, `--authorization-kubeconfig=${conf}`,
      "--bind-address=127.0.0.1", `--secure-port=${schedulerPort}`, "--port=0", "--leader-elect=false", `--cert-dir=${join(work, "scheduler-certs")}`, "--v=1"], schedulerLog);
    track(child.pid, "kube-scheduler");
    await waitFor("kube-scheduler /healthz", async () => {
      if (child.exitCode !== null) throw new Error(`kube-scheduler exited (${child.exitCode}); see ${schedulerLog}`);
      return new Promise<boolean>((resolveCheck) => {
        const req = request(`https://127.0.0.1:${schedulerPort}/healthz`, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
          res.resume();
          resolveCheck(res.statusCode === 200);
        });
        req.on("error", () => resolveCheck(false));
        req.end();
      });
    }, 60_000, 100);
  };

  const start = async (): Promise<void> => {
    try {
      for (const m of members) startEtcd(m);
      for (const m of members) await etcdHealthy(m);
      track(await startApiserver(), "kube-apiserver");
      if (opts.controllerManager) await startKcm();
      await startScheduler();
    } catch (error) {
      await stop();
      throw error;
    }
  };

  const restart: ControlPlane["restart"] = async (name) => {
    const begin = performance.now();
    const at = await stopNamed(name);
    // Put the new PID where the old one stood, so that stop() keeps its order.
    const before = pids.length;
    if (name === "kube-apiserver") track(await startApiserver(), name);
    else if (name === "kube-controller-manager") await startKcm();
    else if (name === "kube-scheduler") await startScheduler();
    else {
      const m = members.find((x) => `etcd ${x.name}` === name);
      if (!m) throw new Error(`no ${name}`);
      startEtcd(m);
      await etcdHealthy(m);
    }
    if (pids.length === before + 1) pids.splice(at, 0, pids.pop()!);
    return performance.now() - begin;
  };

  return { etcdClientUrls: members.map((m) => m.client), etcdLogs: members.map((m) => m.log), apiserverUrl, apiserverLog, kcmLog,
    kcmUrl: `https://127.0.0.1:${kcmPort}`, schedulerUrl: `https://127.0.0.1:${schedulerPort}`, start, stop,
    running: () => pids.map((pid) => ({ name: names.get(pid) ?? "?", pid })), pauseApiserver, stopControllerManager, startControllerManager, restart };
}
