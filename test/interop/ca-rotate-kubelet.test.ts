/**
 * `kpki ca rotate` with a real kubelet v1.20.2 on the node whose files kpki rotates, as on kubeadm's
 * control-plane node after kubelet-finalize: the kubelet's TLS bootstrap writes the cluster folder's
 * kubelet.conf (naming kubelet-client-current.pem), its clientCAFile is pki/ca.crt, its serving
 * certificate comes from kube-controller-manager (serverTLSBootstrap), and kube-apiserver verifies it
 * against pki/ca.crt. At each boundary, after the restarts the plan names: the kubelet reaches
 * kube-apiserver (a Node lease renewed after its restart), and kube-apiserver reaches the kubelet
 * (proxy/healthz: the kubelet checks kube-apiserver's client certificate, kube-apiserver the
 * kubelet's serving one). After finalize the kubelet's old client certificate is refused.
 */
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSignedBy, parseCertificatesPem } from "../../src/pki/cert.js";
import { crypto } from "../helpers/clock.js";
import { controlPlane, type ControlPlane } from "../helpers/control-plane.js";
import { kubectl } from "../helpers/kubectl.js";
import { freePort, teardown, waitFor } from "../helpers/procs.js";
import { findBinary, missingBinaries } from "../helpers/testenv.js";
import { bootstrapToken, createNodeNetwork, kubeadmBootstrapObjects, startWorkerNode, workerNodeUnsupported, type NodeNetwork, type WorkerNode } from "../helpers/worker-node.js";

