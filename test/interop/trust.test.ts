/**
 * `kpki trust` against the real stores of this host (issue 16 point 3).
 *
 * System (Debian, needs root): a CA made by `kpki ca create`, a local node:https server on a leaf
 * from `kpki certs create` signed by it; curl (no --cacert) fails before `trust install --store
 * system`, succeeds after, and fails again after `trust uninstall`; /usr/local/share/ca-certificates
 * and /etc/ssl/certs/ca-certificates.crt end byte-identical to before. afterAll removes the anchor
 * file and reruns update-ca-certificates whatever happened, so a failing test leaves no trust behind.
 *
 * NSS: a private database in a temporary HOME (`certutil -N --empty-password`), read back with
 * certutil -L. Java: a private JAVA_HOME (the real keytool linked in, a copy of the system cacerts),
 * read back with keytool -list -rfc; a second copy of the CA under `debian:x.pem` (what Debian's
 * ca-certificates-java hook adds) is removed by uninstall too. Java is optional ("where present"), so without keytool its
 * test is skipped with a printed reason, under CI=true too.
 */
import { execFile, execFileSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../helpers/procs.js";
import { findBinary, isCi, missingBinaries } from "../helpers/testenv.js";

const exec = promisify(execFile);
const KPKI = resolve(import.meta.dirname, "../../dist/bin/kpki.js");
const ANCHORS = "/usr/local/share/ca-certificates";
const BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
// Debian's ca-certificates-java hook (/etc/ca-certificates/update.d/jks-keystore) imports each new
// anchor into this keystore when update-ca-certificates runs; on this host it was not deleted again
// when the anchor was removed, so the test puts the keystore's bytes back itself.
const JAVA_SYSTEM_CACERTS = "/etc/ssl/certs/java/cacerts";

const work = mkdtempSync(join(tmpdir(), "kpki-trust-"));
const home = join(work, "home");
mkdirSync(home);
/** The environment of every child: the test's HOME, no JAVA_HOME, and no CA overrides for curl. */
const baseEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  for (const k of ["JAVA_HOME", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"]) delete env[k];
  return env;
};

async function kpki(args: string[], env: NodeJS.ProcessEnv = baseEnv()): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [KPKI, ...args], { env, encoding: "utf8" });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

const sha256 = (bytes: Uint8Array | string): string => createHash("sha256").update(bytes).digest("hex");
const caFile = join(work, "ca", "ca.crt");
let caSha = "";
let name = "";

beforeAll(async () => {
  const made = await kpki(["ca", "create", "--out-dir", join(work, "ca"), "--common-name", "kpki trust test CA", "--algorithm", "ECDSA-P256"]);
  expect(made.code, made.stderr).toBe(0);
  caSha = sha256(new X509Certificate(readFileSync(caFile)).raw);
  const status = await kpki(["trust", "status", caFile, "--store", "system", "-o", "json"]);
  name = (JSON.parse(status.stdout || "{}") as { name?: string }).name ?? `kpki-kpki_trust_test_CA-${caSha.slice(0, 8)}`;
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

// The system store is the host's: root only, and never outside CI's or a developer's explicit run as root.
const skipSystem = ((): string | undefined => {
  const missing = missingBinaries("curl", "update-ca-certificates");
  if (missing) return missing;
  if (!existsSync(ANCHORS)) return `${ANCHORS} does not exist (not a Debian family host)`;
  if (process.getuid?.() !== 0) {
    const reason = "the system store needs root";
    if (isCi()) throw new Error(`CI=true but ${reason}`);
    console.warn(`SKIP: ${reason}`);
    return reason;
  }
  return undefined;
})();

describe.skipIf(skipSystem !== undefined)("system store (Debian: update-ca-certificates), proven with curl", () => {
  let server: Server | undefined;
  let url = "";
  const listing = (): string[] => readdirSync(ANCHORS).sort();
  const before = { listing: [] as string[], bundle: "", javaCacerts: undefined as Buffer | undefined };
  let anchor = "";

  beforeAll(async () => {
    before.listing = listing();
    before.bundle = sha256(readFileSync(BUNDLE));
    if (existsSync(JAVA_SYSTEM_CACERTS)) before.javaCacerts = readFileSync(JAVA_SYSTEM_CACERTS);
    anchor = join(ANCHORS, `${name}.crt`);
    const leaf = await kpki(["certs", "create", "web", "--profile", "server", "--san", "127.0.0.1", "--ca-cert", caFile,
      "--ca-key", join(work, "ca", "ca.key"), "--algorithm", "ECDSA-P256", "--out-dir", join(work, "leaf")]);
    expect(leaf.code, leaf.stderr).toBe(0);
    const port = await freePort();
    server = createServer({ key: readFileSync(join(work, "leaf", "web.key")), cert: readFileSync(join(work, "leaf", "web.crt")) }, (_req, res) => res.end("kpki-trust-ok\n"));
    await new Promise<void>((done) => server!.listen(port, "127.0.0.1", done));
    url = `https://127.0.0.1:${port}/`;
  });

  afterAll(async () => {
    await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
    // Restore whatever happened above: the anchor file gone and the bundle rebuilt without it.
    const changed = existsSync(anchor) || sha256(readFileSync(BUNDLE)) !== before.bundle;
    rmSync(anchor, { force: true });
    if (changed) execFileSync("update-ca-certificates", { stdio: "pipe" });
    if (before.javaCacerts && !readFileSync(JAVA_SYSTEM_CACERTS).equals(before.javaCacerts)) writeFileSync(JAVA_SYSTEM_CACERTS, before.javaCacerts);
  });

  const curl = async (): Promise<{ code: number; stdout: string }> => {
    try {
      const { stdout } = await exec("curl", ["-sS", "--max-time", "10", url], { env: baseEnv(), encoding: "utf8" });
      return { code: 0, stdout };
    } catch (error) {
      return { code: (error as { code?: number }).code ?? -1, stdout: "" };
    }
  };

  it("curl fails before install, succeeds after, fails after uninstall; the store ends as it was", async () => {
    expect((await curl()).code).toBe(60); // curl: peer certificate cannot be authenticated with known CA certificates

    const dry = await kpki(["trust", "install", caFile, "--store", "system", "--dry-run"]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`would: write ${anchor} (mode 0644,`);
    expect(dry.stdout).toMatch(/would: \S*update-ca-certificates\n/);
    expect(listing()).toEqual(before.listing);
    expect(sha256(readFileSync(BUNDLE))).toBe(before.bundle);

    const installed = await kpki(["trust", "install", caFile, "--store", "system"]);
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.stdout).toContain(`${anchor}: installed`);
    expect(readFileSync(BUNDLE, "utf8")).toContain(readFileSync(anchor, "utf8").trim());
    const ok = await curl();
    expect(ok).toEqual({ code: 0, stdout: "kpki-trust-ok\n" });

    const again = await kpki(["trust", "install", caFile, "--store", "system", "-o", "json"]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).stores).toMatchObject([{ store: "system", status: "already-present", held: true, steps: [] }]);
    expect((await kpki(["trust", "status", caFile, "--store", "system"])).code).toBe(0);

    const removed = await kpki(["trust", "uninstall", caFile, "--store", "system"]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`${anchor}: removed`);
    expect((await curl()).code).toBe(60);
    expect((await kpki(["trust", "status", caFile, "--store", "system"])).code).toBe(1);

    expect(listing()).toEqual(before.listing);
    expect(sha256(readFileSync(BUNDLE))).toBe(before.bundle);
  });
});

const skipNss = missingBinaries("certutil");

describe.skipIf(skipNss !== undefined)("NSS database (certutil from libnss3-tools)", () => {
  const db = join(home, ".pki", "nssdb");
  const certutil = (...args: string[]) => exec("certutil", args, { env: baseEnv(), encoding: "utf8" });

  it("install adds the CA under its name with trust C,,; uninstall removes exactly it", async () => {
    mkdirSync(db, { recursive: true });
    await certutil("-N", "--empty-password", "-d", `sql:${db}`);

    const installed = await kpki(["trust", "install", caFile, "--store", "nss"]);
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.stdout).toContain(`nss sql:${db}: installed`);
    const pem = (await certutil("-L", "-d", `sql:${db}`, "-n", name, "-a")).stdout;
    expect(sha256(new X509Certificate(pem).raw)).toBe(caSha);
    expect((await certutil("-L", "-d", `sql:${db}`)).stdout).toMatch(new RegExp(`${name}\\s+C,,`));

    const status = await kpki(["trust", "status", caFile, "--store", "nss", "-o", "json"]);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).stores).toMatchObject([{ store: "nss", location: `nss sql:${db}`, status: "present", held: true }]);

    const removed = await kpki(["trust", "uninstall", caFile, "--store", "nss"]);
    expect(removed.code, removed.stderr).toBe(0);
    await expect(certutil("-L", "-d", `sql:${db}`, "-n", name, "-a")).rejects.toThrow(/Could not find cert/);
    expect((await certutil("-L", "-d", `sql:${db}`)).stdout).not.toContain(name);
    expect((await kpki(["trust", "status", caFile, "--store", "nss"])).code).toBe(1);
  });
});

