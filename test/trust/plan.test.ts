import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { createCertificate, randomSerial } from "../../src/pki/cert.js";
import { generateKeyPair } from "../../src/pki/keys.js";
import { applyToStore, sha256With, type RunResult, type TrustPort } from "../../src/trust/apply.js";
import {
  certificatesIn, checkTrustable, describeStep, entryName, installSteps, javaEntries, readBack, selectStores, trustProbe, uninstallSteps,
  type StoreTarget, type TrustHostFacts,
} from "../../src/trust/plan.js";
import { fakeIo } from "../helpers/fake-io.js";
import { T0, crypto } from "../helpers/clock.js";

const HOME = "/home/u";
const host = (existing: readonly string[], commands: Record<string, string> = {}, javaHome?: string): TrustHostFacts => ({
  home: HOME,
  javaHome,
  existing: new Set(existing),
  commands: new Map(Object.entries(commands)),
});
const NAME = "kpki-ca-0123abcd";

async function makeCert(isCa: boolean, commonName = "Dev CA") {
  const key = await generateKeyPair("ECDSA-P256", crypto);
  return createCertificate(
    { subject: { commonName }, serial: randomSerial(crypto), notBefore: T0, notAfter: new Date(T0.getTime() + 86_400_000), isCa,
      keyUsages: isCa ? ["digitalSignature", "keyCertSign"] : ["digitalSignature"], extKeyUsages: isCa ? [] : ["serverAuth"], dnsNames: [], ips: [] },
    key.publicKey, { selfSigned: key }, crypto,
  );
}

describe("system store selection (mkcert truststore_linux.go order)", () => {
  const commands = { "update-ca-certificates": "/usr/sbin/update-ca-certificates", "update-ca-trust": "/usr/bin/update-ca-trust", trust: "/usr/bin/trust" };
  it.each([
    ["debian", "/usr/local/share/ca-certificates", `/usr/local/share/ca-certificates/${NAME}.crt`, ["/usr/sbin/update-ca-certificates"], "/etc/ssl/certs/ca-certificates.crt"],
    ["rhel", "/etc/pki/ca-trust/source/anchors", `/etc/pki/ca-trust/source/anchors/${NAME}.pem`, ["/usr/bin/update-ca-trust", "extract"], "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"],
    ["arch", "/etc/ca-certificates/trust-source/anchors", `/etc/ca-certificates/trust-source/anchors/${NAME}.crt`, ["/usr/bin/trust", "extract-compat"], "/etc/ssl/certs/ca-certificates.crt"],
    ["opensuse", "/usr/share/pki/trust/anchors", `/usr/share/pki/trust/anchors/${NAME}.pem`, ["/usr/sbin/update-ca-certificates"], "/var/lib/ca-certificates/ca-bundle.pem"],
  ])("%s: chosen by %s", (family, dir, file, refresh, bundle) => {
    const { targets, missing } = selectStores(host([dir], commands), ["system"], NAME);
    expect(missing).toEqual([]);
    expect(targets).toEqual([{ kind: "system", family, file, refresh, bundle }]);
  });

  it("RHEL wins when both RHEL's and Debian's folders exist (mkcert checks it first)", () => {
    const { targets } = selectStores(host(["/usr/local/share/ca-certificates", "/etc/pki/ca-trust/source/anchors"], commands), ["system"], NAME);
    expect(targets[0]).toMatchObject({ family: "rhel" });
  });

  it("the folder without its refresh command is no store, and says why", () => {
    const { targets, missing } = selectStores(host(["/usr/local/share/ca-certificates"]), ["system"], NAME);
    expect(targets).toEqual([]);
    expect(missing).toEqual([{ kind: "system", reason: "/usr/local/share/ca-certificates exists but update-ca-certificates is not on PATH" }]);
  });

  it("no known folder: no store", () => {
    expect(selectStores(host([], commands), ["system"], NAME).missing[0]?.reason).toMatch(/^no known system trust store/);
  });

  it("the probe asks about every family's folder and command", () => {
    const probe = trustProbe(HOME, undefined);
    for (const dir of ["/usr/local/share/ca-certificates", "/etc/pki/ca-trust/source/anchors", "/etc/ca-certificates/trust-source/anchors", "/usr/share/pki/trust/anchors"]) {
      expect(probe.paths).toContain(dir);
    }
    expect(probe.commands).toEqual(["update-ca-trust", "update-ca-certificates", "trust", "certutil", "keytool"]);
    expect(probe.profileRoots).toEqual([`${HOME}/.mozilla/firefox`, `${HOME}/snap/firefox/common/.mozilla/firefox`]);
  });
});

