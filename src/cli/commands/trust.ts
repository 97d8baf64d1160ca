import { invalidInput, PkiError } from "../../errors.js";
import type { ParsedCertificate } from "../../pki/cert.js";
import type { StoreOutcome, TrustOperation } from "../../trust/apply.js";
import type { MissingStore, StoreKind } from "../../trust/plan.js";
import { STORE_KIND_CHOICES } from "../choices.js";
import { defineCommand, defineGroup } from "../command.js";
import type { CliIo } from "../io.js";
import { OUTPUT_FORMATS, renderData } from "../output.js";

/** The JSON/YAML document of every trust subcommand. */
interface TrustReport {
  readonly kind: "TrustReport";
  readonly operation: TrustOperation;
  readonly certificate: string;
  readonly commonName: string;
  readonly sha256Fingerprint: string;
  /** The entry's name in every store (file stem, NSS nickname, Java alias). */
  readonly name: string;
  readonly dryRun: boolean;
  readonly stores: readonly StoreOutcome[];
  readonly skipped: readonly { readonly store: StoreKind; readonly reason: string }[];
}

/** The one certificate of a PEM or DER file. */
async function readCa(path: string, io: CliIo): Promise<ParsedCertificate> {
  const { parseCertificateDer, parseCertificatesPem } = await import("../../pki/cert.js");
  let bytes: Uint8Array<ArrayBuffer> | undefined;
  try {
    bytes = await io.readBytes(path);
  } catch (error) {
    throw new PkiError("io", `${path}: ${(error as Error).message}`);
  }
  if (bytes === undefined) throw new PkiError("io", `${path}: no such file`);
  const text = new TextDecoder().decode(bytes);
  if (text.includes("-----BEGIN")) {
    const certs = parseCertificatesPem(text);
    if (certs.length !== 1) throw invalidInput(`${path}: holds ${certs.length} certificates; give a file with exactly one CA certificate`);
    return certs[0]!;
  }
  return parseCertificateDer(bytes);
}

const SHARED_OPTIONS = {
  store: { type: "string", array: true, choices: STORE_KIND_CHOICES, describe: "Only this store (repeatable) [default: every store found]" },
  output: { alias: "o", type: "string", default: "text", choices: OUTPUT_FORMATS, describe: "Output format" },
} as const;

const STORES_TEXT =
  "Stores: system (the distribution's, chosen by which anchor folder exists, as mkcert does: Debian/Ubuntu " +
  "/usr/local/share/ca-certificates + update-ca-certificates, RHEL/Fedora /etc/pki/ca-trust/source/anchors + update-ca-trust extract, " +
  "Arch /etc/ca-certificates/trust-source/anchors + trust extract-compat, openSUSE /usr/share/pki/trust/anchors + update-ca-certificates), " +
  "nss (~/.pki/nssdb, snap Chromium's, /etc/pki/nssdb and every Firefox profile, deb or snap, through certutil from libnss3-tools) and " +
  "java ($JAVA_HOME/lib/security/cacerts, else keytool -cacerts; skipped with a note when there is no Java). The entry is named " +
  "kpki-<CN>-<first 8 hex of the SHA-256>, so install is idempotent and uninstall removes only what install added. Each store is read back " +
  "by the SHA-256 of the certificate's DER (system: its bundle; nss: certutil -L -n NAME -a; java: keytool -list -rfc -alias NAME). " +
  "JSON/YAML fields: kind (TrustReport), operation, certificate, commonName, sha256Fingerprint, name, dryRun, stores[] {store, location, " +
  "status, held, steps[], readBack, ok, error}, skipped[] {store, reason}.";

async function trustRun(
  operation: TrustOperation,
  args: { readonly certificate: string; readonly store: readonly StoreKind[] | undefined; readonly output: "text" | "json" | "yaml"; readonly dryRun: boolean },
  io: CliIo,
): Promise<number> {
  const [{ applyToStore, sha256With }, plan] = await Promise.all([import("../../trust/apply.js"), import("../../trust/plan.js")]);
  const cert = await readCa(args.certificate, io);
  // Refused before any store is looked at, let alone changed.
  plan.checkTrustable(cert, args.certificate);
  const sha256 = sha256With(io.crypto);
  const sha256Hex = await sha256(cert.der);
  const name = plan.entryName(cert.commonName, sha256Hex);
  const port = await io.trustStores();
  const home = io.env["HOME"] || undefined;
  const javaHome = io.env["JAVA_HOME"] || undefined;
  const facts = await port.facts(plan.trustProbe(home, javaHome), home, javaHome);
  const { targets, missing } = plan.selectStores(facts, args.store ?? [], name);
  if (!targets.length) {
    throw invalidInput(`no trust store found: ${missing.map((m: MissingStore) => `${m.kind}: ${m.reason}`).join("; ")}`);
  }
  const req = { operation, name, sha256Hex, pem: cert.pem, certFile: args.certificate, dryRun: args.dryRun, sha256 };
  const stores: StoreOutcome[] = [];
  // One store at a time: the Debian refresh also rewrites Java's cacerts (its jks-keystore hook).
  for (const target of targets) stores.push(await applyToStore(port, target, req));

  if (args.output === "text") {
    const tag = `[trust]`;
    io.stdout(`${tag} ${args.certificate}: CN=${cert.commonName}, SHA-256 ${sha256Hex}, entry ${name}\n`);
    for (const s of stores) {
      io.stdout(`${tag} ${s.location}: ${s.status.replace(/-/g, " ")}\n`);
      for (const step of s.steps) io.stdout(`${tag}   ${args.dryRun ? "would" : "done"}: ${step}\n`);
    }
    for (const m of missing) io.stdout(`${tag} ${m.kind}: skipped: ${m.reason}\n`);
  } else {
    const doc: TrustReport = {
      kind: "TrustReport",
      operation,
      certificate: args.certificate,
      commonName: cert.commonName,
      sha256Fingerprint: sha256Hex,
      name,
      dryRun: args.dryRun,
      stores,
      skipped: missing.map((m) => ({ store: m.kind, reason: m.reason })),
    };
    io.stdout(await renderData(doc, args.output));
  }
  for (const s of stores) {
    if (s.ok) continue;
    if (operation === "status") continue; // the report above says which stores lack it
    io.stderr(`error: ${s.location} did not take: ${s.error ?? s.status}\n`);
  }
  return stores.every((s) => s.ok) ? 0 : 1;
}

