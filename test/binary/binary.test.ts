/**
 * The single executable (`npm run build:binary`, scripts/build-binary.ts) runs kpki on a host
 * without Node.js. It is built once, into a temporary folder where it is the only file, and run
 * with an environment whose PATH has no `node` in it, from a folder holding nothing of kpki's. Each
 * command's output is compared with `node dist/bin/kpki.js` (the npm build: a bundle, its code
 * cache and a loader, scripts/bundle.ts) given the same environment.
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { BUILD_ID_LENGTH, BUILD_ID_PREFIX, CACHE_HEADER_LENGTH, cacheFor, WRAP_HEAD, WRAP_TAIL } from "../../bin/kpki-loader.js";
import { buildBinary } from "../../scripts/build-binary.js";
import { createCsr } from "../../src/pki/csr.js";
import { parseIp } from "../../src/pki/ip.js";
import { generateKeyPair } from "../../src/pki/keys.js";
import { VERSION } from "../../src/version.js";
import { crypto } from "../helpers/clock.js";

const ROOT = resolve(import.meta.dirname, "../..");
const KPKI_JS = join(ROOT, "dist", "bin", "kpki.js");

const work = mkdtempSync(join(tmpdir(), "kpki-binary-"));
const binary = join(work, "bin", "kpki");
const home = join(work, "home");
/** No `node` anywhere on PATH, and nothing else from the caller's environment. */
const NO_NODE = { PATH: "/nonexistent-bin", HOME: home };

beforeAll(async () => {
  mkdirSync(home, { recursive: true });
  await buildBinary(binary, () => {}); // the executable is alone in its folder
}, 300_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Run = Pick<SpawnSyncReturns<string>, "status" | "stdout" | "stderr">;
const result = (r: SpawnSyncReturns<string>): Run => {
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};
const viaBinary = (args: readonly string[], env: Record<string, string> = {}): Run =>
  result(spawnSync(binary, args, { cwd: home, env: { ...NO_NODE, ...env }, encoding: "utf8" }));
const viaNode = (args: readonly string[], env: Record<string, string> = {}): Run =>
  result(spawnSync(process.execPath, [KPKI_JS, ...args], { cwd: home, env: { ...NO_NODE, ...env }, encoding: "utf8" }));

/** Runs `args` both ways and expects the same exit code, stdout and stderr; returns the binary's. */
function same(args: readonly string[], env: Record<string, string> = {}): Run {
  const b = viaBinary(args, env);
  expect(b).toEqual(viaNode(args, env));
  return b;
}

const files = (dir: string): string[] => {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) (e.isDirectory() ? walk : (p: string) => out.push(relative(dir, p)))(join(d, e.name));
  };
  walk(dir);
  return out.sort();
};

