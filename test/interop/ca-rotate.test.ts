/**
 * `kpki ca rotate` on a real control plane of its own: three etcd members with peer TLS,
 * kube-apiserver, kube-controller-manager (with kubeadm's authentication flags, signing from the pair
 * its manifest names) and kube-scheduler. Every phase is run, the components the phase names are
 * restarted, and at each boundary the trust matrix is checked: each client certificate against each
 * server it talks to, with the real Go clients (kubectl, etcdctl) verifying the servers. A
 * service-account token issued before the rotation works throughout; after finalize a certificate
 * of the old CA is refused. check-served sees the API server STALE after reissue and match after
 * its restart, and again after a plain `certs renew`.
 */
import { execFile, execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { controlPlane, extractClient, type ControlPlane } from "../helpers/control-plane.js";
import { kubectl } from "../helpers/kubectl.js";
import { freePort, waitFor } from "../helpers/procs.js";
import { findBinary, missingBinaries } from "../helpers/testenv.js";

const run = promisify(execFile);
const KPKI = resolve(import.meta.dirname, "../../dist/bin/kpki.js");
const skip = missingBinaries("etcd", "etcdctl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "openssl");
const work = mkdtempSync(join(tmpdir(), "kpki-rotate-"));
const dir = join(work, "cluster");
const pki = join(dir, "pki");
const manifest = join(dir, "manifests", "kube-controller-manager.yaml");
let cp: ControlPlane | undefined;
afterAll(async () => {
  await cp?.stop();
  if (!process.env["KPKI_KEEP_WORK"]) rmSync(work, { recursive: true, force: true });
});

/** Runs kpki; returns its output and how long it took. */
async function kpki(...args: string[]): Promise<{ stdout: string; ms: number }> {
  const begin = performance.now();
  const r = await run(process.execPath, [KPKI, ...args]);
  return { stdout: r.stdout, ms: performance.now() - begin };
}

/** kube-controller-manager's signing flags as its manifest names them (what a kubelet would start it with). */
function kcmSigningFiles(): { cert: string; key: string } {
  const text = readFileSync(manifest, "utf8");
  const flag = (name: string) => new RegExp(`--${name}=(\\S+)`).exec(text)?.[1] ?? "";
  return { cert: flag("cluster-signing-cert-file"), key: flag("cluster-signing-key-file") };
}

/** An HTTPS request with a client certificate; the status code, or the error's text. */
function httpsStatus(url: string, o: { ca?: string; cert: string; key: string; headers?: Record<string, string> }): Promise<number | string> {
  return new Promise((done) => {
    const req = request(url, { ca: o.ca ? readFileSync(o.ca) : undefined, rejectUnauthorized: o.ca !== undefined, cert: readFileSync(o.cert), key: readFileSync(o.key),
      headers: o.headers, timeout: 5000 }, (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    req.on("error", (error) => done(error.message));
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.end();
  });
}

const certs = (file: string): string[] => (readFileSync(file, "utf8").match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []);
const opensslVerify = (caFile: string, certFile: string): boolean => {
  try {
    execFileSync("openssl", ["verify", "-CAfile", caFile, certFile], { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
};

/** A kubeadm bootstrap token, whose JWS kube-controller-manager's bootstrapsigner puts in cluster-info. */
const TOKEN = { id: "kpkirt", secret: "0123456789abcdef" };

/**
 * kube-public/cluster-info as a joining kubeadm reads it: the kubeconfig's CA certificates, and
 * whether the token's detached JWS (HS256 over the kubeconfig, kid = token id) verifies.
 */
async function clusterInfo(): Promise<{ cas: number; jwsValid: boolean }> {
  const r = await kubectl(["--kubeconfig", join(dir, "super-admin.conf"), "get", "configmap", "cluster-info", "-n", "kube-public", "-o", "json"]);
  const data = (JSON.parse(r.stdout) as { data: Record<string, string> }).data;
  const kubeconfig = data["kubeconfig"] ?? "";
  const ca = /certificate-authority-data: (\S+)/.exec(kubeconfig)?.[1] ?? "";
  const [header, , signature] = (data[`jws-kubeconfig-${TOKEN.id}`] ?? "").split(".");
  const mac = createHmac("sha256", TOKEN.secret).update(`${header}.${Buffer.from(kubeconfig).toString("base64url")}`).digest("base64url");
  return { cas: (Buffer.from(ca, "base64").toString().match(/BEGIN CERTIFICATE/g) ?? []).length, jwsValid: signature !== undefined && mac === signature };
}

const CONFS = ["admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf", "kubelet.conf"];
let saToken = "";
let csrCount = 0;
const timings: string[] = [];

/** Every client against every server it talks to; returns the failures (none expected). */
async function trustMatrix(kcmSigner: string): Promise<string[]> {
  const failures: string[] = [];
  const check = async (what: string, ok: () => Promise<true | string>): Promise<void> => {
    const r = await ok().catch((error: Error) => error.message);
    if (r !== true) failures.push(`${what}: ${r}`);
  };
  const api = cp!.apiserverUrl;
  // The kubeconfigs: kubectl (Go) verifies kube-apiserver with certificate-authority-data; kube-apiserver verifies the client with --client-ca-file.
  for (const conf of CONFS) {
    await check(`${conf} <-> kube-apiserver`, async () => {
      const r = await kubectl(["--kubeconfig", join(dir, conf), "get", "--raw", "/api"]);
      return r.code === 0 || r.stderr.trim();
    });
  }
  // kube-apiserver -> etcd (apiserver-etcd-client against etcd's --trusted-ca-file; etcd's serving certificate against --etcd-cafile).
  await check("kube-apiserver <-> etcd", async () => {
    const r = await kubectl(["--kubeconfig", join(dir, "super-admin.conf"), "get", "--raw", "/readyz/etcd"]);
    return (r.code === 0 && r.stdout.trim() === "ok") || `${r.stdout}${r.stderr}`.trim();
  });
  // etcdctl (Go) with etcd/healthcheck-client against every member; a healthy member has a leader, which needs peer TLS.
  await check("etcd-healthcheck-client <-> etcd members (and peers)", async () => {
    const r = await run(findBinary("etcdctl")!, ["--endpoints", cp!.etcdClientUrls.join(","), "--cacert", join(pki, "etcd/ca.crt"),
      "--cert", join(pki, "etcd/healthcheck-client.crt"), "--key", join(pki, "etcd/healthcheck-client.key"), "endpoint", "health", "-w", "json"],
      { env: { ...process.env, ETCDCTL_API: "3" } }).catch((error: { stdout?: string; stderr?: string }) => ({ stdout: error.stdout ?? "", stderr: error.stderr ?? "" }));
    const health = (JSON.parse(r.stdout || "[]") as { health: boolean }[]).map((h) => h.health);
    return (health.length === 3 && health.every(Boolean)) || `${r.stdout}${r.stderr}`.trim();
  });
  // front-proxy-client against kube-apiserver's --requestheader-client-ca-file (front-proxy-ca.crt).
  await check("front-proxy-client -> kube-apiserver (request header)", async () => {
    const s = await httpsStatus(`${api}/api/v1/namespaces/default`, { ca: join(pki, "ca.crt"), cert: join(pki, "front-proxy-client.crt"), key: join(pki, "front-proxy-client.key"),
      headers: { "X-Remote-User": "kubernetes-super-admin", "X-Remote-Group": "system:masters" } });
    return s === 200 || `status ${s}`;
  });
  // kube-controller-manager's and kube-scheduler's secure ports: a client certificate of the cluster CA is authenticated and authorized.
  const admin = extractClient(dir, "super-admin.conf");
  for (const [name, url] of [["kube-controller-manager", cp!.kcmUrl], ["kube-scheduler", cp!.schedulerUrl]] as const) {
    await check(`super-admin -> ${name} /metrics`, async () => {
      const s = await httpsStatus(`${url}/metrics`, { cert: admin.cert, key: admin.key });
      return s === 200 || `status ${s}`;
    });
  }
  // kube-controller-manager signs a client CSR with the CA expected now.
  await check(`kube-controller-manager signs with ${kcmSigner}`, async () => {
    const name = `rotate-${++csrCount}`;
    const key = join(work, `${name}.key`);
    execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj", `/CN=${name}`, "-out", `${key}.csr`], { stdio: "pipe" });
    const csr = { apiVersion: "certificates.k8s.io/v1", kind: "CertificateSigningRequest", metadata: { name },
      spec: { request: readFileSync(`${key}.csr`).toString("base64"), signerName: "kubernetes.io/kube-apiserver-client", usages: ["client auth"] } };
    const sa = ["--kubeconfig", join(dir, "super-admin.conf")];
    const created = await kubectl([...sa, "create", "-f", "-"], JSON.stringify(csr));
    if (created.code !== 0) return created.stderr;
    await kubectl([...sa, "certificate", "approve", name]);
    let pem = "";
    await waitFor(`CSR ${name} signed`, async () => {
      const r = await kubectl([...sa, "get", "csr", name, "-o", "jsonpath={.status.certificate}"]);
      pem = Buffer.from(r.stdout, "base64").toString();
      return pem.includes("BEGIN CERTIFICATE");
    }, 30_000, 200);
    writeFileSync(`${key}.crt`, pem);
    return opensslVerify(kcmSigner, `${key}.crt`) || `not signed by ${kcmSigner}`;
  });
  // The service-account token made before the rotation (signed with sa.key, which is not rotated).
  await check("pre-rotation service-account token -> kube-apiserver", async () => {
    const r = await kubectl(["--server", api, "--certificate-authority", join(pki, "ca.crt"), "--token", saToken, "get", "--raw", "/api"]);
    return r.code === 0 || r.stderr.trim();
  });
  return failures;
}

/** Restarts the named components, etcd one member at a time, and records how long each was down. */
async function restart(stage: string, names: readonly ("etcd" | "kube-apiserver" | "kube-controller-manager" | "kube-scheduler")[]): Promise<void> {
  for (const n of names) {
    const targets = n === "etcd" ? (["etcd m0", "etcd m1", "etcd m2"] as const) : [n];
    for (const t of targets) timings.push(`${stage}: ${t} down ${Math.round(await cp!.restart(t))} ms`);
  }
}

interface Plan {
  cas: { ca: string; stage: string; next: string; certificates: { role: string; discoveryHash?: string }[]; phases: { phase: string; edits: unknown[]; restart: string[]; refused?: string }[] }[];
}
const plan = async (): Promise<Plan> => JSON.parse((await kpki("ca", "rotate", "plan", "--dir", dir, "-o", "json")).stdout) as Plan;
const ALL = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"] as const;

describe.skipIf(skip)("kpki ca rotate on a live control plane", () => {
  const oldCa = join(work, "old-ca.crt");
  const newCa = join(work, "new-ca.crt");

  beforeAll(async () => {
    const apiPort = await freePort();
    await kpki("init", "--dir", dir, "--node-name", "kpki-rotate", "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort),
      "--encryption-algorithm", "ECDSA-P256");
    // kube-controller-manager's manifest as kubeadm writes its signing flags; the test starts kcm with what it names.
    mkdirSync(join(dir, "manifests"));
    writeFileSync(manifest, ["apiVersion: v1", "kind: Pod", "metadata:", "  name: kube-controller-manager", "  namespace: kube-system", "spec:", "  containers:", "  - command:",
      "    - kube-controller-manager", `    - --cluster-signing-cert-file=${pki}/ca.crt`, `    - --cluster-signing-key-file=${pki}/ca.key`, `    - --root-ca-file=${pki}/ca.crt`,
      "    image: registry.k8s.io/kube-controller-manager:v1.20.2", "    name: kube-controller-manager", ""].join("\n"));
    const cpWork = join(work, "run");
    mkdirSync(cpWork);
    cp = await controlPlane({ etcd: findBinary("etcd")!, kubeApiserver: findBinary("kube-apiserver")!, kubeControllerManager: findBinary("kube-controller-manager")! }, {
      dir, work: cpWork, apiPort, etcdMembers: 3, controllerManager: true, serviceAccountTokens: true, kcmAuthentication: true, kcmSigningFiles, scheduler: findBinary("kube-scheduler")!,
      controllers: ["csrsigning", "csrapproving", "csrcleaner", "serviceaccount", "serviceaccount-token", "root-ca-cert-publisher", "bootstrapsigner"],
    });
    await cp.start();
    const sa = ["--kubeconfig", join(dir, "super-admin.conf")];
    expect((await kubectl([...sa, "create", "clusterrolebinding", "kubeadm:cluster-admins", "--clusterrole=cluster-admin", "--group=kubeadm:cluster-admins"])).code).toBe(0);
    expect((await kubectl([...sa, "create", "serviceaccount", "rotation-witness"])).code).toBe(0);
    expect((await kubectl([...sa, "create", "clusterrolebinding", "rotation-witness", "--clusterrole=view", "--serviceaccount=default:rotation-witness"])).code).toBe(0);
    await waitFor("the witness's token Secret", async () => {
      const r = await kubectl([...sa, "get", "secrets", "-o", "jsonpath={range .items[?(@.metadata.annotations.kubernetes\\.io/service-account\\.name==\"rotation-witness\")]}{.data.token}{end}"]);
      saToken = Buffer.from(r.stdout.trim(), "base64").toString();
      return saToken.length > 0;
    }, 30_000, 200);
    // kubeadm's bootstrap token and cluster-info (phases/bootstraptoken/clusterinfo/clusterinfo.go): one cluster named "", no context.
    const infoKubeconfig = ["apiVersion: v1", "clusters:", "- cluster:", `    certificate-authority-data: ${readFileSync(join(pki, "ca.crt")).toString("base64")}`,
      `    server: ${cp.apiserverUrl}`, '  name: ""', "contexts: null", 'current-context: ""', "kind: Config", "preferences: {}", "users: null", ""].join("\n");
    for (const obj of [
      { apiVersion: "v1", kind: "Secret", metadata: { name: `bootstrap-token-${TOKEN.id}`, namespace: "kube-system" }, type: "bootstrap.kubernetes.io/token",
        stringData: { "token-id": TOKEN.id, "token-secret": TOKEN.secret, "usage-bootstrap-signing": "true", "usage-bootstrap-authentication": "true" } },
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cluster-info", namespace: "kube-public" }, data: { kubeconfig: infoKubeconfig } },
    ]) expect((await kubectl([...sa, "create", "-f", "-"], JSON.stringify(obj))).code).toBe(0);
    await waitFor("cluster-info signed by the bootstrap signer", async () => (await clusterInfo()).jwsValid, 30_000, 200);
    copyFileSync(join(pki, "ca.crt"), oldCa);
    for (const f of ["admin.conf", "pki/etcd/healthcheck-client.crt", "pki/etcd/healthcheck-client.key"]) copyFileSync(join(dir, f), join(work, `old-${f.replace(/^pki\//, "").replace("/", "-")}`));
  }, 180_000);

  it("before the rotation: the trust matrix holds and plan names every phase", async () => {
    expect(await trustMatrix(join(pki, "ca.crt"))).toEqual([]);
    const p = await plan();
    expect(p.cas.map((c) => [c.ca, c.stage, c.next])).toEqual([["ca", "idle", "trust"], ["front-proxy-ca", "idle", "trust"], ["etcd-ca", "idle", "trust"]]);
    for (const c of p.cas) expect(c.phases.map((ph) => ph.edits.length > 0)).toEqual([true, true, true]);
  }, 120_000);

  it("trust: every trust point holds both CAs; after the restarts the matrix holds, kcm still signs with the old CA; join hashes for both", async () => {
    const t = await kpki("ca", "rotate", "trust", "--dir", dir, "--kubeconfig", join(dir, "super-admin.conf"));
    timings.push(`trust: kpki ${Math.round(t.ms)} ms`);
    const hashes = /--discovery-token-ca-cert-hash (sha256:[0-9a-f]{64}) --discovery-token-ca-cert-hash (sha256:[0-9a-f]{64})/.exec(t.stdout);
    expect(hashes, t.stdout).not.toBeNull();
    const spkiHash = (file: string) => `sha256:${execFileSync("sh", ["-c", `openssl x509 -in '${file}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex`]).toString().trim().split(" ").pop()}`;
    writeFileSync(newCa, certs(join(pki, "ca.crt"))[1]! + "\n");
    expect([hashes![1], hashes![2]]).toEqual([spkiHash(oldCa), spkiHash(newCa)]);
    for (const f of ["ca.crt", "front-proxy-ca.crt", "etcd/ca.crt"]) expect(certs(join(pki, f)), f).toHaveLength(2);
    // cluster-info holds both, and the bootstrap signer has signed the new content: a node joining now pins either CA.
    await waitFor("cluster-info with both CAs, signed again", async () => {
      const info = await clusterInfo();
      return info.cas === 2 && info.jwsValid;
    }, 30_000, 200);
    expect(kcmSigningFiles()).toEqual({ cert: join(pki, "ca-signing.crt"), key: join(pki, "ca-signing.key") });
    await restart("trust", ALL);
    expect(await trustMatrix(oldCa)).toEqual([]);
    // The root CA published to pods (kube-root-ca.crt, from --root-ca-file) holds both.
    const root = await kubectl(["--kubeconfig", join(dir, "super-admin.conf"), "get", "configmap", "kube-root-ca.crt", "-o", "jsonpath={.data.ca\\.crt}"]);
    expect(root.stdout.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect((await plan()).cas.map((c) => [c.stage, c.next])).toEqual([["trusted", "reissue"], ["trusted", "reissue"], ["trusted", "reissue"]]);
  }, 300_000);

  it("reissue: every certificate signed by the new CA; check-served STALE before the restart, match after; the matrix holds", async () => {
    const r = await kpki("ca", "rotate", "reissue", "--dir", dir);
    timings.push(`reissue: kpki ${Math.round(r.ms)} ms`);
    for (const f of ["apiserver", "apiserver-kubelet-client", "front-proxy-client", "apiserver-etcd-client", "etcd/server", "etcd/peer", "etcd/healthcheck-client"]) {
      const ca = f.startsWith("etcd/") || f === "apiserver-etcd-client" ? "etcd/ca.crt" : f === "front-proxy-client" ? "front-proxy-ca.crt" : "ca.crt";
      writeFileSync(join(work, "first.crt"), `${certs(join(pki, ca))[0]!}\n`);
      expect(opensslVerify(join(work, "first.crt"), join(pki, `${f}.crt`)), f).toBe(true);
    }
    const endpoints = ["--endpoint", `apiserver=${new URL(cp!.apiserverUrl).host}`, "--endpoint", `etcd-server=${new URL(cp!.etcdClientUrls[0]!).host}`];
    const before = JSON.parse((await run(process.execPath, [KPKI, "certs", "check-served", "--dir", dir, ...endpoints, "-o", "json"]).catch((e: { stdout: string }) => e)).stdout) as
      { endpoints: { endpoint: string; status: string }[] };
    // kube-apiserver serves what it read at start: STALE until it restarts. etcd reads its key pair at each handshake: match at once.
    expect(before.endpoints.map((e) => [e.endpoint, e.status])).toEqual([["apiserver", "STALE"], ["etcd-server", "match"]]);
    await restart("reissue", ALL);
    const after = JSON.parse((await kpki("certs", "check-served", "--dir", dir, ...endpoints, "-o", "json")).stdout) as { endpoints: { endpoint: string; status: string }[] };
    expect(after.endpoints.map((e) => [e.endpoint, e.status])).toEqual([["apiserver", "match"], ["etcd-server", "match"]]);
    expect(await trustMatrix(newCa)).toEqual([]);
    expect((await plan()).cas.map((c) => [c.stage, c.next])).toEqual([["reissued", "finalize"], ["reissued", "finalize"], ["reissued", "finalize"]]);
  }, 300_000);

  it("finalize: only the new CA is trusted; kubectl works with each kubeconfig; certificates of the old CA are refused", async () => {
    const f = await kpki("ca", "rotate", "finalize", "--dir", dir, "--kubeconfig", join(dir, "super-admin.conf"));
    timings.push(`finalize: kpki ${Math.round(f.ms)} ms`);
    for (const file of ["ca.crt", "front-proxy-ca.crt", "etcd/ca.crt"]) expect(certs(join(pki, file)), file).toHaveLength(1);
    expect(kcmSigningFiles()).toEqual({ cert: join(pki, "ca.crt"), key: join(pki, "ca.key") });
    await waitFor("cluster-info with the new CA alone, signed again", async () => {
      const info = await clusterInfo();
      return info.cas === 1 && info.jwsValid;
    }, 30_000, 200);
    await restart("finalize", ALL);
    expect(await trustMatrix(join(pki, "ca.crt"))).toEqual([]);
    // The old admin.conf's client certificate (old CA) is refused by kube-apiserver: 401.
    const old = extractClient(work, "old-admin.conf");
    expect(await httpsStatus(`${cp!.apiserverUrl}/api`, { ca: join(pki, "ca.crt"), cert: old.cert, key: old.key })).toBe(401);
    // The old kubeconfig no longer trusts the API server (its CA data is the old CA alone).
    const r = await kubectl(["--kubeconfig", join(work, "old-admin.conf"), "get", "--raw", "/api"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/certificate signed by unknown authority/);
    // etcd refuses the old healthcheck client.
    const e = await run(findBinary("etcdctl")!, ["--endpoints", cp!.etcdClientUrls[0]!, "--cacert", join(pki, "etcd/ca.crt"), "--cert", join(work, "old-etcd-healthcheck-client.crt"),
      "--key", join(work, "old-etcd-healthcheck-client.key"), "--command-timeout", "3s", "endpoint", "health"], { env: { ...process.env, ETCDCTL_API: "3" } }).then(() => "accepted", () => "refused");
    expect(e).toBe("refused");
    expect((await plan()).cas.map((c) => [c.stage, c.next])).toEqual([["idle", "trust"], ["idle", "trust"], ["idle", "trust"]]);
  }, 300_000);

  it("after the rotation, certs renew without a restart: check-served says the API server is STALE (1); after its restart, match (0)", async () => {
    const endpoints = ["--endpoint", `apiserver=${new URL(cp!.apiserverUrl).host}`];
    const served = () => run(process.execPath, [KPKI, "certs", "check-served", "--dir", dir, ...endpoints, "-o", "json"]).then(
      (r) => ({ code: 0, stdout: r.stdout }), (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }));
    const status = (out: string) => (JSON.parse(out) as { endpoints: { endpoint: string; status: string }[] }).endpoints.map((e) => [e.endpoint, e.status]);
    await kpki("certs", "renew", "apiserver", "--dir", dir);
    const stale = await served();
    expect([stale.code, status(stale.stdout)]).toEqual([1, [["apiserver", "STALE"]]]);
    await restart("renew", ["kube-apiserver"]);
    const fresh = await served();
    expect([fresh.code, status(fresh.stdout)]).toEqual([0, [["apiserver", "match"]]]);
    expect(await trustMatrix(join(pki, "ca.crt"))).toEqual([]);
    console.log(`ca rotate timings:\n  ${timings.join("\n  ")}`);
  }, 120_000);
});