describe("NSS databases (mkcert truststore_nss.go)", () => {
  const certutil = { certutil: "/usr/bin/certutil" };
  it("~/.pki/nssdb, snap Chromium's, /etc/pki/nssdb and Firefox profiles (deb and snap), sql: for cert9.db, dbm: for cert8.db", () => {
    const { targets } = selectStores(
      host([
        `${HOME}/.pki/nssdb/cert9.db`,
        `${HOME}/snap/chromium/current/.pki/nssdb/cert8.db`,
        "/etc/pki/nssdb/cert9.db",
        `${HOME}/.mozilla/firefox/b.default-release/cert9.db`,
        `${HOME}/.mozilla/firefox/a.default/cert9.db`,
        `${HOME}/snap/firefox/common/.mozilla/firefox/x.snap/cert9.db`,
      ], certutil),
      ["nss"],
      NAME,
    );
    expect(targets.map((t) => (t.kind === "nss" ? t.database : ""))).toEqual([
      `sql:${HOME}/.pki/nssdb`,
      `dbm:${HOME}/snap/chromium/current/.pki/nssdb`,
      "sql:/etc/pki/nssdb",
      `sql:${HOME}/.mozilla/firefox/a.default`,
      `sql:${HOME}/.mozilla/firefox/b.default-release`,
      `sql:${HOME}/snap/firefox/common/.mozilla/firefox/x.snap`,
    ]);
  });

  it("databases without certutil: skipped, naming libnss3-tools; no database: skipped", () => {
    expect(selectStores(host([`${HOME}/.pki/nssdb/cert9.db`]), ["nss"], NAME).missing[0]?.reason).toMatch(/certutil is not on PATH \(Debian: apt install libnss3-tools\)/);
    expect(selectStores(host([], certutil), ["nss"], NAME).missing[0]?.reason).toMatch(/^no NSS database/);
  });
});

describe("Java cacerts (mkcert truststore_java.go)", () => {
  it("$JAVA_HOME's keytool and lib/security/cacerts", () => {
    const { targets } = selectStores(host(["/jdk/lib/security/cacerts", "/jdk/bin/keytool"], {}, "/jdk"), ["java"], NAME);
    expect(targets).toEqual([{ kind: "java", keytool: "/jdk/bin/keytool", keystore: "/jdk/lib/security/cacerts" }]);
  });
  it("a JDK 8's jre/lib/security/cacerts", () => {
    const { targets } = selectStores(host(["/jdk/jre/lib/security/cacerts", "/jdk/lib/security/cacerts"], { keytool: "/usr/bin/keytool" }, "/jdk"), ["java"], NAME);
    expect(targets).toEqual([{ kind: "java", keytool: "/usr/bin/keytool", keystore: "/jdk/jre/lib/security/cacerts" }]);
  });
  it("keytool on PATH without JAVA_HOME: -cacerts", () => {
    const [t] = selectStores(host([], { keytool: "/usr/bin/keytool" }), ["java"], NAME).targets;
    expect(t).toEqual({ kind: "java", keytool: "/usr/bin/keytool", keystore: undefined });
    expect(installSteps(t!, NAME, "", "ca.crt").map(describeStep)).toEqual([
      `/usr/bin/keytool -importcert -noprompt -cacerts -storepass changeit -alias ${NAME} -file ca.crt`,
    ]);
  });
  it("no Java: skipped with a note", () => {
    expect(selectStores(host([]), ["java"], NAME).missing).toEqual([{ kind: "java", reason: "no Java (JAVA_HOME unset and no keytool on PATH)" }]);
    expect(selectStores(host([], {}, "/jdk"), ["java"], NAME).missing[0]?.reason).toBe("JAVA_HOME=/jdk has no lib/security/cacerts");
  });
});