describe("the single executable, with no node on PATH", () => {
  it("really has no node to fall back on", () => {
    const r = spawnSync("node", ["-e", "0"], { cwd: home, env: NO_NODE });
    expect((r.error as NodeJS.ErrnoException | undefined)?.code).toBe("ENOENT");
  });

  it("--version prints what `version -o short` does", () => {
    const r = viaBinary(["--version"]);
    expect(r).toEqual({ status: 0, stdout: `v${VERSION}\n`, stderr: "" });
    expect(r).toEqual(viaNode(["version", "-o", "short"]));
    expect(r).toEqual(viaNode(["--version"]));
  });

  it("version -o json, --help and a usage error are the npm build's, byte for byte", () => {
    const json = same(["version", "-o", "json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ clientVersion: { version: `v${VERSION}`, nodeVersion: process.version } });
    expect(same(["--help"]).stdout).toContain("kpki init");
    expect(same(["certs", "check-expiration", "--help"]).status).toBe(0);
    expect(same(["bogus"]).status).toBe(2);
  });

  it("yargs' translations are inside it (LANG=fr_FR)", () => {
    const r = same(["bogus"], { LANG: "fr_FR.UTF-8" });
    expect(r.stderr).toContain("Argument inconnu");
    expect(same(["--help"], { LANG: "de_DE.UTF-8" }).stdout).toContain("Kommandos:");
  });

  it("init writes the same files, and certs check-expiration reads them as the npm build does", () => {
    const init = (dir: string): string[] => ["init", "--dir", dir, "--node-name", "n1", "--apiserver-advertise-address", "10.0.0.10", "--encryption-algorithm", "ECDSA-P256"];
    const a = join(work, "pki-binary");
    const b = join(work, "pki-node");
    const ra = viaBinary(init(a));
    const rb = viaNode(init(b));
    expect(ra.status).toBe(0);
    expect({ ...ra, stdout: ra.stdout.replaceAll(a, "DIR") }).toEqual({ ...rb, stdout: rb.stdout.replaceAll(b, "DIR") });
    expect(files(a)).toEqual(files(b));
    expect(files(a)).toContain("pki/ca.crt");

    const text = same(["certs", "check-expiration", "--dir", a]);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/^apiserver\s+.*\s+ca\s+no\s*$/m);
    const json = (r: Run): unknown => ({ ...r, stdout: JSON.parse(r.stdout.replace(/"residualTime": \d+/g, '"residualTime": 0')) as unknown });
    const args = ["certs", "check-expiration", "--dir", a, "-o", "json"];
    expect(json(viaBinary(args))).toEqual(json(viaNode(args)));
    expect(same(["inspect", join(a, "pki", "apiserver.crt"), "-o", "json"]).status).toBe(0);
  });

  it("approver check decides a CSR as the npm build does (approve 0, deny 5)", async () => {
    const dir = join(work, "approver");
    mkdirSync(dir);
    const key = await generateKeyPair("ECDSA-P256", crypto);
    const csrFile = async (name: string, ip: string): Promise<string> => {
      const csr = await createCsr({ subject: { commonName: "system:node:n1", organizations: ["system:nodes"] }, dnsNames: ["n1"], ips: [parseIp(ip)!] }, key, crypto);
      const path = join(dir, `${name}.yaml`);
      writeFileSync(path, stringify({
        apiVersion: "certificates.k8s.io/v1", kind: "CertificateSigningRequest",
        metadata: { name, creationTimestamp: "2026-11-26T11:59:00Z" },
        spec: { groups: ["system:nodes", "system:authenticated"], request: Buffer.from(csr.pem).toString("base64"), signerName: "kubernetes.io/kubelet-serving", usages: ["digital signature", "server auth"], username: "system:node:n1" },
        status: {},
      }));
      return path;
    };
    const nodes = join(dir, "nodes.yaml");
    writeFileSync(nodes, stringify({ apiVersion: "v1", kind: "List", items: [
      { apiVersion: "v1", kind: "Node", metadata: { name: "n1", creationTimestamp: "2026-11-01T00:00:00Z" }, status: { addresses: [{ type: "Hostname", address: "n1" }, { type: "InternalIP", address: "10.0.0.11" }] } },
      { apiVersion: "v1", kind: "Node", metadata: { name: "n2", creationTimestamp: "2026-11-01T00:00:00Z" }, status: { addresses: [{ type: "Hostname", address: "n2" }, { type: "InternalIP", address: "10.0.0.12" }] } },
    ] }));
    const check = async (name: string, ip: string): Promise<string[]> => ["approver", "check", "--csr", await csrFile(name, ip), "--nodes", nodes, "--now", "2026-11-26T12:00:00Z", "-o", "json"];
    const ok = same(await check("ok", "10.0.0.11"));
    expect([ok.status, JSON.parse(ok.stdout).decision]).toEqual([0, "approve"]);
    const steal = same(await check("steal", "10.0.0.12"));
    expect([steal.status, JSON.parse(steal.stdout).decision]).toEqual([5, "deny"]);
  });

  it("loads @kubernetes/client-node from inside itself: approver run reads the kubeconfig with it and ends with the same error", () => {
    const kubeconfig = join(work, "kubeconfig.yaml");
    writeFileSync(kubeconfig, "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\ncurrent-context: none\n");
    const r = same(["approver", "run", "--kubeconfig", kubeconfig]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/^error: /);
    expect(r.stderr).not.toContain("Warning");
  });
});

describe("the npm build's bundle", () => {
  it.each(["kpki.cjs", "kpki-vendor.cjs"])("dist/bin/kpki.js is the loader, and V8 accepts the code cache made for dist/bin/%s", (name) => {
    expect(readFileSync(KPKI_JS, "utf8")).toContain("kpki.cjs");
    // The bundle is written inside its CommonJS wrapper: the loader compiles the text it read, as it is.
    const bundle = readFileSync(join(ROOT, "dist", "bin", name), "latin1");
    expect([bundle.startsWith(WRAP_HEAD), bundle.endsWith(`${WRAP_TAIL}\n`)]).toEqual([true, true]);
    // A script file, not `node -e`, run with Node's default flags: the conditions the loader runs in.
    const probe = join(work, "probe.cjs");
    writeFileSync(probe, `
const { readFileSync } = require("node:fs");
const { Script } = require("node:vm");
const file = ${JSON.stringify(join(ROOT, "dist", "bin", name))};
const source = readFileSync(file, "utf8");
const cache = readFileSync(file + ".cache");
const at = source.lastIndexOf(${JSON.stringify(BUILD_ID_PREFIX)}) + ${BUILD_ID_PREFIX.length};
const id = source.slice(at, at + ${BUILD_ID_LENGTH});
const script = new Script(source, { filename: file, cachedData: cache.subarray(${CACHE_HEADER_LENGTH}) });
process.stdout.write(JSON.stringify({ sameBuild: cache.subarray(0, ${BUILD_ID_LENGTH}).toString("latin1") === id, rejected: script.cachedDataRejected }));
`);
    const r = spawnSync(process.execPath, [probe], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
    expect(JSON.parse(r.stdout)).toEqual({ sameBuild: true, rejected: false });
  });

  it("a damaged code cache is not given to V8 (it would end the process), and the bundle then runs from its source", () => {
    const file = join(ROOT, "dist", "bin", "kpki.cjs");
    const source = readFileSync(file, "utf8");
    const cache = readFileSync(`${file}.cache`);
    expect(cacheFor(source, cache)?.length).toBe(cache.length - CACHE_HEADER_LENGTH);
    const damaged = Buffer.from(cache);
    for (let i = CACHE_HEADER_LENGTH + 100; i < damaged.length; i += 997) damaged[i] = (damaged[i] ?? 0) ^ 0xff;
    expect(cacheFor(source, damaged)).toBeUndefined();
    expect(cacheFor(source.replace(/kpki-build-id=[0-9a-f]{64}/, `kpki-build-id=${"0".repeat(64)}`), cache)).toBeUndefined(); // made for another bundle

    const copy = join(work, "damaged-bin");
    mkdirSync(copy);
    for (const name of ["kpki.js", "kpki.cjs", "kpki-vendor.cjs", "package.json"]) writeFileSync(join(copy, name), readFileSync(join(ROOT, "dist", "bin", name)));
    writeFileSync(join(copy, "kpki.cjs.cache"), damaged);
    const r = spawnSync(process.execPath, [join(copy, "kpki.js"), "--version"], { cwd: home, env: NO_NODE, encoding: "utf8" });
    expect([r.status, r.stdout, r.stderr]).toEqual([0, `v${VERSION}\n`, ""]);
  });
});
