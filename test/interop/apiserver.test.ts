import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";
import { kubectl as runKubectl } from "../helpers/kubectl.js";

const run = promisify(execFile);
const cp = inject("controlPlane");

const kubectl = (args: string[]) => runKubectl(args, undefined, cp.kubectl);

const conf = (name: string): string => join(cp.dir, name);

describe.skipIf(cp.skip)("a real kube-apiserver and kube-controller-manager on kpki's PKI", () => {
  const pki = join(cp.dir, "pki");

  it("kubectl with super-admin.conf lists namespaces", async () => {
    const r = await kubectl(["--kubeconfig", conf("super-admin.conf"), "get", "ns", "-o", "name"]);
    expect(r.stderr).not.toMatch(/Unauthorized|x509/);
    expect(r.stdout.split("\n")).toEqual(expect.arrayContaining(["namespace/default", "namespace/kube-system"]));
  });

  it("admin.conf is forbidden until the kubeadm:cluster-admins binding exists, then works", async () => {
    const before = await kubectl(["--kubeconfig", conf("admin.conf"), "get", "ns"]);
    expect(before.code).not.toBe(0);
    expect(before.stderr).toContain('User "kubernetes-admin" cannot list resource "namespaces"');
    const bind = await kubectl(["--kubeconfig", conf("super-admin.conf"), "create", "clusterrolebinding", "kubeadm:cluster-admins",
      "--clusterrole=cluster-admin", "--group=kubeadm:cluster-admins"]);
    expect(bind.stderr).toBe("");
    const after = await kubectl(["--kubeconfig", conf("admin.conf"), "get", "ns", "-o", "name"]);
    expect(after.code).toBe(0);
    expect(after.stdout).toContain("namespace/kube-system");
  });

  it("a client certificate from another kpki CA gets 401", async () => {
    const r = await kubectl(["--kubeconfig", join(cp.foreignDir, "super-admin.conf"), "--server", cp.apiserverUrl,
      "--certificate-authority", join(pki, "ca.crt"), "get", "ns"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Unauthorized");
  });

  it("scheduler.conf and kubelet.conf authenticate as their users", async () => {
    const sched = await kubectl(["--kubeconfig", conf("scheduler.conf"), "get", "pods", "-A", "-o", "name"]);
    expect(sched.code, sched.stderr).toBe(0);
    const kubelet = await kubectl(["--kubeconfig", conf("kubelet.conf"), "get", "node", cp.nodeName]);
    // Authenticated as system:node:<name> and authorised by the Node authorizer: the node just doesn't exist yet.
    expect(kubelet.stderr).toContain(`nodes "${cp.nodeName}" not found`);
  });

  it("kube-controller-manager runs on controller-manager.conf without authentication errors", () => {
    const log = readFileSync(cp.kcmLog, "utf8");
    expect(log).toContain("Caches are synced for certificate-csrsigning-kubelet-serving");
    expect(log).not.toMatch(/Unauthorized|x509: certificate/);
  });

  it("service-account tokens are signed with sa.key and verified with sa.pub", async () => {
    const sa = `kpki-sa-${Date.now()}`;
    expect((await kubectl(["--kubeconfig", conf("super-admin.conf"), "-n", "default", "create", "serviceaccount", sa])).code).toBe(0);
    const token = await kubectl(["--kubeconfig", conf("super-admin.conf"), "-n", "default", "create", "token", sa]);
    expect(token.code, token.stderr).toBe(0);
    const who = await kubectl(["--server", cp.apiserverUrl, "--certificate-authority", join(pki, "ca.crt"),
      "--token", token.stdout.trim(), "get", "ns"]);
    expect(who.stderr).toContain(`User "system:serviceaccount:default:${sa}" cannot list resource "namespaces"`);
  });

  it("front-proxy-client, trusted through front-proxy-ca, may assert a user", async () => {
    const body = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${cp.apiserverUrl}/api/v1/namespaces`, {
        ca: readFileSync(join(pki, "ca.crt")),
        cert: readFileSync(join(pki, "front-proxy-client.crt")),
        key: readFileSync(join(pki, "front-proxy-client.key")),
        headers: { "X-Remote-User": "kpki-proxied-user", "X-Remote-Group": "kpki-proxied" },
      }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on("error", reject);
      req.end();
    });
    expect(body.status).toBe(403);
    expect(body.text).toContain('User \\"kpki-proxied-user\\" cannot list resource \\"namespaces\\"');
  });
});

describe.skipIf(cp.skip)("kpki's expiry report on the running control plane's PKI", () => {
  it("is complete: kubeadm's 11 certificates and 3 CAs, and every file chains and matches its key", async () => {
    const { stdout } = await run(process.execPath, [cp.kpki, "certs", "check-expiration", "--dir", cp.dir, "--verify", "--kubelet", "-o", "json"])
      .catch((e: { stdout: string }) => e);
    const report = JSON.parse(stdout) as {
      certificates: { name: string; missing: boolean; residualTime: number }[];
      certificateAuthorities: { name: string; missing: boolean }[];
      additionalCertificates: { name: string; chain: string; key: string; status: string }[];
    };
    expect(report.certificates.map((c) => c.name)).toEqual([
      "admin.conf", "apiserver", "apiserver-etcd-client", "apiserver-kubelet-client", "controller-manager.conf", "etcd-healthcheck-client",
      "etcd-peer", "etcd-server", "front-proxy-client", "scheduler.conf", "super-admin.conf",
    ]);
    expect(report.certificates.every((c) => !c.missing && c.residualTime > 360 * 86_400)).toBe(true);
    expect(report.certificateAuthorities.map((c) => [c.name, c.missing])).toEqual([["ca", false], ["etcd-ca", false], ["front-proxy-ca", false]]);
    const files = report.additionalCertificates.filter((r) => !r.name.includes("kubelet-client-current") && !r.name.endsWith("kubelet.crt"));
    expect(files.map((r) => r.status).filter((s) => s !== "OK")).toEqual([]);
    expect(files.filter((r) => r.name.endsWith(".crt") || r.name.includes(" user ")).every((r) => r.key === "match")).toBe(true);
    expect(files.every((r) => r.chain === "ok" || r.chain === "self-signed")).toBe(true);
    // kubelet.conf (written by init, left out of kubeadm's report) is there with --kubelet.
    expect(files.map((r) => r.name)).toContain(`${cp.dir}/kubelet.conf user system:node:${cp.nodeName}`);
  });
});
