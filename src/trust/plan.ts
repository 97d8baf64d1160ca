/**
 * Trust stores (`kpki trust`): which stores a host has, decided from what exists on it, and the
 * exact file writes and commands that add a CA to each, remove it, and read it back. Pure: the
 * facts arrive as data (gathered by src/io/trust-store.ts from `trustProbe`), and the steps leave
 * as data for the edge to run. The paths and commands follow FiloSottile/mkcert
 * (truststore_linux.go, truststore_nss.go, truststore_java.go).
 */
import { invalidInput } from "../errors.js";
import type { ParsedCertificate } from "../pki/cert.js";
import { decodePem } from "../pki/pem.js";

export const STORE_KINDS = ["system", "nss", "java"] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

/** One Linux family's system store: where an anchor goes, what rebuilds the bundle, and the bundle TLS clients read. */
export interface SystemFamily {
  readonly family: "rhel" | "debian" | "arch" | "opensuse";
  readonly anchorDir: string;
  /** update-ca-certificates on Debian only picks up files ending in .crt. */
  readonly extension: ".crt" | ".pem";
  readonly refresh: readonly [string, ...string[]];
  readonly bundle: string;
}

/**
 * Checked in this order; the first whose anchor directory exists is the host's. The first three
 * (and their order) are mkcert's truststore_linux.go init(); openSUSE's p11-kit layout comes last.
 */
export const SYSTEM_FAMILIES: readonly SystemFamily[] = [
  { family: "rhel", anchorDir: "/etc/pki/ca-trust/source/anchors", extension: ".pem", refresh: ["update-ca-trust", "extract"], bundle: "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem" },
  { family: "debian", anchorDir: "/usr/local/share/ca-certificates", extension: ".crt", refresh: ["update-ca-certificates"], bundle: "/etc/ssl/certs/ca-certificates.crt" },
  { family: "arch", anchorDir: "/etc/ca-certificates/trust-source/anchors", extension: ".crt", refresh: ["trust", "extract-compat"], bundle: "/etc/ssl/certs/ca-certificates.crt" },
  { family: "opensuse", anchorDir: "/usr/share/pki/trust/anchors", extension: ".pem", refresh: ["update-ca-certificates"], bundle: "/var/lib/ca-certificates/ca-bundle.pem" },
];

/** NSS databases outside Firefox profiles (mkcert truststore_nss.go nssDBs): Chrome/Chromium's, snap Chromium's, CentOS 7's shared one. */
const nssDatabases = (home: string | undefined): string[] => [
  ...(home ? [`${home}/.pki/nssdb`, `${home}/snap/chromium/current/.pki/nssdb`] : []),
  "/etc/pki/nssdb",
];

/** Folders whose subfolders are Firefox profiles (mkcert truststore_linux.go FirefoxProfiles: the deb's and the snap's). */
const firefoxRoots = (home: string | undefined): string[] =>
  home ? [`${home}/.mozilla/firefox`, `${home}/snap/firefox/common/.mozilla/firefox`] : [];

/** Java's store inside a JDK/JRE (mkcert truststore_java.go: lib/security/cacerts, or jre/lib/security/cacerts of a JDK 8). */
const javaStores = (javaHome: string): string[] => [`${javaHome}/jre/lib/security/cacerts`, `${javaHome}/lib/security/cacerts`];

/** What the host must be asked before a plan can be made. */
export interface TrustProbe {
  /** Paths whose existence matters. */
  readonly paths: readonly string[];
  /** Folders whose subfolders may hold an NSS database: report `<root>/<sub>/cert9.db` and `cert8.db` when they exist. */
  readonly profileRoots: readonly string[];
  /** Programs to look up on PATH. */
  readonly commands: readonly string[];
}

/** The answers: which probed paths exist, and where the programs found are. */
export interface TrustHostFacts {
  readonly home: string | undefined;
  readonly javaHome: string | undefined;
  readonly existing: ReadonlySet<string>;
  readonly commands: ReadonlyMap<string, string>;
}

