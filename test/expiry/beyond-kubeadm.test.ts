import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { fakeIo } from "../helpers/fake-io.js";
import { T0 } from "../helpers/clock.js";

const work = mkdtempSync(join(tmpdir(), "kpki-expiry-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function kpki(args: string[], opts: { env?: Record<string, string>; now?: Date; isTty?: boolean } = {}) {
  const f = fakeIo({ env: opts.env ?? {}, now: () => opts.now ?? T0, isTty: opts.isTty ?? false });
  const code = await run(args, f.io);
  return { code, stdout: f.stdout(), stderr: f.stderr() };
}

const cluster = join(work, "cluster");
await kpki(["init", "--dir", cluster, "--encryption-algorithm", "ECDSA-P256"]);
const other = join(work, "other");
await kpki(["init", "phase", "certs", "all", "--dir", other, "--encryption-algorithm", "ECDSA-P256"]);

/** The detailed table's rows as objects, via -o json. */
async function rowsOf(args: string[], opts: Parameters<typeof kpki>[1] = {}) {
  const r = await kpki(["certs", "check-expiration", "--no-kubeadm", "-o", "json", ...args], opts);
  const obj = JSON.parse(r.stdout) as { additionalCertificates: Record<string, unknown>[] };
  return { ...r, rows: obj.additionalCertificates };
}

describe("check-expiration beyond kubeadm", () => {
  it("--verify: kubeadm's files with chain and key checks", async () => {
    const { rows, code } = await rowsOf(["--dir", cluster, "--verify"]);
    expect(code).toBe(0);
    const byName = Object.fromEntries(rows.map((r) => [r["name"], r]));
    expect(byName[`${cluster}/pki/apiserver.crt`]).toMatchObject({ chain: "ok", chainIssuer: `${cluster}/pki/ca.crt`, key: "match", status: "OK", subject: "CN=kube-apiserver", issuer: "CN=kubernetes" });
    expect(byName[`${cluster}/pki/ca.crt`]).toMatchObject({ chain: "self-signed", key: "match" });
    expect(byName[`${cluster}/admin.conf user kubernetes-admin`]).toMatchObject({ chain: "ok", key: "match", keyPath: `${cluster}/admin.conf (client-key-data)` });
    expect(byName[`${cluster}/admin.conf cluster kubernetes CA`]).toMatchObject({ chain: "self-signed", key: "-" });
    expect(rows).toHaveLength(10 + 8);
  });

  it("--kubelet: kubelet.conf, kubelet-client-current.pem (cert and key in one file), and kubelet-server-current.pem or kubelet.crt", async () => {
    const kubeletDir = join(work, "kubelet-pki");
    mkdirSync(kubeletDir);
    // kubelet.conf as kubelet-finalize leaves it: the client cert is a file path.
    const conf = readFileSync(join(cluster, "kubelet.conf"), "utf8");
    const data = (field: string) => Buffer.from(/client-(certificate|key)-data: (\S+)/.exec(conf.split("\n").find((l) => l.includes(field))!)![2]!, "base64").toString();
    writeFileSync(join(kubeletDir, "kubelet-client-current.pem"), data("client-certificate-data") + data("client-key-data"));
    const kubeletDirConf = join(work, "kubelet-conf");
    mkdirSync(kubeletDirConf);
    writeFileSync(join(kubeletDirConf, "kubelet.conf"), conf
      .replace(/client-certificate-data: \S+/, `client-certificate: ${join(kubeletDir, "kubelet-client-current.pem")}`)
      .replace(/client-key-data: \S+/, `client-key: ${join(kubeletDir, "kubelet-client-current.pem")}`));
    const { rows } = await rowsOf(["--kubeconfig-dir", kubeletDirConf, "--kubelet", "--kubelet-dir", kubeletDir, "--scan", join(cluster, "pki/ca.crt")]);
    const names = rows.map((r) => r["name"]);
    expect(names).toContain(`${kubeletDirConf}/kubelet.conf user system:node:node1 (${kubeletDir}/kubelet-client-current.pem)`);
    expect(rows.find((r) => r["name"] === `${kubeletDir}/kubelet-client-current.pem`)).toMatchObject({ key: "match", chain: "linked", status: "OK" });
    // Neither serving certificate exists: kubelet.crt (the self-signed default) is the one reported missing.
    expect(rows.find((r) => r["name"] === `${kubeletDir}/kubelet.crt`)).toMatchObject({ status: "MISSING" });
    // With serverTLSBootstrap the kubelet writes kubelet-server-current.pem and no kubelet.crt: that is reported, nothing missing.
    writeFileSync(join(kubeletDir, "kubelet-server-current.pem"), data("client-certificate-data") + data("client-key-data"));
    const served = (await rowsOf(["--kubeconfig-dir", kubeletDirConf, "--kubelet", "--kubelet-dir", kubeletDir, "--scan", join(cluster, "pki/ca.crt")])).rows;
    expect(served.find((r) => r["name"] === `${kubeletDir}/kubelet-server-current.pem`)).toMatchObject({ key: "match", chain: "linked", status: "OK" });
    expect(served.filter((r) => r["status"] === "MISSING")).toEqual([]);
  });

  it("$KUBECONFIG with --env-kubeconfig: every file, every user and cluster", async () => {
    const env = { KUBECONFIG: `${join(cluster, "admin.conf")}:${join(cluster, "scheduler.conf")}` };
    const { rows } = await rowsOf(["--env-kubeconfig"], { env });
    expect(rows.map((r) => r["name"])).toEqual([
      `${cluster}/admin.conf user kubernetes-admin`, `${cluster}/admin.conf cluster kubernetes CA`,
      `${cluster}/scheduler.conf user system:kube-scheduler`, `${cluster}/scheduler.conf cluster kubernetes CA`,
    ]);
  });

  it("--scan: bundles, text around PEM, DER, globs; chain to a CA found anywhere in the scan", async () => {
    const d = join(work, "scan");
    mkdirSync(join(d, "sub"), { recursive: true });
    const ca = readFileSync(join(cluster, "pki/ca.crt"), "utf8");
    const leaf = readFileSync(join(cluster, "pki/apiserver.crt"), "utf8");
    writeFileSync(join(d, "bundle.pem"), `Certificate:\n    Data: ...\n${leaf}junk between\n${ca}`);
    const der = Buffer.from(leaf.replace(/-----[^-]+-----|\n/g, ""), "base64");
    writeFileSync(join(d, "sub", "leaf.der"), der);
    writeFileSync(join(d, "notes.txt"), "not a certificate, and not named like one");
    const { rows } = await rowsOf(["--scan", d]);
    // Linked by names and key identifiers; with --verify, by signatures.
    expect(rows.map((r) => [r["name"], r["chain"]])).toEqual([
      [`${d}/bundle.pem#1`, "linked"],
      [`${d}/bundle.pem#2`, "self-issued"],
      [`${d}/sub/leaf.der`, "linked"],
    ]);
    // --verify also lists kubeadm's own files (missing here).
    const verified = (await rowsOf(["--scan", d, "--verify", "--dir", join(work, "none")])).rows.filter((r) => String(r["name"]).startsWith(d));
    expect(verified.map((r) => [r["name"], r["chain"]])).toEqual([
      [`${d}/bundle.pem#1`, "ok"],
      [`${d}/bundle.pem#2`, "self-signed"],
      [`${d}/sub/leaf.der`, "ok"],
    ]);
    const glob = await rowsOf(["--scan", `${d}/**/*.der`]);
    expect(glob.rows.map((r) => r["name"])).toEqual([`${d}/sub/leaf.der`]);
    const unknown = await rowsOf(["--scan", join(cluster, "pki/apiserver.crt")]);
    expect(unknown.rows[0]).toMatchObject({ chain: "unknown issuer", key: "match", status: "OK" });
  });

  it("bad input: a row naming the file and the problem, the rest still printed, exit code set", async () => {
    const d = join(work, "bad");
    mkdirSync(join(d, "dir.crt"), { recursive: true });
    writeFileSync(join(d, "empty.crt"), "");
    writeFileSync(join(d, "text.pem"), "hello\n");
    writeFileSync(join(d, "readme.txt"), "hello\n");
    writeFileSync(join(d, "truncated.der"), Buffer.from([0x30, 0x82, 0x05, 0x00, 0x30]));
    writeFileSync(join(d, "key.crt"), readFileSync(join(cluster, "pki/ca.key")));
    writeFileSync(join(d, "good.crt"), readFileSync(join(cluster, "pki/ca.crt")));
    writeFileSync(join(d, "mismatch.crt"), readFileSync(join(cluster, "pki/apiserver.crt")));
    writeFileSync(join(d, "mismatch.key"), readFileSync(join(other, "pki/apiserver.key")));
    writeFileSync(join(d, "broken.conf"), "clusters: [");
    writeFileSync(join(d, "nocontext.conf"), "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\n");
    symlinkSync("loop-b", join(d, "loop-a"));
    symlinkSync("loop-a", join(d, "loop-b"));
    symlinkSync(d, join(d, "dir.crt", "up")); // a directory loop: walked once
    const r = await kpki(["certs", "check-expiration", "--no-kubeadm", "--scan", d, "--kubeconfig", join(d, "broken.conf"), "--kubeconfig", join(d, "nocontext.conf")]);
    expect(r.code).toBe(1);
    const out = r.stdout;
    expect(out).toMatch(new RegExp(`${d}/empty.crt\\s.*INVALID: empty file`));
    expect(out).toMatch(new RegExp(`${d}/truncated.der\\s.*INVALID: DER data is not a certificate`));
    expect(out).toMatch(new RegExp(`${d}/key.crt\\s.*INVALID: holds a private key \\(EC PRIVATE KEY\\), not a certificate`));
    expect(out).toMatch(new RegExp(`${d}/mismatch.crt\\s.*MISMATCH\\s+INVALID: ${d}/mismatch.key does not belong to this certificate`));
    expect(out).toMatch(new RegExp(`${d}/loop-a\\s.*INVALID: too many levels of symbolic links`));
    expect(out).toMatch(new RegExp(`${d}/broken.conf\\s.*INVALID: not a kubeconfig`));
    expect(out).toMatch(new RegExp(`${d}/nocontext.conf current-context\\s.*INVALID: kubeconfig has no current-context`));
    expect(out).toMatch(new RegExp(`${d}/good.crt\\s+CN=kubernetes .* OK\\n`));
    expect(out).toMatch(new RegExp(`${d}/text.pem\\s.*INVALID: neither PEM nor DER data`));
    expect(out).not.toContain("readme.txt"); // not named like a certificate, found in a walk: passed over
    expect(out.match(/good\.crt/g)).toHaveLength(1); // the directory loop did not list it twice
    for (const line of r.stderr.trim().split("\n")) expect(line).toMatch(/^error: \S+.*: .+$/); // one line each, no stack trace
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("kubeadm's rows: a directory named apiserver.crt and an unreadable file are rows naming the problem", async () => {
    const { cpSync, rmSync: rm, mkdirSync: mk } = await import("node:fs");
    const broken = join(work, "broken-cluster");
    cpSync(cluster, broken, { recursive: true });
    rm(join(broken, "pki/apiserver.crt"));
    mk(join(broken, "pki/apiserver.crt"));
    const r = await kpki(["certs", "check-expiration", "--dir", broken]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^!INVALID! apiserver\s+$/m);
    expect(r.stdout).toMatch(/^admin\.conf\s+Aug 19, 2027/m); // the rest of the report is there
    expect(r.stderr).toBe(`error: apiserver: cannot read ${broken}/pki/apiserver.crt: is a directory (EISDIR)\n`);
    // A read that fails for another reason (permission denied, as a non-root user would see it).
    const { kubeadmExpiration } = await import("../../src/expiry/kubeadm-inventory.js");
    const { info } = await kubeadmExpiration({ certificatesDir: `${broken}/pki`, kubeconfigDir: broken, externalEtcd: false }, {
      read: async (p) => {
        if (p.endsWith("front-proxy-client.crt")) throw new Error(`cannot read ${p}: permission denied`);
        return (await import("node:fs")).readFileSync(p, "utf8");
      },
    }, T0);
    expect(info.certificates.find((c) => c.name === "front-proxy-client")).toMatchObject({ missing: false, error: `cannot read ${broken}/pki/front-proxy-client.crt: permission denied` });
  });

  it("thresholds set the exit code and colour appears only on a TTY without NO_COLOR", async () => {
    const inDays = (d: number) => new Date(T0.getTime() + d * 86_400_000);
    const args = ["certs", "check-expiration", "--dir", cluster];
    expect((await kpki([...args, "--warn-within", "30d", "--crit-within", "7d"])).code).toBe(0);
    expect((await kpki([...args, "--warn-within", "30d", "--crit-within", "7d"], { now: inDays(340) })).code).toBe(1);
    expect((await kpki([...args, "--warn-within", "30d", "--crit-within", "7d"], { now: inDays(360) })).code).toBe(2);
    expect((await kpki([...args, "--warn-within", "30d"], { now: inDays(400) })).code).toBe(2); // expired
    expect((await kpki(args, { now: inDays(400) })).code).toBe(0); // expired, no thresholds: kubeadm prints it and exits 0
    expect((await kpki(args, { now: inDays(10) })).code).toBe(0);
    const tty = await kpki([...args, "--warn-within", "30d"], { now: inDays(340), isTty: true });
    expect(tty.stdout).toContain("\x1b[33madmin.conf ");
    expect(tty.stdout).toContain("ca                      ");
    expect(tty.stdout).not.toContain("\x1b[33mca ");
    const noColour = await kpki([...args, "--warn-within", "30d"], { now: inDays(340), isTty: true, env: { NO_COLOR: "1" } });
    expect(noColour.stdout).not.toContain("\x1b[");
    const pipe = await kpki([...args, "--warn-within", "30d"], { now: inDays(340) });
    expect(pipe.stdout).not.toContain("\x1b[");
  });

  it("YAML output carries the same additional rows", async () => {
    const r = await kpki(["certs", "check-expiration", "--dir", cluster, "--scan", join(cluster, "pki/ca.crt"), "-o", "yaml"]);
    expect(r.stdout).toContain(`additionalCertificates:\n- chain: self-issued\n  expirationDate: "`);
    expect(r.stdout).toContain("kind: CertificateExpirationInfo\n");
  });
});