// Java is optional ("where present"): no keytool means no Java store to test, a legitimate skip under CI too.
const keytool = findBinary("keytool");
if (!keytool) console.warn("SKIP: Java's cacerts test: no keytool on PATH (Java is optional for kpki trust)");

describe.skipIf(!keytool)("Java cacerts (keytool), in a private JAVA_HOME", () => {
  it("install imports the CA under its alias; uninstall deletes every alias holding it (also debian:x.pem)", async () => {
    const jdk = join(work, "jdk");
    mkdirSync(join(jdk, "bin"), { recursive: true });
    mkdirSync(join(jdk, "lib", "security"), { recursive: true });
    const real = realpathSync(keytool!);
    symlinkSync(real, join(jdk, "bin", "keytool"));
    const cacerts = join(jdk, "lib", "security", "cacerts");
    copyFileSync(realpathSync(join(real, "..", "..", "lib", "security", "cacerts")), cacerts);
    const env = { ...baseEnv(), JAVA_HOME: jdk };
    const list = (alias: string) => exec(join(jdk, "bin", "keytool"), ["-list", "-rfc", "-keystore", cacerts, "-storepass", "changeit", "-alias", alias], { env, encoding: "utf8" });

    const installed = await kpki(["trust", "install", caFile, "--store", "java"], env);
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.stdout).toContain(`java ${cacerts}: installed`);
    const pem = (await list(name)).stdout;
    expect(sha256(new X509Certificate(pem.slice(pem.indexOf("-----BEGIN"))).raw)).toBe(caSha);

    // A second copy under another alias, as Debian's ca-certificates-java hook makes of each system anchor.
    await exec(join(jdk, "bin", "keytool"), ["-importcert", "-noprompt", "-keystore", cacerts, "-storepass", "changeit", "-alias", "debian:x.pem", "-file", caFile], { env, encoding: "utf8" });
    const copy = (await list("debian:x.pem")).stdout;
    expect(sha256(new X509Certificate(copy.slice(copy.indexOf("-----BEGIN"))).raw)).toBe(caSha);

    const dry = await kpki(["trust", "uninstall", caFile, "--store", "java", "--dry-run", "-o", "json"], env);
    expect(dry.code, dry.stderr).toBe(0);
    const steps = (JSON.parse(dry.stdout) as { stores: { steps: string[] }[] }).stores[0]?.steps ?? [];
    // Aliases as the listing names them (a JKS keystore lowercases them).
    expect(steps.map((s) => s.slice(s.lastIndexOf(" -alias ") + 8).toLowerCase()).sort()).toEqual(["debian:x.pem", name.toLowerCase()].sort());
    expect(steps.every((s) => s.startsWith(`${join(jdk, "bin", "keytool")} -delete -noprompt -keystore ${cacerts} -storepass changeit -alias `))).toBe(true);

    const removed = await kpki(["trust", "uninstall", caFile, "--store", "java"], env);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`java ${cacerts}: removed`);
    // keytool prints its errors on stdout.
    await expect(list(name)).rejects.toMatchObject({ stdout: expect.stringMatching(/Alias <.*> does not exist/) });
    await expect(list("debian:x.pem")).rejects.toMatchObject({ stdout: expect.stringMatching(/Alias <.*> does not exist/) });
    // No entry of the keystore holds the CA any more.
    const all = (await exec(join(jdk, "bin", "keytool"), ["-list", "-rfc", "-keystore", cacerts, "-storepass", "changeit"], { env, encoding: "utf8" })).stdout;
    const pems = all.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    expect(pems.length).toBeGreaterThan(0);
    expect(pems.map((p) => sha256(new X509Certificate(p).raw))).not.toContain(caSha);
    expect((await kpki(["trust", "status", caFile, "--store", "java"], env)).code).toBe(1);
  });
});