/** The questions for a host whose HOME and JAVA_HOME are these. */
export function trustProbe(home: string | undefined, javaHome: string | undefined): TrustProbe {
  const paths = [
    ...SYSTEM_FAMILIES.map((f) => f.anchorDir),
    ...nssDatabases(home).flatMap((d) => [`${d}/cert9.db`, `${d}/cert8.db`]),
    ...(javaHome ? [...javaStores(javaHome), `${javaHome}/bin/keytool`] : []),
  ];
  const commands = [...new Set([...SYSTEM_FAMILIES.map((f) => f.refresh[0]), "certutil", "keytool"])];
  return { paths, profileRoots: firefoxRoots(home), commands };
}

/** One store kpki will change or read: a system store, one NSS database, or one Java keystore. */
export type StoreTarget =
  | {
      readonly kind: "system";
      readonly family: SystemFamily["family"];
      /** The anchor file kpki writes. */
      readonly file: string;
      /** The refresh command, its program resolved. */
      readonly refresh: readonly string[];
      readonly bundle: string;
    }
  | { readonly kind: "nss"; readonly database: string; readonly certutil: string }
  | { readonly kind: "java"; readonly keytool: string; readonly keystore: string | undefined };

/** A store that was asked for (or looked for) and is not on this host, with the reason. */
export interface MissingStore {
  readonly kind: StoreKind;
  readonly reason: string;
}

/** The store's name in messages: kind and where it is. */
export function describeTarget(t: StoreTarget): string {
  switch (t.kind) {
    case "system":
      return `system (${t.family}) ${t.file}`;
    case "nss":
      return `nss ${t.database}`;
    case "java":
      return `java ${t.keystore ?? "cacerts (keytool -cacerts)"}`;
  }
}

function systemStore(host: TrustHostFacts, name: string): StoreTarget | MissingStore {
  const family = SYSTEM_FAMILIES.find((f) => host.existing.has(f.anchorDir));
  if (!family) return { kind: "system", reason: `no known system trust store (none of ${SYSTEM_FAMILIES.map((f) => f.anchorDir).join(", ")} exists)` };
  const [program, ...rest] = family.refresh;
  const resolved = host.commands.get(program);
  if (!resolved) return { kind: "system", reason: `${family.anchorDir} exists but ${program} is not on PATH` };
  return { kind: "system", family: family.family, file: `${family.anchorDir}/${name}${family.extension}`, refresh: [resolved, ...rest], bundle: family.bundle };
}

/** Databases as certutil names them: `sql:` for cert9.db, `dbm:` for the legacy cert8.db (mkcert forEachNSSProfile). */
function nssDatabasesFound(host: TrustHostFacts): string[] {
  const found: string[] = [];
  const add = (dir: string): void => {
    if (host.existing.has(`${dir}/cert9.db`)) found.push(`sql:${dir}`);
    else if (host.existing.has(`${dir}/cert8.db`)) found.push(`dbm:${dir}`);
  };
  for (const dir of nssDatabases(host.home)) add(dir);
  for (const root of firefoxRoots(host.home)) {
    const profiles = new Set<string>();
    for (const p of host.existing) {
      const m = p.startsWith(`${root}/`) ? /^([^/]+)\/cert[89]\.db$/.exec(p.slice(root.length + 1)) : null;
      if (m?.[1]) profiles.add(m[1]);
    }
    for (const profile of [...profiles].sort()) add(`${root}/${profile}`);
  }
  return found;
}

function nssStores(host: TrustHostFacts): (StoreTarget | MissingStore)[] {
  const databases = nssDatabasesFound(host);
  if (!databases.length) return [{ kind: "nss", reason: "no NSS database (~/.pki/nssdb, Firefox profiles)" }];
  const certutil = host.commands.get("certutil");
  if (!certutil) return [{ kind: "nss", reason: `certutil is not on PATH (Debian: apt install libnss3-tools), for ${databases.join(", ")}` }];
  return databases.map((database) => ({ kind: "nss", database, certutil }));
}

