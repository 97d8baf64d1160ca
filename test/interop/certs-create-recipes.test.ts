/**
 * `kpki certs create` next to the Kubernetes docs' "Generate Certificates Manually" recipes
 * (kubernetes/website content/en/docs/tasks/administer-cluster/certificates.md: easyrsa, openssl,
 * cfssl), run with the real tools and the same inputs; kpki signs with each recipe's own CA, so the
 * issuer is the same too. Subject, SANs, key usage, extended key usage, basic constraints and
 * validity are read back with `openssl x509` and node:crypto and compared field by field; the table
 * is printed. Then real consumers: a 3-member etcd cluster whose members (added one by one with
 * `etcdctl member add`, as etcd's runtime-reconfiguration guide does) all run on `certs create
 * --profile etcd-member` pairs, and kube-apiserver serving on a `--profile kube-apiserver` certificate.
 */
import { execFile, execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { controlPlane, extractClient, type ControlPlane } from "../helpers/control-plane.js";
import { freePort, startProcess, stopProcess, waitFor } from "../helpers/procs.js";
import { findBinary, missingBinaries } from "../helpers/testenv.js";
import { opensslDocsRecipe, sh } from "../helpers/docs-recipes.js";

const run = promisify(execFile);
const KPKI = resolve(import.meta.dirname, "../../dist/bin/kpki.js");
const EASYRSA = "/usr/share/easy-rsa/easyrsa";
const skipRecipes = missingBinaries("openssl", "cfssl", "cfssljson") ?? (() => {
  try {
    execFileSync(EASYRSA, ["--version"], { stdio: "ignore" });
    return undefined;
  } catch {
    return missingBinaries("easyrsa");
  }
})();
const skipEtcd = missingBinaries("etcd", "etcdctl");
const skipApiserver = missingBinaries("etcd", "kube-apiserver", "kube-controller-manager");
const work = mkdtempSync(join(tmpdir(), "kpki-create-recipes-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const kpki = (...args: string[]) => execFileSync(process.execPath, [KPKI, ...args], { stdio: "pipe", encoding: "utf8" });

// The docs' inputs: MASTER_IP is the API server's address, MASTER_CLUSTER_IP the first address of
// the service CIDR (10.96.0.0/12, kubeadm's default), which the docs have the operator compute.
const MASTER_IP = "192.0.2.10";
const MASTER_CLUSTER_IP = "10.96.0.1";
const FIVE_NAMES = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster", "kubernetes.default.svc.cluster.local"];

/** The compared fields of one certificate, as `openssl x509` prints them (SANs as a sorted set). */
interface Fields {
  subject: string;
  issuer: string;
  sans: string;
  keyUsage: string;
  extKeyUsage: string;
  basicConstraints: string;
  /** notBefore relative to the moment the certificate was made, in minutes. */
  notBefore: string;
  /** notAfter − notBefore, in hours. */
  lifetime: string;
  /** notAfter relative to the moment the certificate was made, in hours. */
  notAfter: string;
}

/** Reads `file` with openssl x509 (extensions, with their criticality) and node:crypto (dates, SANs). */
function fields(file: string, madeAt: number): Fields {
  const text = execFileSync("openssl", ["x509", "-in", file, "-noout", "-subject", "-issuer", "-nameopt", "RFC2253",
    "-ext", "keyUsage,extendedKeyUsage,basicConstraints"], { encoding: "utf8" });
  const ext = (header: string): string => {
    const m = new RegExp(`X509v3 ${header}:( critical)? *\\n\\s+(.*)\\n`).exec(text);
    return m ? `${m[2]}${m[1] ? " (critical)" : ""}` : "(absent)";
  };
  const x = new X509Certificate(readFileSync(file));
  const nb = Date.parse(x.validFrom);
  const na = Date.parse(x.validTo);
  const sans = (x.subjectAltName ?? "").split(", ").filter(Boolean).map((s) => s.replace(/^IP Address:/, "IP:")).sort();
  return {
    subject: /subject=(.*)\n/.exec(text)?.[1] ?? "?",
    issuer: /issuer=(.*)\n/.exec(text)?.[1] ?? "?",
    sans: sans.join(", "),
    keyUsage: ext("Key Usage"),
    extKeyUsage: ext("Extended Key Usage"),
    basicConstraints: ext("Basic Constraints"),
    notBefore: `${Math.round((nb - madeAt) / 60_000)}m`,
    lifetime: `${Math.round((na - nb) / 3_600_000)}h`,
    notAfter: `+${Math.round((na - madeAt) / 3_600_000)}h`,
  };
}

interface Recipe {
  readonly tool: string;
  readonly docs: Fields;
  readonly kpki: Fields;
  readonly kpkiCommand: string;
}
const recipes: Recipe[] = [];

/** Runs `certs create` in `dir` with the recipe's CA and returns its fields. */
function kpkiTwin(dir: string, ca: string[], args: string[]): { fields: Fields; command: string } {
  const madeAt = Math.floor(Date.now() / 1000) * 1000;
  kpki("certs", "create", "server", "--profile", "kube-apiserver", ...args, ...ca, "--out-dir", join(dir, "kpki"));
  return { fields: fields(join(dir, "kpki/server.crt"), madeAt), command: `kpki certs create server --profile kube-apiserver ${args.join(" ")} ${ca.join(" ")}` };
}

describe.skipIf(skipRecipes)("certs create equals the docs' easyrsa, openssl and cfssl recipes", () => {
  beforeAll(() => {
    // openssl (docs: "openssl"): a CA, then csr.conf with [alt_names] and `openssl x509 -req -extfile`.
    const o = join(work, "openssl");
    mkdirSync(o);
    let madeAt = Math.floor(Date.now() / 1000) * 1000;
    opensslDocsRecipe(o, { cn: MASTER_IP, org: "kpki-test", dnsNames: FIVE_NAMES, ips: [MASTER_IP, MASTER_CLUSTER_IP] });
    const openssl = fields(join(o, "server.crt"), madeAt);
    const ot = kpkiTwin(o, ["--ca-dir", o], ["--cn", MASTER_IP, "--org", "kpki-test", "--san", `${MASTER_IP},kubernetes.default.svc.cluster`, "--validity", "10000d"]);
    recipes.push({ tool: "openssl", docs: openssl, kpki: ot.fields, kpkiCommand: ot.command });

    // cfssl (docs: "cfssl"): ca-config.json with a "kubernetes" profile, ca-csr.json, server-csr.json.
    const c = join(work, "cfssl");
    mkdirSync(c);
    writeFileSync(join(c, "ca-config.json"), JSON.stringify({ signing: { default: { expiry: "8760h" }, profiles: { kubernetes: { usages: ["signing", "key encipherment", "server auth", "client auth"], expiry: "8760h" } } } }));
    writeFileSync(join(c, "ca-csr.json"), JSON.stringify({ CN: "kubernetes", key: { algo: "rsa", size: 2048 }, names: [{ O: "kpki-test" }] }));
    writeFileSync(join(c, "server-csr.json"), JSON.stringify({
      CN: "kubernetes", hosts: ["127.0.0.1", MASTER_IP, MASTER_CLUSTER_IP, ...FIVE_NAMES], key: { algo: "rsa", size: 2048 }, names: [{ O: "kpki-test" }],
    }));
    madeAt = Math.floor(Date.now() / 1000) * 1000;
    sh(`cfssl gencert -initca ca-csr.json 2>/dev/null | cfssljson -bare ca
cfssl gencert -ca=ca.pem -ca-key=ca-key.pem --config=ca-config.json -profile=kubernetes server-csr.json 2>/dev/null | cfssljson -bare server`, c);
    const cfssl = fields(join(c, "server.pem"), madeAt);
    const ct = kpkiTwin(c, ["--ca-cert", join(c, "ca.pem"), "--ca-key", join(c, "ca-key.pem")],
      ["--cn", "kubernetes", "--org", "kpki-test", "--san", `127.0.0.1,${MASTER_IP},kubernetes.default.svc.cluster`, "--validity", "8760h"]);
    recipes.push({ tool: "cfssl", docs: cfssl, kpki: ct.fields, kpkiCommand: ct.command });

    // easy-rsa 3 (docs: "easyrsa"): init-pki, build-ca with --req-cn=MASTER_IP@date, build-server-full with the SANs.
    const e = join(work, "easyrsa");
    mkdirSync(e);
    madeAt = Math.floor(Date.now() / 1000) * 1000;
    sh(`${EASYRSA} init-pki >/dev/null 2>&1
${EASYRSA} --batch "--req-cn=${MASTER_IP}@$(date +%s)" build-ca nopass >/dev/null 2>&1
${EASYRSA} --batch --subject-alt-name="IP:${MASTER_IP},IP:${MASTER_CLUSTER_IP},${FIVE_NAMES.map((d) => `DNS:${d}`).join(",")}" --days=10000 build-server-full server nopass >/dev/null 2>&1`,
    e, { EASYRSA_PKI: join(e, "pki") });
    const easyrsa = fields(join(e, "pki/issued/server.crt"), madeAt);
    const et = kpkiTwin(e, ["--ca-cert", join(e, "pki/ca.crt"), "--ca-key", join(e, "pki/private/ca.key")],
      ["--cn", "server", "--san", `${MASTER_IP},kubernetes.default.svc.cluster`, "--validity", "10000d"]);
    recipes.push({ tool: "easyrsa", docs: easyrsa, kpki: et.fields, kpkiCommand: et.command });

    const rows: string[] = [];
    for (const r of recipes) {
      rows.push(`\n== ${r.tool} recipe vs ${r.kpkiCommand}`);
      for (const f of Object.keys(r.docs) as (keyof Fields)[]) {
        rows.push(`${f.padEnd(17)} ${r.docs[f] === r.kpki[f] ? "same " : "DIFF "} ${r.tool}: ${r.docs[f]}${r.docs[f] === r.kpki[f] ? "" : `\n${"".padEnd(23)} kpki: ${r.kpki[f]}`}`);
      }
    }
    console.log(`certs create vs the docs' recipes (field by field):${rows.join("\n")}`);
  });

  it.each(["openssl", "cfssl", "easyrsa"])("%s: same subject, issuer, SANs, CA:FALSE and expiry as the recipe", (tool) => {
    const r = recipes.find((x) => x.tool === tool)!;
    expect(r.kpki.subject).toBe(r.docs.subject);
    expect(r.kpki.issuer).toBe(r.docs.issuer);
    expect(r.kpki.sans).toBe(r.docs.sans);
    expect(r.kpki.sans).toContain(`IP:${MASTER_CLUSTER_IP}`);
    expect(r.kpki.basicConstraints).toMatch(/^CA:FALSE/);
    expect(r.docs.basicConstraints).toMatch(/^CA:FALSE/);
    expect(r.kpki.notAfter).toBe(r.docs.notAfter);
  });

  it("the differences are kubeadm's template (measured): KeyUsage, ExtKeyUsage, critical basicConstraints, notBefore 5 minutes back", () => {
    const byTool = Object.fromEntries(recipes.map((r) => [r.tool, r]));
    for (const r of recipes) {
      expect(r.kpki.keyUsage).toBe("Digital Signature, Key Encipherment (critical)");
      expect(r.kpki.extKeyUsage).toBe("TLS Web Server Authentication");
      expect(r.kpki.basicConstraints).toBe("CA:FALSE (critical)");
      expect(r.kpki.notBefore).toBe("-5m");
    }
    expect(byTool["openssl"]?.docs).toMatchObject({ keyUsage: "Key Encipherment, Data Encipherment", extKeyUsage: "TLS Web Server Authentication, TLS Web Client Authentication", basicConstraints: "CA:FALSE", notBefore: "0m" });
    expect(byTool["cfssl"]?.docs).toMatchObject({ keyUsage: "Digital Signature, Key Encipherment (critical)", extKeyUsage: "TLS Web Server Authentication, TLS Web Client Authentication", basicConstraints: "CA:FALSE (critical)" });
    expect(byTool["easyrsa"]?.docs).toMatchObject({ keyUsage: "Digital Signature, Key Encipherment", extKeyUsage: "TLS Web Server Authentication", basicConstraints: "CA:FALSE" });
  });

  it("each kpki twin is signed by the recipe's CA; openssl verify accepts the openssl and easyrsa twins", async () => {
    for (const [dir, ca] of [["openssl", "ca.crt"], ["cfssl", "ca.pem"], ["easyrsa", "pki/ca.crt"]] as const) {
      const file = join(work, dir, "kpki/server.crt");
      const cert = new X509Certificate(readFileSync(file));
      const caCert = new X509Certificate(readFileSync(join(work, dir, ca)));
      expect(cert.verify(caCert.publicKey)).toBe(true);
      expect(cert.checkIssued(caCert)).toBe(true);
      if (dir === "cfssl") continue; // below
      const { stdout } = await run("openssl", ["verify", "-CAfile", join(work, dir, ca), file]);
      expect(stdout.trim()).toBe(`${file}: OK`);
    }
    // The docs' cfssl inputs give the CA and the server the same subject (CN=kubernetes, here with
    // O=kpki-test); openssl verify then takes either server certificate, cfssl's and kpki's alike, for a
    // self-signed one (measured with openssl 3.0), so it is compared by signature above instead.
    for (const file of [join(work, "cfssl/server.pem"), join(work, "cfssl/kpki/server.crt")]) {
      const refused = await run("openssl", ["verify", "-CAfile", join(work, "cfssl/ca.pem"), file]).catch((e: { stderr: string }) => e);
      expect((refused as { stderr: string }).stderr).toContain("self-signed certificate");
    }
  });
});

describe.skipIf(skipEtcd)("a real 3-member etcd cluster on certs create --profile etcd-member pairs, members added one by one", () => {
  const dir = join(work, "etcd");
  const pids: (number | undefined)[] = [];
  afterAll(async () => {
    while (pids.length) await stopProcess(pids.pop());
  });

  it("forms, is healthy with mutual TLS on clients and peers, and stores a key through every member", async () => {
    const etcd = findBinary("etcd")!;
    const etcdctl = findBinary("etcdctl")!;
    mkdirSync(dir);
    kpki("ca", "create", "--name", "ca", "--common-name", "etcd-ca", "--out-dir", join(dir, "ca"));
    const names = ["m0", "m1", "m2"];
    for (const name of names) kpki("certs", "create", name, "--profile", "etcd-member", "--san", "127.0.0.1", "--ca-dir", join(dir, "ca"), "--out-dir", join(dir, name));
    // A member's ports are found just before it starts: a port found free long before (m2 starts
    // tens of seconds after m0) may by then be the source port of some other connection.
    const member = async (name: string) => {
      const [client, peer, metrics] = [await freePort(), await freePort(), await freePort()];
      return { name, client: `https://127.0.0.1:${client}`, peer: `https://127.0.0.1:${peer}`, metrics: `http://127.0.0.1:${metrics}`, log: join(dir, `${name}.log`),
        file: (suffix: string, ext: string) => join(dir, name, `${name}-${suffix}.${ext}`) };
    };
    type Member = Awaited<ReturnType<typeof member>>;
    const ctl = (m: Member, args: string[]) => run(etcdctl, [
      "--endpoints", m.client, "--cacert", join(dir, "ca/ca.crt"), "--cert", m.file("client", "crt"), "--key", m.file("client", "key"),
      "--dial-timeout", "3s", "--command-timeout", "5s", ...args,
    ], { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 20_000 });

    const members: Member[] = [];
    for (const name of names) {
      const m = await member(name);
      // etcd refuses `member add` ("unhealthy cluster") until every member has been connected for a while.
      if (members.length) await waitFor(`member add ${m.name}`, async () => (await ctl(members[0]!, ["member", "add", m.name, `--peer-urls=${m.peer}`]), true), 60_000, 1000);
      members.push(m);
      const child = startProcess(etcd, [
        "--name", m.name, "--data-dir", join(dir, `${m.name}.etcd`),
        "--listen-client-urls", m.client, "--advertise-client-urls", m.client,
        "--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer, "--listen-metrics-urls", m.metrics,
        "--initial-cluster", members.map((j) => `${j.name}=${j.peer}`).join(","),
        "--initial-cluster-state", members.length === 1 ? "new" : "existing", "--initial-cluster-token", "kpki-create",
        "--cert-file", m.file("server", "crt"), "--key-file", m.file("server", "key"),
        "--client-cert-auth", "--trusted-ca-file", join(dir, "ca/ca.crt"),
        "--peer-cert-file", m.file("peer", "crt"), "--peer-key-file", m.file("peer", "key"),
        "--peer-client-cert-auth", "--peer-trusted-ca-file", join(dir, "ca/ca.crt"),
        "--logger", "zap", "--log-outputs", "stderr",
      ], m.log);
      pids.push(child.pid);
      await waitFor(`etcd ${m.name} /health`, async () => {
        const res = await fetch(`${m.metrics}/health`);
        return res.ok && (await res.text()).includes('"true"');
      }, 30_000).catch((error: Error) => {
        throw new Error(`${error.message}; the end of its log:\n${readFileSync(m.log, "utf8").split("\n").slice(-15).join("\n")}`);
      });
    }

    const { stdout } = await ctl(members[2]!, ["endpoint", "health", "--cluster", "-w", "json"]);
    expect((JSON.parse(stdout) as { health: boolean }[]).map((h) => h.health)).toEqual([true, true, true]);
    const { stdout: list } = await ctl(members[1]!, ["member", "list", "-w", "json"]);
    expect((JSON.parse(list) as { members: { name: string }[] }).members.map((x) => x.name).sort()).toEqual(["m0", "m1", "m2"]);
    await ctl(members[0]!, ["put", "/kpki-create", "ok"]);
    for (const m of members) expect((await ctl(m, ["get", "/kpki-create", "--print-value-only"])).stdout.trim()).toBe("ok");
    for (const m of members) {
      const rejected = readFileSync(m.log, "utf8").split("\n").filter((l) => l.includes("rejected connection") && /certificate|x509/.test(l));
      expect(rejected).toEqual([]);
    }
  });
});

/** GET with the TLS server name `servername` (the name checked against the SANs), CA-verified. */
function getAs(url: string, servername: string, ca: string, cert: string, key: string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { ...(/^[0-9.]+$/.test(servername) ? {} : { servername }), ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key), timeout: 3000 }, (res) => {
      res.resume();
      res.on("end", () => resolvePromise(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

describe.skipIf(skipApiserver)("kube-apiserver serves on a certs create --profile kube-apiserver certificate", () => {
  const dir = join(work, "apiserver-cluster");
  let cp: ControlPlane | undefined;
  afterAll(async () => {
    await cp?.stop();
  });

  it("clients verify it by 127.0.0.1 and by every kubernetes.default name", async () => {
    const apiPort = await freePort();
    kpki("init", "--dir", dir, "--node-name", "kpki-create", "--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", String(apiPort));
    rmSync(join(dir, "pki/apiserver.crt"));
    rmSync(join(dir, "pki/apiserver.key"));
    kpki("certs", "create", "apiserver", "--profile", "kube-apiserver", "--cn", "kube-apiserver", "--san", "127.0.0.1", "--dir", dir, "--out-dir", join(dir, "pki"));
    const x = new X509Certificate(readFileSync(join(dir, "pki/apiserver.crt")));
    expect(x.subjectAltName).toBe("DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, IP Address:10.96.0.1, IP Address:127.0.0.1");
    const work2 = join(work, "apiserver-work");
    mkdirSync(work2);
    cp = await controlPlane(
      { etcd: findBinary("etcd")!, kubeApiserver: findBinary("kube-apiserver")!, kubeControllerManager: findBinary("kube-controller-manager")! },
      { dir, work: work2, apiPort, etcdMembers: 1, controllerManager: false },
    );
    await cp.start();
    const admin = extractClient(dir, "super-admin.conf");
    for (const name of ["127.0.0.1", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]) {
      expect(await getAs(`https://127.0.0.1:${apiPort}/readyz`, name, join(dir, "pki/ca.crt"), admin.cert, admin.key)).toBe(200);
    }
    await expect(getAs(`https://127.0.0.1:${apiPort}/readyz`, "kube-apiserver.example", join(dir, "pki/ca.crt"), admin.cert, admin.key)).rejects.toThrow(/altnames|Hostname/);
  }, 120_000);
});