describe("default selection, steps and names", () => {
  const everything = host(["/usr/local/share/ca-certificates", `${HOME}/.pki/nssdb/cert9.db`], {
    "update-ca-certificates": "/usr/sbin/update-ca-certificates", certutil: "/usr/bin/certutil", keytool: "/usr/bin/keytool",
  });
  it("no --store means every store found, in the order system, nss, java; --store restricts", () => {
    expect(selectStores(everything, [], NAME).targets.map((t) => t.kind)).toEqual(["system", "nss", "java"]);
    expect(selectStores(everything, ["java", "nss"], NAME).targets.map((t) => t.kind)).toEqual(["nss", "java"]);
  });

  it("install, uninstall and read-back are the exact commands and files", () => {
    const [system, nss, java] = selectStores(everything, [], NAME).targets as [StoreTarget, StoreTarget, StoreTarget];
    expect(installSteps(system, NAME, "PEM", "ca.crt").map(describeStep)).toEqual([
      `write /usr/local/share/ca-certificates/${NAME}.crt (mode 0644, 3 bytes)`, "/usr/sbin/update-ca-certificates",
    ]);
    expect(uninstallSteps(system, NAME).map(describeStep)).toEqual([`rm -f /usr/local/share/ca-certificates/${NAME}.crt`, "/usr/sbin/update-ca-certificates"]);
    expect(describeStep(readBack(system, NAME))).toBe("read /etc/ssl/certs/ca-certificates.crt");
    expect(installSteps(nss, NAME, "PEM", "my ca.crt").map(describeStep)).toEqual([`/usr/bin/certutil -A -d sql:${HOME}/.pki/nssdb -t C,, -n ${NAME} -i 'my ca.crt'`]);
    expect(uninstallSteps(nss, NAME).map(describeStep)).toEqual([`/usr/bin/certutil -D -d sql:${HOME}/.pki/nssdb -n ${NAME}`]);
    expect(describeStep(readBack(nss, NAME))).toBe(`/usr/bin/certutil -L -d sql:${HOME}/.pki/nssdb -n ${NAME} -a`);
    expect(uninstallSteps(java, NAME).map(describeStep)).toEqual([`/usr/bin/keytool -delete -noprompt -cacerts -storepass changeit -alias ${NAME}`]);
    expect(uninstallSteps(java, NAME, [NAME, "debian:x.pem"]).map(describeStep)).toEqual([
      `/usr/bin/keytool -delete -noprompt -cacerts -storepass changeit -alias ${NAME}`,
      "/usr/bin/keytool -delete -noprompt -cacerts -storepass changeit -alias debian:x.pem",
    ]);
    // The whole keystore, not only kpki's alias: Java trusts the CA under whatever alias holds it.
    expect(describeStep(readBack(java, NAME))).toBe("/usr/bin/keytool -J-Duser.language=en -list -rfc -cacerts -storepass changeit");
  });

  it("entry names come from the CN and the fingerprint, reduced to safe characters", () => {
    const fp = "2c98dbddb0f0a1688aa0dce131bdba4f30eca748001d266d3e96a9a9d10c3205";
    expect(entryName("Test Trust CA", fp)).toBe("kpki-Test_Trust_CA-2c98dbdd");
    expect(entryName("kubernetes", fp)).toBe("kpki-kubernetes-2c98dbdd");
    expect(entryName("../../etc/passwd", fp)).toBe("kpki-etc_passwd-2c98dbdd");
    expect(entryName("", fp)).toBe("kpki-2c98dbdd");
    expect(entryName("x".repeat(100), fp)).toBe(`kpki-${"x".repeat(48)}-2c98dbdd`);
  });

  it("certificates in a bundle are found despite a broken block", async () => {
    const ca = await makeCert(true);
    const broken = "-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----\n";
    expect(certificatesIn(`junk\n${broken}${ca.pem}`)).toEqual([ca.der]);
  });
});

describe("refusals", () => {
  const work = mkdtempSync(join(tmpdir(), "kpki-trust-unit-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("a leaf certificate is refused before any store is looked at", async () => {
    const leaf = await makeCert(false, "www");
    expect(() => checkTrustable(leaf, "leaf.crt")).toThrow(/leaf\.crt: "www" is not a CA certificate/);
    writeFileSync(join(work, "leaf.crt"), leaf.pem);
    let touched = false;
    const { io, stderr } = fakeIo({ trustStores: async () => ((touched = true), Promise.reject(new Error("must not be reached"))) });
    expect(await run(["trust", "install", join(work, "leaf.crt")], io)).toBe(1);
    expect(stderr()).toMatch(/is not a CA certificate/);
    expect(touched).toBe(false);
  });

  it("a file with two certificates is refused", async () => {
    const [a, b] = [await makeCert(true), await makeCert(true)];
    writeFileSync(join(work, "two.crt"), a.pem + b.pem);
    const { io, stderr } = fakeIo({ trustStores: () => Promise.reject(new Error("must not be reached")) });
    expect(await run(["trust", "status", join(work, "two.crt")], io)).toBe(1);
    expect(stderr()).toMatch(/holds 2 certificates/);
  });

  it("an unknown --store is a usage error", async () => {
    const { io } = fakeIo();
    expect(await run(["trust", "status", "ca.crt", "--store", "windows"], io)).toBe(2);
  });
});