const changeOptions = { ...SHARED_OPTIONS, "dry-run": { type: "boolean", default: false, describe: "Print the exact file writes and commands; change nothing" } } as const;

const installCommand = defineCommand({
  command: "install <certificate>",
  describe: "Add a CA certificate to the system, NSS (Firefox, Chrome) and Java trust stores, and read each back",
  positionals: { certificate: { type: "string", demandOption: true, describe: "The CA certificate (PEM with one certificate, or DER)" } },
  options: changeOptions,
  examples: [
    ["$0 trust install ./my-ca/ca.crt", "Trust the CA in every store found (run as root for the system store)"],
    ["$0 trust install ca.crt --store system --dry-run", "Print the file write and update-ca-certificates; change nothing"],
    ["$0 trust install ca.crt --store nss --store java -o json", "Only the NSS databases and Java's cacerts; the result as JSON"],
  ],
  epilogue:
    `${STORES_TEXT} A store already holding the CA is left alone. ` +
    "Exit codes: 0 every store found holds the CA (with --dry-run: the plan was printed), 1 error (not a CA certificate, unreadable file, " +
    "no trust store found; nothing changed) or a store that did not take (named on stderr, e.g. the system store without root), 2 usage error.",
  run: (args, io) => trustRun("install", { certificate: args.certificate, store: args.store, output: args.output, dryRun: args["dry-run"] }, io),
});

const uninstallCommand = defineCommand({
  command: "uninstall <certificate>",
  describe: "Remove the entry `trust install` added for a CA certificate from every store, and read each back",
  positionals: { certificate: { type: "string", demandOption: true, describe: "The CA certificate that was installed" } },
  options: changeOptions,
  examples: [
    ["$0 trust uninstall ./my-ca/ca.crt", "Remove the CA's kpki entry from every store found"],
    ["$0 trust uninstall ca.crt --store system --dry-run", "Print the rm and update-ca-certificates; change nothing"],
  ],
  epilogue:
    `${STORES_TEXT} ` +
    "Exit codes: 0 no store found holds the CA any more (with --dry-run: the plan was printed), 1 error (not a CA certificate, unreadable file, " +
    "no trust store found) or a store that still holds it (named on stderr; e.g. another file in the system anchor folder provides it), 2 usage error.",
  run: (args, io) => trustRun("uninstall", { certificate: args.certificate, store: args.store, output: args.output, dryRun: args["dry-run"] }, io),
});

const statusCommand = defineCommand({
  command: "status <certificate>",
  describe: "Say, per trust store, whether it holds a CA certificate",
  positionals: { certificate: { type: "string", demandOption: true, describe: "The CA certificate (PEM with one certificate, or DER)" } },
  options: SHARED_OPTIONS,
  examples: [
    ["$0 trust status ./my-ca/ca.crt", "One line per store: present or absent"],
    ["$0 trust status ca.crt --store nss -o yaml", "Every NSS database, as YAML"],
  ],
  epilogue:
    `${STORES_TEXT} Nothing is changed. ` +
    "Exit codes: 0 every store found holds the CA, 1 at least one store found does not (see the report) or an error (not a CA certificate, " +
    "unreadable file, no trust store found), 2 usage error.",
  run: (args, io) => trustRun("status", { certificate: args.certificate, store: args.store, output: args.output, dryRun: false }, io),
});

/** `kpki trust`: a CA in the host's trust stores. */
export const trustCommand = defineGroup({
  command: "trust",
  describe: "Add a CA to the host's trust stores (system, NSS, Java), remove it, or say which hold it",
  subcommands: [installCommand, uninstallCommand, statusCommand],
});
