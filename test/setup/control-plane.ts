/**
 * Vitest global setup: one real control plane per test run, on a PKI written by
 * the kpki CLI itself — a 3-member etcd cluster with mutual TLS, kube-apiserver
 * and kube-controller-manager (v1.20.2, built by scripts/setup-testenv.sh). All
 * listen on 127.0.0.1 on ports picked free, and are stopped by PID at the end.
 * Without the binaries the interop tests skip with a printed reason, except
 * under CI=true, where this setup fails instead.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { controlPlane } from "../helpers/control-plane.js";
import { findBinary, isCi } from "../helpers/testenv.js";
import { freePort } from "../helpers/procs.js";

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
  const apiPort = await freePort();
  const dir = join(work, "cluster");
  const foreignDir = join(work, "foreign");
  // The PKI under test, written by the kpki CLI with kubeadm's defaults (RSA-2048).
  execFileSync(process.execPath, [KPKI, "init", "--dir", dir, "--node-name", NODE_NAME,
    "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort)], { stdio: "pipe" });
  execFileSync(process.execPath, [KPKI, "init", "--dir", foreignDir, "--node-name", NODE_NAME,
    "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort), "--encryption-algorithm", "ECDSA-P256"], { stdio: "pipe" });
  const cp = await controlPlane(
    { etcd: paths.etcd!, kubeApiserver: paths["kube-apiserver"]!, kubeControllerManager: paths["kube-controller-manager"]! },
    { dir, work, apiPort, etcdMembers: 3, controllerManager: true },
  );
  try {
    await cp.start();
  } catch (error) {
    console.error(`control plane failed to start; logs kept in ${work}`);
    throw error;
  }
  project.provide("controlPlane", {
    work, dir, foreignDir,
    etcdClientUrls: cp.etcdClientUrls, etcdLogs: cp.etcdLogs,
    apiserverUrl: cp.apiserverUrl, apiserverLog: cp.apiserverLog, kcmLog: cp.kcmLog, nodeName: NODE_NAME,
    kubectl: paths.kubectl!, etcdctl: paths.etcdctl!, kpki: KPKI,
  });
  return async () => {
    await cp.stop();
    if (!process.env["KPKI_KEEP_WORK"]) rmSync(work, { recursive: true, force: true });
  };
}