/** A port over an in-memory NSS-like store, to check the apply logic's read-back verdicts. */
function memoryPort(opts: { swallowAdd?: boolean } = {}) {
  const held = new Map<string, string>();
  const calls: string[] = [];
  const port: TrustPort = {
    facts: async () => host([]),
    read: async () => undefined,
    write: async () => undefined,
    remove: async () => undefined,
    run: async (argv): Promise<RunResult> => {
      calls.push(argv.join(" "));
      const name = argv[argv.indexOf("-n") + 1] ?? "";
      if (argv.includes("-A")) {
        if (!opts.swallowAdd) held.set(name, PEM);
        return { code: 0, stdout: "", stderr: "" };
      }
      if (argv.includes("-D")) return held.delete(name) ? { code: 0, stdout: "", stderr: "" } : { code: 255, stdout: "", stderr: "not found" };
      const pem = held.get(name);
      return pem ? { code: 0, stdout: pem, stderr: "" } : { code: 255, stdout: "", stderr: "could not find certificate named" };
    },
  };
  return { port, calls };
}
let PEM = "";

describe("apply: read back by SHA-256", () => {
  const target: StoreTarget = { kind: "nss", database: "sql:/db", certutil: "certutil" };
  it("install, install again (already present), uninstall, uninstall again (already absent)", async () => {
    const ca = await makeCert(true);
    PEM = ca.pem;
    const sha256 = sha256With(crypto);
    const req = { name: NAME, sha256Hex: await sha256(ca.der), pem: ca.pem, certFile: "ca.crt", dryRun: false, sha256 };
    const { port, calls } = memoryPort();
    expect(await applyToStore(port, target, { ...req, operation: "install" })).toMatchObject({ status: "installed", held: true, ok: true });
    expect(await applyToStore(port, target, { ...req, operation: "install" })).toMatchObject({ status: "already-present", ok: true, steps: [] });
    expect(await applyToStore(port, target, { ...req, operation: "status" })).toMatchObject({ status: "present", ok: true });
    expect(await applyToStore(port, target, { ...req, operation: "uninstall", dryRun: true })).toMatchObject({ status: "would-remove", held: true, steps: [`certutil -D -d sql:/db -n ${NAME}`] });
    expect(await applyToStore(port, target, { ...req, operation: "uninstall" })).toMatchObject({ status: "removed", held: false, ok: true });
    expect(await applyToStore(port, target, { ...req, operation: "uninstall" })).toMatchObject({ status: "already-absent", ok: true });
    expect(calls.filter((c) => c.includes(" -A ")).length).toBe(1);
  });

  it("a command that exits 0 but leaves the store without the CA is a failure", async () => {
    const ca = await makeCert(true);
    PEM = ca.pem;
    const sha256 = sha256With(crypto);
    const { port } = memoryPort({ swallowAdd: true });
    const out = await applyToStore(port, target, { operation: "install", name: NAME, sha256Hex: await sha256(ca.der), pem: ca.pem, certFile: "ca.crt", dryRun: false, sha256 });
    expect(out).toMatchObject({ status: "failed", ok: false, held: false, error: "the certificate is not in it afterwards" });
  });

  it("a different certificate under the same name does not count", async () => {
    const [ca, other] = [await makeCert(true), await makeCert(true)];
    PEM = other.pem;
    const sha256 = sha256With(crypto);
    const { port } = memoryPort();
    const out = await applyToStore(port, target, { operation: "install", name: NAME, sha256Hex: await sha256(ca.der), pem: ca.pem, certFile: "ca.crt", dryRun: false, sha256 });
    expect(out).toMatchObject({ status: "failed", ok: false });
  });
});

