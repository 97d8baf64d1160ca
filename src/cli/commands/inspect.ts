import { invalidInput, PkiError } from "../../errors.js";
import type { InspectedChain, InspectedRequest } from "../../expiry/inspect.js";
import type { FoundRow } from "../../expiry/inventory.js";
import type { ParsedCertificate } from "../../pki/cert.js";
import { defineCommand } from "../command.js";
import type { CliIo } from "../io.js";
import { OUTPUT_FORMATS, renderData } from "../output.js";

/** The JSON/YAML document: one object, its field names stable (listed in --help). */
interface Inspection {
  readonly kind: "Inspection";
  readonly input: string;
  readonly type: "certificates" | "kubeconfig" | "csr" | "tls";
  readonly chains: readonly InspectedChain[];
  readonly request: InspectedRequest | null;
}

async function readInput(path: string, io: CliIo): Promise<Uint8Array<ArrayBuffer> | undefined> {
  try {
    return await io.readBytes(path);
  } catch (error) {
    throw new PkiError("io", `${path}: ${(error as Error).message}`);
  }
}

/** The certificates of --ca FILE. */
async function anchorsFrom(path: string, io: CliIo): Promise<ParsedCertificate[]> {
  const { rowsFromFile } = await import("../../expiry/inventory.js");
  const rows = await rowsFromFile(path, { readBytes: io.readBytes }, true);
  const bad = rows.find((r) => !r.certificate);
  if (bad) throw invalidInput(`--ca ${path}: ${bad.missing ? "no such file" : bad.error ?? "no certificate"}`);
  return rows.flatMap((r) => (r.certificate ? [r.certificate] : []));
}

