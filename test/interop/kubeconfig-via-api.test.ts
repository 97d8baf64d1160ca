/**
 * `kpki kubeconfig user --via-api` against a real kube-apiserver and kube-controller-manager
 * (v1.20.2, its csrsigning controller signing with the kpki cluster's ca.key), started here on free
 * ports and stopped by PID. kpki runs as a real process (dist/bin/kpki.js); other clients (kubectl)
 * approve, deny or fail its CSR while it waits.
 */
import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCertificatePem } from "../../src/pki/cert.js";
import { controlPlane, type ControlPlane } from "../helpers/control-plane.js";
import { freePort, waitFor } from "../helpers/procs.js";
import { findBinary, missingBinaries } from "../helpers/testenv.js";
import { kubectl } from "../helpers/kubectl.js";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");
const KPKI = join(ROOT, "dist/bin/kpki.js");
const skip = missingBinaries("etcd", "kube-apiserver", "kube-controller-manager", "kubectl");
const work = mkdtempSync(join(tmpdir(), "kpki-via-api-"));
const dir = join(work, "cluster");
let cp: ControlPlane | undefined;

const admin = (...args: string[]) => kubectl(["--kubeconfig", join(dir, "super-admin.conf"), ...args]);

interface Ran { code: number; stdout: string; stderr: string; ms: number }
/** Runs kpki as a process; `during` runs while it does (another client acting on its CSR). */
async function kpki(args: readonly string[], during?: () => Promise<void>): Promise<Ran> {
  const started = Date.now();
  const child = spawn(process.execPath, [KPKI, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, KUBECONFIG: "" } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number>((done) => child.on("close", (code) => done(code ?? -1)));
  if (during) await during();
  const code = await exited;
  return { code, stdout, stderr, ms: Date.now() - started };
}

/** The name of the one CSR kpki created for `user` (waits for it to appear). */
async function csrOf(user: string): Promise<string> {
  let name = "";
  await waitFor(`the CSR for ${user}`, async () => {
    const r = await admin("get", "csr", "-o", "name");
    name = r.stdout.split("\n").map((l) => l.replace(/^.*\//, "")).find((n) => n.startsWith(`kpki-${user}-`)) ?? "";
    return name !== "";
  }, 20_000, 50);
  return name;
}
const csrCount = async (): Promise<number> => (await admin("get", "csr", "-o", "name")).stdout.split("\n").filter((l) => l.trim()).length;

describe.skipIf(skip)("kpki kubeconfig user --via-api against a real kube-apiserver and kube-controller-manager", () => {
  beforeAll(async () => {
    const apiPort = await freePort();
    await run(process.execPath, [KPKI, "init", "--dir", dir, "--node-name", "cp", "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort), "--encryption-algorithm", "ECDSA-P256"]);
    const cpWork = join(work, "cp");
    mkdirSync(cpWork);
    cp = await controlPlane({ etcd: findBinary("etcd")!, kubeApiserver: findBinary("kube-apiserver")!, kubeControllerManager: findBinary("kube-controller-manager")! },
      { dir, work: cpWork, apiPort, etcdMembers: 1, controllerManager: true });
    await cp.start();
    // A user who may create, read, watch and delete CSRs, but not approve them.
    const { stdout } = await run(process.execPath, [KPKI, "kubeconfig", "user", "--client-name", "requester", "--dir", dir, "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort)]);
    writeFileSync(join(dir, "requester.conf"), stdout, { mode: 0o600 });
    expect((await admin("create", "clusterrole", "csr-requester", "--verb=create,get,list,watch,delete", "--resource=certificatesigningrequests.certificates.k8s.io")).code).toBe(0);
    expect((await admin("create", "clusterrolebinding", "csr-requester", "--clusterrole=csr-requester", "--user=requester")).code).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await cp?.stop();
    if (!process.env["KPKI_KEEP_WORK"]) rmSync(work, { recursive: true, force: true });
  });

  it("refuses --org system:masters and an --expiration under 10m before sending anything (no CSR is created)", async () => {
    const before = await csrCount();
    const masters = await kpki(["kubeconfig", "user", "--via-api", "--client-name", "root", "--org", "system:masters", "--out", join(work, "root.conf"), "--kubeconfig", join(dir, "super-admin.conf")]);
    expect(masters.code).toBe(2);
    expect(masters.stderr).toContain("--org system:masters is refused");
    const short = await kpki(["kubeconfig", "user", "--via-api", "--client-name", "brief", "--expiration", "9m", "--out", join(work, "brief.conf"), "--kubeconfig", join(dir, "super-admin.conf")]);
    expect(short.code).toBe(2);
    expect(short.stderr).toContain("--expiration 9m0s is below the API's minimum of 10m");
    // Flags of one mode are refused in the other.
    const mixed = await kpki(["kubeconfig", "user", "--via-api", "--client-name", "x", "--dir", dir, "--out", join(work, "x.conf")]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain("it does not take --dir");
    const noApi = await kpki(["kubeconfig", "user", "--client-name", "x", "--approve", "--dir", dir]);
    expect(noApi.code).toBe(2);
    expect(noApi.stderr).toContain("--approve only apply with --via-api");
    expect(await csrCount()).toBe(before);
    for (const f of ["root.conf", "brief.conf", "x.conf"]) expect(() => statSync(join(work, f))).toThrow();
  });

  it("issued: --approve by an admin; the kubeconfig (0600, the cluster's server and CA) authenticates as the user; the lifetime the 1.20 signer chose is reported", async () => {
    const out = join(work, "jane.conf");
    const r = await kpki(["kubeconfig", "user", "--via-api", "--client-name", "jane", "--org", "dev", "--expiration", "8h", "--approve", "--wait", "60s", "--out", out, "--kubeconfig", join(dir, "super-admin.conf")]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/CSR kpki-jane-[0-9a-f]{8} created \(signer kubernetes\.io\/kube-apiserver-client, expirationSeconds 28800\)/);
    expect(r.stderr).toContain("approved");
    // v1.20 ignores spec.expirationSeconds (added in 1.22): kcm's default duration (1 year) applies.
    expect(r.stderr).toContain("a longer lifetime than the 8h0m0s asked");
    console.log(`--via-api issued: ${/issued (\d+ ms) after it was created/.exec(r.stderr)?.[1]} from CSR creation to issued; the whole command took ${r.ms} ms`);
    expect(r.stdout).toContain("the API server authenticated it");
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const text = readFileSync(out, "utf8");
    const field = (n: string) => Buffer.from(new RegExp(`${n}: (\\S+)`).exec(text)![1]!, "base64").toString();
    expect(field("certificate-authority-data")).toBe(readFileSync(join(dir, "pki/ca.crt"), "utf8"));
    expect(text).toContain(`server: ${cp!.apiserverUrl}`);
    const cert = parseCertificatePem(field("client-certificate-data"));
    expect(cert.commonName).toBe("jane");
    expect(cert.organizations).toEqual(["dev"]);
    expect(cert.extKeyUsages).toEqual(["clientAuth"]);
    // kubectl as jane: authenticated (may create reviews, as every user), and RBAC names her.
    const can = await kubectl(["--kubeconfig", out, "auth", "can-i", "create", "selfsubjectaccessreviews.authorization.k8s.io"]);
    expect(can.stdout.trim()).toBe("yes");
    const pods = await kubectl(["--kubeconfig", out, "get", "pods", "-n", "default"]);
    expect(pods.code).not.toBe(0);
    expect(pods.stderr).toContain('User "jane" cannot list resource "pods"');
    // Never overwrites.
    const again = await kpki(["kubeconfig", "user", "--via-api", "--client-name", "jane", "--out", out, "--kubeconfig", join(dir, "super-admin.conf")]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("kpki never overwrites a kubeconfig");
  });

  it("denied by another client while kpki waits: exit 5 at once with the reason, not at --wait", async () => {
    let deniedAt = 0;
    const r = await kpki(["kubeconfig", "user", "--via-api", "--client-name", "bob", "--wait", "60s", "--out", join(work, "bob.conf"), "--kubeconfig", join(dir, "super-admin.conf")], async () => {
      const name = await csrOf("bob");
      const d = await admin("certificate", "deny", name);
      expect(d.code, d.stderr).toBe(0);
      deniedAt = Date.now();
    });
    const afterDeny = Date.now() - deniedAt;
    console.log(`--via-api denied: kpki exited ${afterDeny} ms after kubectl certificate deny returned (--wait 60s)`);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/error: CSR kpki-bob-[0-9a-f]{8} was denied: KubectlDeny: /);
    expect(afterDeny).toBeLessThan(5000);
    expect(() => statSync(join(work, "bob.conf"))).toThrow();
  });

  it("failed (a Failed condition written by another client): exit 6 at once with the reason and message", async () => {
    const r = await kpki(["kubeconfig", "user", "--via-api", "--client-name", "carol", "--wait", "60s", "--out", join(work, "carol.conf"), "--kubeconfig", join(dir, "super-admin.conf")], async () => {
      const name = await csrOf("carol");
      const obj = JSON.parse((await admin("get", "csr", name, "-o", "json")).stdout) as { status?: { conditions?: unknown[] } };
      obj.status = { conditions: [{ type: "Failed", status: "True", reason: "SignerValidationFailure", message: "test: the signer refused it", lastUpdateTime: new Date().toISOString().replace(/\.\d+Z$/, "Z") }] };
      const put = await kubectl(["--kubeconfig", join(dir, "super-admin.conf"), "replace", "--raw", `/apis/certificates.k8s.io/v1/certificatesigningrequests/${name}/status`, "-f", "-"], JSON.stringify(obj));
      expect(put.code, put.stderr).toBe(0);
    });
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toContain("was marked Failed: SignerValidationFailure: test: the signer refused it");
    expect(r.ms).toBeLessThan(30_000);
  });

  it("timed out: --approve by a user RBAC does not let approve (SelfSubjectAccessReview says no), nobody else approves: exit 7 after --wait", async () => {
    const before = await csrCount();
    const r = await kpki(["kubeconfig", "user", "--via-api", "--client-name", "dave", "--approve", "--wait", "3s", "--out", join(work, "dave.conf"), "--kubeconfig", join(dir, "requester.conf")]);
    console.log(`--via-api timed out: --wait 3s, the command took ${r.ms} ms`);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toContain("--approve: you may not approve on signers/kubernetes.io/kube-apiserver-client and update on certificatesigningrequests/approval");
    expect(r.stderr).toMatch(/error: no certificate for CSR kpki-dave-[0-9a-f]{8} within --wait 3s: nobody approved it .*; the CSR was deleted/);
    expect(r.ms).toBeGreaterThanOrEqual(3000);
    expect(r.ms).toBeLessThan(15_000);
    expect(await csrCount()).toBe(before);
    expect(() => statSync(join(work, "dave.conf"))).toThrow();
  });

  it("approved but never issued (kube-controller-manager stopped): exit 7 at --wait, naming kcm's signing flags; the CSR was Approved with no certificate", async () => {
    const before = await csrCount();
    await cp!.stopControllerManager();
    try {
      let seen: { status?: { conditions?: { type: string; status: string }[]; certificate?: string } } = {};
      const r = await kpki(["kubeconfig", "user", "--via-api", "--client-name", "erin", "--approve", "--wait", "4s", "--out", join(work, "erin.conf"), "--kubeconfig", join(dir, "super-admin.conf")], async () => {
        // Read back while kpki waits (it deletes the CSR at --wait): the API server recorded the approval, nobody signed.
        const name = await csrOf("erin");
        await waitFor(`${name} Approved`, async () => {
          const g = await admin("get", "csr", name, "-o", "json");
          if (g.code !== 0) return false;
          seen = JSON.parse(g.stdout) as typeof seen;
          return (seen.status?.conditions ?? []).some((c) => c.type === "Approved" && c.status === "True");
        }, 3000, 50);
      });
      console.log(`--via-api approved, not issued: --wait 4s, the command took ${r.ms} ms`);
      expect(r.code, r.stderr).toBe(7);
      expect(r.stderr).toContain("approved");
      expect(r.stderr).toMatch(/error: no certificate for CSR kpki-erin-[0-9a-f]{8} within --wait 4s: it was approved but not issued: kube-controller-manager's signer for kubernetes\.io\/kube-apiserver-client is probably not running/);
      expect(r.stderr).toContain("--cluster-signing-cert-file/--cluster-signing-key-file");
      expect(r.stderr).toContain("--cluster-signing-kube-apiserver-client-cert-file/-key-file");
      expect(r.stderr).toContain("; the CSR was deleted");
      expect((seen.status?.conditions ?? []).map((c) => c.type)).toEqual(["Approved"]);
      expect(seen.status?.certificate ?? "").toBe("");
      expect(r.ms).toBeGreaterThanOrEqual(4000);
      expect(r.ms).toBeLessThan(15_000);
      expect(await csrCount()).toBe(before);
      expect(() => statSync(join(work, "erin.conf"))).toThrow();
    } finally {
      await cp!.startControllerManager();
    }
  }, 90_000);
});