function javaStore(host: TrustHostFacts): StoreTarget | MissingStore {
  if (host.javaHome) {
    const keystore = javaStores(host.javaHome).find((p) => host.existing.has(p));
    const own = `${host.javaHome}/bin/keytool`;
    const keytool = host.existing.has(own) ? own : host.commands.get("keytool");
    if (keystore && keytool) return { kind: "java", keytool, keystore };
    if (!keystore) return { kind: "java", reason: `JAVA_HOME=${host.javaHome} has no lib/security/cacerts` };
    return { kind: "java", reason: `no keytool in ${host.javaHome}/bin or on PATH` };
  }
  const keytool = host.commands.get("keytool");
  // Without JAVA_HOME, keytool's -cacerts option (Java 9+) names the store of its own JDK.
  if (keytool) return { kind: "java", keytool, keystore: undefined };
  return { kind: "java", reason: "no Java (JAVA_HOME unset and no keytool on PATH)" };
}

/** The stores of `kinds` this host has, and why each missing one is missing; order: system, nss, java. */
export function selectStores(
  host: TrustHostFacts,
  kinds: readonly StoreKind[],
  name: string,
): { readonly targets: readonly StoreTarget[]; readonly missing: readonly MissingStore[] } {
  const targets: StoreTarget[] = [];
  const missing: MissingStore[] = [];
  const wanted = new Set(kinds.length ? kinds : STORE_KINDS);
  const found = [
    ...(wanted.has("system") ? [systemStore(host, name)] : []),
    ...(wanted.has("nss") ? nssStores(host) : []),
    ...(wanted.has("java") ? [javaStore(host)] : []),
  ];
  for (const f of found) {
    if ("reason" in f) missing.push(f);
    else targets.push(f);
  }
  return { targets, missing };
}

/**
 * The store entry's name: `kpki-<CN>-<first 8 hex of the SHA-256 of the DER>`, the CN reduced to
 * letters, digits, '.', '_' and '-'. The same certificate always gets the same name, so install is
 * idempotent and uninstall removes exactly the entry install added.
 */
export function entryName(commonName: string, sha256Hex: string): string {
  const cn = commonName.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._-]+|[._-]+$/g, "").slice(0, 48);
  return cn ? `kpki-${cn}-${sha256Hex.slice(0, 8)}` : `kpki-${sha256Hex.slice(0, 8)}`;
}

/** Refuses what must not become a trust anchor: anything but a CA (basicConstraints CA:TRUE). */
export function checkTrustable(cert: ParsedCertificate, source: string): void {
  if (!cert.isCa) {
    throw invalidInput(`${source}: "${cert.commonName}" is not a CA certificate (no basicConstraints CA:TRUE); only a CA can be added to a trust store`);
  }
}

/** One change to a store: a file written or removed, or a command run. */
export type TrustStep =
  | { readonly op: "write"; readonly path: string; readonly text: string; readonly mode: number }
  | { readonly op: "remove"; readonly path: string }
  | { readonly op: "run"; readonly argv: readonly string[] };

/** How a store is read back: a file (the system bundle) or a command's output (PEM). */
export type ReadBack = { readonly op: "read"; readonly path: string } | { readonly op: "run"; readonly argv: readonly string[] };

// Java's cacerts ships with the password "changeit" (mkcert truststore_java.go storePass).
const STOREPASS = ["-storepass", "changeit"];
const keystoreArgs = (t: { readonly keystore: string | undefined }): string[] => (t.keystore ? ["-keystore", t.keystore] : ["-cacerts"]);

/**
 * The steps that add the CA. `pem` is written as the system anchor; `certFile` (the user's file) is
 * what certutil and keytool import.
 */