const run = promisify(execFile);
const KPKI = resolve(import.meta.dirname, "../../dist/bin/kpki.js");
const skip = missingBinaries("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "kubelet", "containerd", "runc", "curl") ?? workerNodeUnsupported();
const work = mkdtempSync(join(tmpdir(), "kpki-rotate-kubelet-"));
const dir = join(work, "cluster");
const pki = join(dir, "pki");
const NODE = "kpki-rotate-node";
const token = bootstrapToken();
let network: NodeNetwork | undefined;
let cp: ControlPlane | undefined;
let node: WorkerNode | undefined;
const timings: string[] = [];

const kpki = (...args: string[]) => run(process.execPath, [KPKI, ...args], { maxBuffer: 16 << 20 });
const admin = (...args: string[]) => kubectl(["--kubeconfig", join(dir, "super-admin.conf"), ...args]);
const manifest = join(dir, "manifests", "kube-controller-manager.yaml");
function kcmSigningFiles(): { cert: string; key: string } {
  const text = readFileSync(manifest, "utf8");
  const flag = (name: string) => new RegExp(`--${name}=(\\S+)`).exec(text)?.[1] ?? "";
  return { cert: flag("cluster-signing-cert-file"), key: flag("cluster-signing-key-file") };
}

/** The kubelet's side of the matrix; returns the failures (none expected). */
async function kubeletMatrix(since: Date): Promise<string[]> {
  const failures: string[] = [];
  // kubelet -> kube-apiserver: its Node lease is renewed after `since` (client certificate accepted, kube-apiserver's trusted).
  await waitFor("the kubelet's lease renewed", async () => {
    const r = await admin("get", "lease", NODE, "-n", "kube-node-lease", "-o", "jsonpath={.spec.renewTime}");
    return r.code === 0 && Date.parse(r.stdout) > since.getTime() - 1000;
  }, 60_000, 500).catch((error: Error) => failures.push(`kubelet -> kube-apiserver: ${error.message}`));
  // kube-apiserver -> kubelet: proxy/healthz.
  let proxied = { code: 1, stdout: "", stderr: "" };
  await waitFor("proxy/healthz", async () => {
    proxied = await admin("get", "--raw", `/api/v1/nodes/${NODE}/proxy/healthz`);
    return proxied.code === 0 && proxied.stdout === "ok";
  }, 30_000, 250).catch(() => failures.push(`kube-apiserver -> kubelet: ${proxied.stderr.trim() || proxied.stdout}`));
  return failures;
}

/** Restarts etcd, kube-apiserver, kube-controller-manager and the kubelet, recording how long each was down. */
async function restartAll(stage: string): Promise<Date> {
  for (const name of ["etcd m0", "kube-apiserver", "kube-controller-manager"] as const) timings.push(`${stage}: ${name} down ${Math.round(await cp!.restart(name))} ms`);
  const at = new Date();
  timings.push(`${stage}: kubelet down ${Math.round(await node!.restartKubelet())} ms`);
  return at;
}

const issuedBy = async (pemFile: string, caFile: string, index: number): Promise<boolean> =>
  isSignedBy(parseCertificatesPem(readFileSync(pemFile, "utf8"))[0]!, parseCertificatesPem(readFileSync(caFile, "utf8"))[index]!, crypto);

/** An HTTPS status with a client certificate and key (PEM files). */
function status(url: string, ca: string, certKey: string): Promise<number | string> {
  return new Promise((done) => {
    const pem = readFileSync(certKey);
    const req = request(url, { ca: readFileSync(ca), cert: pem, key: pem, timeout: 5000 }, (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    req.on("error", (error) => done(error.message));
    req.end();
  });
}

describe.skipIf(skip)("kpki ca rotate with a real kubelet on the rotated node", () => {
  beforeAll(async () => {
    network = createNodeNetwork();
    const apiPort = await freePort();
    await kpki("init", "--dir", dir, "--node-name", NODE, "--apiserver-advertise-address", network.hostAddress, "--apiserver-bind-port", String(apiPort),
      "--encryption-algorithm", "ECDSA-P256");
    mkdirSync(join(dir, "manifests"));
    writeFileSync(manifest, ["spec:", "  containers:", "  - command:", "    - kube-controller-manager", `    - --cluster-signing-cert-file=${pki}/ca.crt`,
      `    - --cluster-signing-key-file=${pki}/ca.key`, ""].join("\n"));
    const cpWork = join(work, "cp");
    mkdirSync(cpWork);
    cp = await controlPlane({ etcd: findBinary("etcd")!, kubeApiserver: findBinary("kube-apiserver")!, kubeControllerManager: findBinary("kube-controller-manager")! }, {
      dir, work: cpWork, apiPort, etcdMembers: 1, controllerManager: true, kcmSigningFiles,
      advertiseAddress: network.hostAddress, bindAddress: network.hostAddress, verifyKubelets: true, controllers: ["csrsigning", "csrapproving", "csrcleaner"],
    });
    await cp.start();
    for (const o of kubeadmBootstrapObjects(token)) {
      const r = await kubectl(["--kubeconfig", join(dir, "super-admin.conf"), "apply", "-f", "-"], JSON.stringify(o));
      expect(r.code, r.stderr).toBe(0);
    }
    const boot = await kpki("kubeconfig", "user", "--client-name", "tls-bootstrap-token-user", "--token", `${token.id}.${token.secret}`,
      "--dir", dir, "--apiserver-advertise-address", network.hostAddress, "--apiserver-bind-port", String(apiPort));
    writeFileSync(join(work, "bootstrap-kubelet.conf"), boot.stdout, { mode: 0o600 });
    // The kubelet's TLS bootstrap writes the cluster folder's kubelet.conf, as after kubeadm's kubelet-finalize.
    rmSync(join(dir, "kubelet.conf"));
    node = await startWorkerNode({ network, nodeName: NODE, work: join(work, "node"), kubelet: findBinary("kubelet")!, containerd: findBinary("containerd")!,
      clientCaFile: join(pki, "ca.crt"), bootstrapKubeconfig: join(work, "bootstrap-kubelet.conf"), kubeconfig: join(dir, "kubelet.conf") });
    // Its serving certificate: the kubelet-serving CSR, approved here, signed by kcm.
    await waitFor("the kubelet's serving certificate", async () => {
      const r = await admin("get", "csr", "-o", "jsonpath={range .items[?(@.spec.signerName==\"kubernetes.io/kubelet-serving\")]}{.metadata.name} {end}");
      for (const name of r.stdout.trim().split(/\s+/).filter(Boolean)) await admin("certificate", "approve", name);
      return readFileSync(join(node!.pkiDir, "kubelet-server-current.pem"), "utf8").includes("BEGIN CERTIFICATE");
    }, 90_000, 500).catch((error: Error) => {
      throw new Error(`${error.message}; kubelet log:\n${readFileSync(node!.kubeletLog, "utf8").split("\n").slice(-20).join("\n")}`);
    });
    expect(readFileSync(join(dir, "kubelet.conf"), "utf8")).toContain(`client-certificate: ${join(node.pkiDir, "kubelet-client-current.pem")}`);
    copyFileSync(join(node.pkiDir, "kubelet-client-current.pem"), join(work, "old-kubelet-client.pem"));
  }, 300_000);

  afterAll(async () => {
    const { attempt, finish } = teardown(work);
    await attempt("worker node", () => node?.stop());
    await attempt("control plane", () => cp?.stop());
    await attempt("network", () => network?.remove());
    console.log(`ca rotate with a kubelet, timings:\n  ${timings.join("\n  ")}`);
    finish();
  }, 120_000);

  it("before, after trust, after reissue and after finalize, with the restarts: the kubelet and kube-apiserver reach each other; the kubelet's files are re-signed", async () => {
    expect(await kubeletMatrix(new Date(0))).toEqual([]);
    await kpki("ca", "rotate", "trust", "--dir", dir, "--ca", "ca");
    expect(await kubeletMatrix(await restartAll("trust"))).toEqual([]);

    const before = ["client", "server"].map((k) => readlinkSync(join(node!.pkiDir, `kubelet-${k}-current.pem`)));
    await kpki("ca", "rotate", "reissue", "--dir", dir, "--ca", "ca");
    for (const [i, k] of ["client", "server"].entries()) {
      const file = join(node!.pkiDir, `kubelet-${k}-current.pem`);
      expect(readlinkSync(file), k).not.toBe(before[i]);
      expect(await issuedBy(file, join(pki, "ca.crt"), 0), `${k} is signed by the new CA`).toBe(true);
    }
    expect(await kubeletMatrix(await restartAll("reissue"))).toEqual([]);

    await kpki("ca", "rotate", "finalize", "--dir", dir, "--ca", "ca");
    expect(await kubeletMatrix(await restartAll("finalize"))).toEqual([]);
    // The kubelet's client certificate of the old CA is refused now.
    expect(await status(`https://${network!.hostAddress}:${new URL(cp!.apiserverUrl).port}/api`, join(pki, "ca.crt"), join(work, "old-kubelet-client.pem"))).toBe(401);
  }, 600_000);
});
