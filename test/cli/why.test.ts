/**
 * Every mistake listed under "Why" in issue 11 (and the commands it asked for), run in-process as an
 * operator would type it: the exit code, the one line kpki answers with, and that nothing was
 * written or changed. The disk-full, read-only and SIGINT cases run on a real tmpfs, an immutable
 * folder and a child process in test/io/writes.test.ts and test/renew/.
 */
import { createHash, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { createCsr } from "../../src/pki/csr.js";
import { generateKeyPair } from "../../src/pki/keys.js";
import { buildCsr, fromPrivateKey } from "../helpers/csr-builder.js";
import { crypto, T0 } from "../helpers/clock.js";
import { fakeIo } from "../helpers/fake-io.js";
import { fsStore } from "../../src/io/fs-store.js";
import type { PkiStore } from "../../src/kubeadm/store.js";

const work = mkdtempSync(join(tmpdir(), "kpki-why-"));
const cluster = join(work, "cluster");
const otherCa = join(work, "other");
const mixed = join(work, "mixed");
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Every file under the work folder with its mode and a hash of its bytes: "nothing changed" is this staying equal. */
function snapshot(): string[] {
  return readdirSync(work, { recursive: true, encoding: "utf8" })
    .sort()
    .map((f) => {
      const p = join(work, f);
      const st = statSync(p);
      return st.isDirectory() ? `${f}/ ${(st.mode & 0o777).toString(8)}` : `${f} ${(st.mode & 0o777).toString(8)} ${createHash("sha256").update(readFileSync(p)).digest("hex").slice(0, 16)}`;
    });
}

/** kpki in-process: reads and folder checks are real; writes through the store are recorded, never made. */
async function kpki(args: readonly string[], opts: { now?: Date } = {}) {
  const writes: string[] = [];
  const real = fsStore();
  const store: PkiStore = { read: real.read, checkWritable: real.checkWritable, write: async (path) => void writes.push(path) };
  const f = fakeIo({ store, ...(opts.now ? { now: () => opts.now ?? T0 } : {}) });
  const code = await run(args, f.io);
  return { code, stdout: f.stdout(), stderr: f.stderr(), writes };
}

const file = (name: string, text: string): string => {
  const p = join(work, name);
  writeFileSync(p, text);
  return p;
};

let weakCsr = "";
let noSanCsr = "";
let misspelt = "";

beforeAll(async () => {
  // A real dev cluster (through the real file store), a second CA, and a cert dir whose ca.key is the other CA's.
  const real = async (args: string[]) => {
    const f = fakeIo();
    expect(await run(args, f.io), f.stderr()).toBe(0);
  };
  await real(["init", "--dir", cluster, "--encryption-algorithm", "ECDSA-P256"]);
  await real(["init", "phase", "certs", "ca", "--dir", otherCa, "--encryption-algorithm", "ECDSA-P256"]);
  mkdirSync(join(mixed, "pki"), { recursive: true });
  writeFileSync(join(mixed, "pki", "ca.crt"), readFileSync(join(cluster, "pki", "ca.crt")));
  writeFileSync(join(mixed, "pki", "ca.key"), readFileSync(join(otherCa, "pki", "ca.key")));
  weakCsr = file("weak.csr", buildCsr(fromPrivateKey(generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey)).pem);
  const key = await generateKeyPair("ECDSA-P256", crypto);
  noSanCsr = file("nosan.csr", (await createCsr({ subject: { commonName: "kube-apiserver" }, dnsNames: [], ips: [] }, key, crypto)).pem);
  misspelt = file(
    "kubeadm.yaml",
    "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration:\n  name: cp-1\nlocalAPIEndpoint:\n  advertiseAddress: 192.0.2.10\n---\n" +
      "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncertificateDir: /srv/pki\n",
  );
});

interface Case {
  /** The mistake, as the issue tells it. */
  readonly why: string;
  readonly args: () => readonly string[];
  readonly code: number;
  /** The whole of stderr (a string) or a pattern it must match. */
  readonly stderr: string | RegExp;
  readonly stdout?: string | RegExp;
  readonly now?: Date;
}

const usage = (message: string, help: string): string => `error: ${message}\nRun '${help} --help' for usage.\n`;

const CASES: readonly Case[] = [
  // Empty and repeated values.
  { why: "init --dir with the value forgotten", args: () => ["init", "--dir"], code: 2, stderr: usage("--dir needs a value", "kpki init") },
  { why: 'init --dir ""', args: () => ["init", "--dir", ""], code: 2, stderr: usage("--dir needs a value", "kpki init") },
  { why: "an empty --cert-dir", args: () => ["init", "--cert-dir", "", "--kubeconfig-dir", "/k"], code: 2, stderr: usage("--cert-dir needs a value", "kpki init") },
  { why: "an empty --kubeconfig-dir", args: () => ["init", "--kubeconfig-dir=", "--cert-dir", "/k"], code: 2, stderr: usage("--kubeconfig-dir needs a value", "kpki init") },
  {
    why: "a string flag given twice",
    args: () => ["init", "--dir", "/k", "--node-name", "a", "--node-name", "b"],
    code: 2,
    stderr: usage('--node-name was given 2 times ("a", "b"); give it once', "kpki init"),
  },
  // Config files.
  {
    why: "a misspelt config field (certificateDir:)",
    args: () => ["init", "--config", misspelt],
    code: 1,
    stderr: `error: ${join(work, "kubeadm.yaml")}:10: unknown field "certificateDir" in ClusterConfiguration (did you mean "certificatesDir"?)\n`,
  },
  {
    why: "--allow-unknown-fields downgrades it to a warning",
    args: () => ["init", "--config", misspelt, "--allow-unknown-fields", "--dry-run"],
    code: 0,
    stderr: `WARNING: ${join(work, "kubeadm.yaml")}:10: strict decoding error: unknown field "certificateDir" in ClusterConfiguration (did you mean "certificatesDir"?)\n`,
  },
  { why: "config validate finds it too", args: () => ["config", "validate", "--config", misspelt], code: 1, stderr: /^error: .*kubeadm\.yaml:10: unknown field "certificateDir" in ClusterConfiguration \(did you mean "certificatesDir"\?\)\n$/ },
  // check-expiration's exit codes.
  {
    why: "--cert-dir /typo --crit-within 7d is UNKNOWN, not green",
    args: () => ["certs", "check-expiration", "--cert-dir", join(work, "typo"), "--kubeconfig-dir", cluster, "--crit-within", "7d"],
    code: 3,
    stderr: `UNKNOWN: the certificate directory ${join(work, "typo")} does not exist\n`,
  },
  {
    why: "--cert-dir /typo without thresholds: kubeadm's 0, and a warning",
    args: () => ["certs", "check-expiration", "--cert-dir", join(work, "typo"), "--kubeconfig-dir", cluster],
    code: 0,
    stderr: `warning: the certificate directory ${join(work, "typo")} does not exist\n`,
  },
  {
    why: "--warn-within 30days is a usage error: UNKNOWN (3) for a monitoring check",
    args: () => ["certs", "check-expiration", "--dir", cluster, "--warn-within", "30days"],
    code: 3,
    stderr: usage('invalid --warn-within "30days": expected a duration such as 720h, 30d or 1y', "kpki certs check-expiration"),
  },
  {
    why: "an expired certificate without thresholds: kubeadm prints it and exits 0",
    args: () => ["certs", "check-expiration", "--dir", cluster],
    now: new Date(T0.getTime() + 400 * 86_400_000),
    code: 0,
    stderr: "",
    stdout: /^admin\.conf\s+.*\s+<invalid>\s+ca\s+no/m,
  },
  {
    why: "an expired certificate with thresholds: CRITICAL",
    args: () => ["certs", "check-expiration", "--dir", cluster, "--warn-within", "30d"],
    now: new Date(T0.getTime() + 400 * 86_400_000),
    code: 2,
    stderr: "",
  },
  // kubeconfig user.
  {
    why: "kubeconfig user with a ca.key that is not ca.crt's",
    args: () => ["kubeconfig", "user", "--client-name", "jane", "--dir", mixed, "--apiserver-advertise-address", "192.0.2.10"],
    code: 1,
    stderr: `error: couldn't create a kubeconfig; the CA files couldn't be loaded: ${join(mixed, "pki/ca.key")} does not match ${join(mixed, "pki/ca.crt")}: the key is not the ca certificate authority's\n`,
  },
  {
    why: "kubeconfig user --certificate-validity-period 1h is not silently ignored",
    args: () => ["kubeconfig", "user", "--client-name", "jane", "--dir", cluster, "--certificate-validity-period", "1h"],
    code: 2,
    stderr: usage("unknown flag --certificate-validity-period (did you mean --validity-period?)", "kpki kubeconfig user"),
  },
  // Refusals.
  {
    why: "--apiserver-advertise-address 0.0.0.0 is resolved, never written as it is",
    args: () => ["init", "phase", "kubeconfig", "admin", "--dir", cluster, "--apiserver-advertise-address", "0.0.0.0", "--dry-run"],
    code: 0,
    stderr: "",
    stdout: /Using existing kubeconfig file/,
  },
  {
    why: "certs sign refuses an RSA-1024 request",
    args: () => ["certs", "sign", "--csr", weakCsr, "--usage", "serverAuth", "--dir", cluster, "--out", join(work, "weak.crt")],
    code: 1,
    stderr: "error: the CSR has an RSA key of 1024 bits; kpki signs RSA keys of 2048, 3072 or 4096 bits, ECDSA P-256 or P-384, and Ed25519\n",
  },
  {
    why: "certs sign refuses an apiserver-profile certificate with no SANs",
    args: () => ["certs", "sign", "--csr", noSanCsr, "--profile", "apiserver", "--dir", cluster, "--out", join(work, "nosan.crt")],
    code: 1,
    stderr: "error: the CSR asks for a serving certificate (serverAuth) but names no DNS name or IP: TLS clients check the SANs, not the CN\n",
  },
  // CLI habits.
  { why: "-h is help", args: () => ["certs", "renew", "-h"], code: 0, stderr: "", stdout: /^kpki certs renew <name>\n[\s\S]*Examples:\n[\s\S]*Exit codes:\s0 done/ },
  { why: "kpki version", args: () => ["version"], code: 0, stderr: "", stdout: /^kpki version: v\d+\.\d+\.\d+ \(node v\d+/ },
  { why: "kpki version -o json", args: () => ["version", "-o", "json"], code: 0, stderr: "", stdout: /^\{\n {4}"clientVersion": \{\n {8}"version": "v/ },
  { why: "completion --help is help, not the script", args: () => ["completion", "--help"], code: 0, stderr: "", stdout: /^kpki completion \[bash\|zsh\|fish\]\n/ },
  { why: "an unknown flag gets a suggestion and the subcommand's help", args: () => ["init", "--cert-dirr", "/x"], code: 2, stderr: usage("unknown flag --cert-dirr (did you mean --cert-dir?)", "kpki init") },
  { why: "an unknown subcommand gets a suggestion", args: () => ["certs", "renw", "all"], code: 2, stderr: usage('unknown command "renw" (did you mean renew?)', "kpki certs") },
  {
    why: "a bad choice is one line with the choices",
    args: () => ["certs", "check-expiration", "-o", "jsn"],
    code: 2,
    stderr: usage('invalid --output "jsn": choose one of text, json, yaml (did you mean json?)', "kpki certs check-expiration"),
  },
  // New commands.
  { why: "config print init-defaults", args: () => ["config", "print", "init-defaults"], code: 0, stderr: "", stdout: /^apiVersion: kubeadm\.k8s\.io\/v1beta4\n[\s\S]*kind: InitConfiguration\n[\s\S]*---\n[\s\S]*kind: ClusterConfiguration\n/ },
  // approver check: a denial is not an unreadable input.
  {
    why: "approver check on a file that does not exist: error (1), not a decision",
    args: () => ["approver", "check", "--csr", join(work, "nope.yaml"), "--nodes", join(work, "nope.yaml")],
    code: 1,
    stderr: `error: --csr ${join(work, "nope.yaml")}: no such file\n`,
  },
];

describe("issue 11: every mistake gets one clear line, a documented exit code, and nothing changed", () => {
  it.each(CASES.map((c) => [c.why, c] as const))("%s", async (_why, c) => {
    const before = snapshot();
    const r = await kpki(c.args(), c.now ? { now: c.now } : {});
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(c.code);
    if (typeof c.stderr === "string") expect(r.stderr).toBe(c.stderr);
    else expect(r.stderr).toMatch(c.stderr);
    if (c.stdout !== undefined) expect(r.stdout).toMatch(c.stdout);
    expect(r.writes).toEqual([]);
    expect(snapshot()).toEqual(before);
    expect(existsSync(join(work, "weak.crt")) || existsSync(join(work, "nosan.crt"))).toBe(false);
  });

  it("kubeconfig user's --help lists only the flags it honours", async () => {
    const r = await kpki(["kubeconfig", "user", "--help"]);
    expect(r.code).toBe(0);
    for (const ignored of ["--service-cidr", "--service-dns-domain", "--node-name", "--apiserver-cert-extra-sans", "--kubeconfig-dir", "--certificate-validity-period", "--ca-certificate-validity-period", "--dry-run"]) {
      expect(r.stdout).not.toContain(ignored);
    }
    for (const honoured of ["--client-name", "--org", "--validity-period", "--token", "--config", "--cert-dir", "--dir"]) expect(r.stdout).toContain(honoured);
  });

  it("generate-csr's --help does not offer validity flags (a CSR has none)", async () => {
    const r = await kpki(["certs", "generate-csr", "--help"]);
    expect(r.stdout).not.toContain("validity-period");
  });

  it("the build makes dist/bin/kpki.js executable", () => {
    expect(statSync("dist/bin/kpki.js").mode & 0o111).toBe(0o111);
  });

  it("the README's first command writes its PKI where git ignores it", () => {
    const readme = readFileSync("README.md", "utf8");
    const quick = /## Quick start[\s\S]*?```sh\n([^\n]+)\n```/.exec(readme)?.[1] ?? "";
    const dir = /init --dir (\S+)/.exec(quick)?.[1];
    expect(dir).toBe("./dev-cluster");
    expect(readFileSync(".gitignore", "utf8").split("\n")).toContain("dev-cluster/");
  });
});