export function installSteps(t: StoreTarget, name: string, pem: string, certFile: string): TrustStep[] {
  switch (t.kind) {
    case "system":
      return [{ op: "write", path: t.file, text: pem, mode: 0o644 }, { op: "run", argv: t.refresh }];
    case "nss":
      // Trust flags "C,,": a CA trusted to issue TLS server certificates (mkcert installNSS).
      return [{ op: "run", argv: [t.certutil, "-A", "-d", t.database, "-t", "C,,", "-n", name, "-i", certFile] }];
    case "java":
      return [{ op: "run", argv: [t.keytool, "-importcert", "-noprompt", ...keystoreArgs(t), ...STOREPASS, "-alias", name, "-file", certFile] }];
  }
}

/**
 * The steps that remove the CA. System and NSS: the entry `name` (and nothing else). Java: every
 * alias in `javaAliases` (those whose certificate has the CA's SHA-256, read from the keystore
 * listing, see javaEntries), so that copies made by others go too, such as Debian's
 * ca-certificates-java hook importing each system anchor as `debian:<file>.pem`; `name` when the
 * listing named none.
 */
export function uninstallSteps(t: StoreTarget, name: string, javaAliases: readonly string[] = []): TrustStep[] {
  switch (t.kind) {
    case "system":
      return [{ op: "remove", path: t.file }, { op: "run", argv: t.refresh }];
    case "nss":
      return [{ op: "run", argv: [t.certutil, "-D", "-d", t.database, "-n", name] }];
    case "java": {
      const aliases = javaAliases.length ? [...new Set(javaAliases)] : [name];
      return aliases.map((alias) => ({ op: "run", argv: [t.keytool, "-delete", "-noprompt", ...keystoreArgs(t), ...STOREPASS, "-alias", alias] }));
    }
  }
}

/**
 * How to see whether the store holds the CA: the bundle TLS clients read, the NSS entry named
 * `name` as PEM, or every entry of the Java keystore as PEM (whatever alias holds the CA, Java
 * trusts it). keytool's labels are localized; `-J-Duser.language=en` keeps "Alias name:" parsable.
 */
export function readBack(t: StoreTarget, name: string): ReadBack {
  switch (t.kind) {
    case "system":
      return { op: "read", path: t.bundle };
    case "nss":
      return { op: "run", argv: [t.certutil, "-L", "-d", t.database, "-n", name, "-a"] };
    case "java":
      return { op: "run", argv: [t.keytool, "-J-Duser.language=en", "-list", "-rfc", ...keystoreArgs(t), ...STOREPASS] };
  }
}

/** One entry of a `keytool -list -rfc` listing: its alias and the DER of its (first) certificate. */
export interface KeystoreEntry {
  readonly alias: string;
  readonly der: Uint8Array<ArrayBuffer>;
}

/** The entries of a `keytool -list -rfc` listing (English labels); an entry without a readable certificate is left out. */
export function javaEntries(text: string): KeystoreEntry[] {
  const starts = [...text.matchAll(/^Alias name: (.*)$/gm)];
  return starts.flatMap((m, i) => {
    const end = starts[i + 1]?.index ?? text.length;
    const [der] = certificatesIn(text.slice(m.index, end));
    const alias = (m[1] ?? "").trim();
    return der && alias ? [{ alias, der }] : [];
  });
}

/** The DER of every CERTIFICATE block in `text` (a bundle, certutil -a or keytool -rfc output); broken blocks count as none. */
export function certificatesIn(text: string): Uint8Array<ArrayBuffer>[] {
  // Each block is decoded on its own, so one malformed block does not hide the others.
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.flatMap((b) => {
    try {
      return decodePem(`${b}\n`).map((p) => p.der);
    } catch {
      return [];
    }
  });
}

const quote = (arg: string): string => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);

/** A step as one line: a shell command, or the file written/removed. */
export function describeStep(step: TrustStep | ReadBack): string {
  switch (step.op) {
    case "write":
      return `write ${step.path} (mode 0${step.mode.toString(8)}, ${new TextEncoder().encode(step.text).length} bytes)`;
    case "remove":
      return `rm -f ${quote(step.path)}`;
    case "read":
      return `read ${step.path}`;
    case "run":
      return step.argv.map(quote).join(" ");
  }
}