/** A port over an in-memory Java keystore answering keytool -importcert, -delete and -list -rfc (the whole listing). */
function keystorePort(entries: Map<string, string>) {
  const calls: string[] = [];
  const listing = (): string =>
    `Keystore type: JKS\nKeystore provider: SUN\n\nYour keystore contains ${entries.size} entries\n\n` +
    [...entries].map(([alias, pem]) => `Alias name: ${alias}\nCreation date: Jun 24, 2025\nEntry type: trustedCertEntry\n\n${pem.trim()}\n\n\n` +
      "*******************************************\n*******************************************\n\n\n").join("");
  const port: TrustPort = {
    facts: async () => host([]),
    read: async () => undefined,
    write: async () => undefined,
    remove: async () => undefined,
    run: async (argv): Promise<RunResult> => {
      calls.push(argv.join(" "));
      const alias = argv[argv.indexOf("-alias") + 1] ?? "";
      if (argv.includes("-importcert")) return entries.set(alias, PEM), { code: 0, stdout: "Certificate was added to keystore\n", stderr: "" };
      if (argv.includes("-delete")) return entries.delete(alias) ? { code: 0, stdout: "", stderr: "" } : { code: 1, stdout: `keytool error: java.lang.Exception: Alias <${alias}> does not exist\n`, stderr: "" };
      return { code: 0, stdout: listing(), stderr: "" };
    },
  };
  return { port, calls, listing };
}

describe("apply: Java keystore, judged over every entry", () => {
  const target: StoreTarget = { kind: "java", keytool: "keytool", keystore: "/jdk/lib/security/cacerts" };
  const del = (alias: string) => `keytool -delete -noprompt -keystore /jdk/lib/security/cacerts -storepass changeit -alias ${alias}`;

  it("uninstall removes every alias with the CA's fingerprint (kpki's and debian:<name>.pem), and only those", async () => {
    const [ca, other] = [await makeCert(true), await makeCert(true, "Other CA")];
    PEM = ca.pem;
    const sha256 = sha256With(crypto);
    const req = { name: NAME, sha256Hex: await sha256(ca.der), pem: ca.pem, certFile: "ca.crt", dryRun: false, sha256 };
    const entries = new Map([["debian:other.pem", other.pem], [NAME, ca.pem], ["debian:x.pem", ca.pem]]);
    const { port, calls, listing } = keystorePort(entries);
    expect(javaEntries(listing()).map((e) => e.alias)).toEqual(["debian:other.pem", NAME, "debian:x.pem"]);

    expect(await applyToStore(port, target, { ...req, operation: "status" })).toMatchObject({ status: "present", held: true });
    expect(await applyToStore(port, target, { ...req, operation: "uninstall", dryRun: true })).toMatchObject({
      status: "would-remove", held: true, steps: [del(NAME), del("debian:x.pem")],
    });
    expect(entries.size).toBe(3);
    expect(await applyToStore(port, target, { ...req, operation: "uninstall" })).toMatchObject({ status: "removed", held: false, ok: true, error: null });
    expect([...entries.keys()]).toEqual(["debian:other.pem"]);
    expect(calls.filter((c) => c.includes(" -delete "))).toEqual([del(NAME), del("debian:x.pem")]);
    expect(await applyToStore(port, target, { ...req, operation: "status" })).toMatchObject({ status: "absent", held: false });
    expect(await applyToStore(port, target, { ...req, operation: "uninstall" })).toMatchObject({ status: "already-absent", steps: [] });
  });

  it("the CA only under another alias (Debian's hook) is present; install leaves it; uninstall removes that alias", async () => {
    const ca = await makeCert(true);
    PEM = ca.pem;
    const sha256 = sha256With(crypto);
    const req = { name: NAME, sha256Hex: await sha256(ca.der), pem: ca.pem, certFile: "ca.crt", dryRun: false, sha256 };
    const entries = new Map([["debian:x.pem", ca.pem]]);
    const { port } = keystorePort(entries);
    expect(await applyToStore(port, target, { ...req, operation: "install" })).toMatchObject({ status: "already-present", held: true, steps: [] });
    expect(await applyToStore(port, target, { ...req, operation: "uninstall" })).toMatchObject({ status: "removed", steps: [del("debian:x.pem")] });
    expect(entries.size).toBe(0);
    expect(await applyToStore(port, target, { ...req, operation: "install" })).toMatchObject({ status: "installed", held: true, steps: [`keytool -importcert -noprompt -keystore /jdk/lib/security/cacerts -storepass changeit -alias ${NAME} -file ca.crt`] });
  });
});