/** `kpki inspect`: every certificate of a file, kubeconfig or TLS server, or a CSR, with its chain checked. */
export const inspectCommand = defineCommand({
  command: "inspect <input>",
  describe: "Show every certificate of a PEM/DER file, kubeconfig or TLS server (HOST:PORT), or a CSR, with the chain verified",
  positionals: {
    input: { type: "string", demandOption: true, describe: "A certificate file (PEM bundle or DER), a kubeconfig, a CSR (PEM or DER), or HOST:PORT when no such file exists" },
  },
  options: {
    output: { alias: "o", type: "string", default: "text", choices: OUTPUT_FORMATS, describe: "Output format" },
    short: { type: "boolean", default: false, describe: "One line per certificate (text output)" },
    ca: { type: "string", describe: "Also check that each chain ends at (or is signed by) a certificate of this PEM/DER file" },
    verify: { type: "boolean", default: false, describe: "Exit 1 when a chain does not verify, is not trusted by --ca, or a CSR's signature does not verify" },
  },
  examples: [
    ["$0 inspect /etc/kubernetes/pki/apiserver.crt", "Every field of the API server's certificate, and its kubeadm role"],
    ["$0 inspect bundle.pem --short", "One line per certificate of a bundle, each checked against the next"],
    ["$0 inspect /etc/kubernetes/admin.conf -o json", "The client certificate and cluster CA of a kubeconfig, as JSON"],
    ["$0 inspect 10.0.0.5:6443 --ca /etc/kubernetes/pki/ca.crt --verify", "The chain a server sends; exit 1 unless it verifies up to ca.crt"],
    ["$0 inspect apiserver.csr", "A CSR: subject, SANs, key, requested extensions, signature, canonical or not"],
  ],
  epilogue:
    "Certificates of one source (a file, a kubeconfig user or cluster, a server) form a chain in the order given: each is checked " +
    "against the next, the last against itself, the other certificates read and --ca. JSON/YAML fields: kind (Inspection), input, " +
    "type (certificates, kubeconfig, csr, tls), chains[] {source, verified, trusted (null without --ca), problems[], certificates[] " +
    "{name, chainPosition, chainLength, subject, issuer, serialNumber, notBefore, notAfter, daysLeft, status, publicKey {algorithm, size, curve}, " +
    "signatureAlgorithm, sha256Fingerprint, subjectAltNames {dns, ip, email, uri, other}, keyUsage, extendedKeyUsage, basicConstraints {ca, pathLen}, " +
    "subjectKeyId, authorityKeyId, verification (next, self-signed, issuer found, unknown issuer, bad signature, not signed by next), signedBy, " +
    "privateKey {path, status}, kubeadmRole}}, request (a CSR, else null) {subject, subjectAltNames, publicKey, signatureAlgorithm, " +
    "requestedExtensions[] {name, critical}, keyUsage, extendedKeyUsage, basicConstraints, signatureValid, canonical, canonicalError, sha256Fingerprint}. " +
    "Exit codes: 0 shown (without --verify, also when a chain does not verify), 1 error (unreadable input, not a certificate, CSR or kubeconfig, " +
    "a TLS connection that fails) or, with --verify, a chain that does not verify or is not trusted by --ca, or a CSR whose signature does not verify, 2 usage error.",
  run: async (args, io) => {
    const [engine, { rowsFromFile, rowsFromKubeconfig }, { decodePem }] = await Promise.all([
      import("../../expiry/inspect.js"),
      import("../../expiry/inventory.js"),
      import("../../pki/pem.js"),
    ]);
    const input = args.input;
    const reader = { readBytes: io.readBytes, mayExist: io.existenceCache() };
    const anchors = args.ca !== undefined ? await anchorsFrom(args.ca, io) : undefined;
    const bytes = await readInput(input, io);

    let type: Inspection["type"];
    let rows: FoundRow[] = [];
    let request: InspectedRequest | null = null;
    if (bytes === undefined) {
      const target = engine.parseHostPort(input);
      if (!target) throw new PkiError("io", `${input}: no such file (and not HOST:PORT)`);
      type = "tls";
      rows = engine.rowsFromPeerChain(input, await io.tlsPeerChain(target.host, target.port));
    } else {
      const kind = engine.classifyInput(bytes);
      if (kind === "csr-pem") {
        const block = decodePem(new TextDecoder().decode(bytes)).find((b) => b.label === "CERTIFICATE REQUEST" || b.label === "NEW CERTIFICATE REQUEST");
        if (!block) throw invalidInput(`${input}: no CERTIFICATE REQUEST block`);
        type = "csr";
        request = await engine.inspectRequest(block.der, io.crypto);
      } else if (kind === "der" && !engine.isCertificateDer(bytes)) {
        type = "csr";
        try {
          request = await engine.inspectRequest(bytes, io.crypto);
        } catch (error) {
          throw invalidInput(`${input}: DER data is neither a certificate nor a CSR (${(error as Error).message})`);
        }
      } else if (kind === "kubeconfig") {
        type = "kubeconfig";
        rows = (await rowsFromKubeconfig(input, reader, true)).filter((r) => !r.name.endsWith(" current-context"));
        if (!rows.length) throw invalidInput(`${input}: the kubeconfig holds no client certificate and no cluster CA`);
      } else if (kind === "unknown") {
        throw invalidInput(`${input}: neither PEM, DER nor a kubeconfig`);
      } else {
        type = "certificates";
        rows = await rowsFromFile(input, reader, true);
      }
    }

    const failed = rows.filter((r) => !r.certificate);
    if (rows.length && failed.length === rows.length) throw invalidInput(`${failed[0]?.name}: ${failed[0]?.error ?? "no certificate"}`);
    const chains = type === "csr" ? [] : await engine.inspectRows(rows, { now: io.now(), crypto: io.crypto, ...(anchors ? { anchors } : {}) });

    if (args.output === "text") {
      if (request) io.stdout(engine.renderRequestText(input, request, args.short));
      else io.stdout(args.short ? engine.renderChainsShort(chains) : engine.renderChainsText(chains));
    } else {
      const doc: Inspection = { kind: "Inspection", input, type, chains, request };
      io.stdout(await renderData(doc, args.output));
    }

    for (const r of failed) io.stderr(`error: ${r.name}: ${r.error ?? "no certificate"}\n`);
    let code = failed.length ? 1 : 0;
    if (args.verify) {
      for (const c of chains) {
        if (!c.verified) io.stderr(`error: chain ${c.source} does not verify: ${c.problems.join("; ")}\n`);
        else if (c.trusted === false) io.stderr(`error: chain ${c.source} is not trusted by --ca ${args.ca ?? ""}\n`);
        if (!c.verified || c.trusted === false) code = 1;
      }
      if (request && !request.signatureValid) {
        io.stderr(`error: ${input}: the request's signature does not verify\n`);
        code = 1;
      }
    }
    return code;
  },
});
