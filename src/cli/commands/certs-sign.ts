import { mismatch, usageError } from "../../errors.js";
import { DEFAULTS } from "../../kubeadm/config.js";
import { MODES } from "../../kubeadm/store.js";
import type { ParsedCsr } from "../../pki/csr.js";
import { decodePem } from "../../pki/pem.js";
import { bytesEqual, type Bytes } from "../../pki/der.js";
import { EXT_KEY_USAGE_OIDS, type ExtKeyUsage } from "../../pki/extensions.js";
import { parsePrivateKeyPem, spkiOf } from "../../pki/keys.js";
import { SIGN_PROFILE_CHOICES } from "../choices.js";
import { defineCommand } from "../command.js";
import { dirsFromArgs, durationFlag, readFlagFile } from "../options.js";

const USAGES = Object.keys(EXT_KEY_USAGE_OIDS) as ExtKeyUsage[];

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const sameBytes = (a: readonly Bytes[], b: readonly Bytes[]): boolean => a.length === b.length && a.every((x, i) => bytesEqual(x, b[i] ?? new Uint8Array()));

/**
 * Reads a CSR file the one way: exactly one CERTIFICATE REQUEST block, whose DER must be the
 * canonical encoding of PKCS#10 (the approver's strict reader: no trailing elements, no second
 * extensionRequest value, minimal encodings), and whose names read the same through both of kpki's
 * parsers. What kpki signs is then what anyone reading the request sees.
 */
async function readCsrOneWay(path: string, text: string, crypto: Crypto): Promise<ParsedCsr> {
  let blocks;
  try {
    blocks = decodePem(text).filter((b) => b.label === "CERTIFICATE REQUEST" || b.label === "NEW CERTIFICATE REQUEST");
  } catch (error) {
    throw mismatch(`${path} is not a certificate signing request: ${(error as Error).message}`);
  }
  const [block] = blocks;
  if (!block || blocks.length > 1) throw mismatch(`${path} must hold exactly one CERTIFICATE REQUEST block (found ${blocks.length})`);
  const [{ readRequestDer }, { parseCsrDer }] = await Promise.all([import("../../approver/request.js"), import("../../pki/csr.js")]);
  let strict;
  try {
    strict = readRequestDer(block.der);
  } catch (error) {
    throw mismatch(`${path} is not the canonical encoding of a certificate signing request: ${(error as Error).message}`);
  }
  let csr;
  try {
    csr = await parseCsrDer(block.der, crypto);
  } catch (error) {
    throw mismatch(`${path} is not a certificate signing request: ${(error as Error).message}`);
  }
  if (!sameList(strict.dnsNames, csr.dnsNames) || !sameBytes(strict.ips, csr.ips) || !sameList(strict.emailAddresses, csr.emailAddresses) || !sameList(strict.uris, csr.uris)) {
    throw mismatch(`${path} reads two ways (its names differ between parsers); refusing to sign it`);
  }
  return csr;
}

/** `kpki certs sign`: sign a CSR with a CA, using a kubeadm profile or explicit usages. */
export const certsSignCommand = defineCommand({
  command: "sign",
  describe: "Sign a certificate signing request with a CA, as kubeadm would issue it",
  options: {
    csr: { type: "string", demandOption: true, describe: "The PKCS#10 request (PEM)" },
    profile: { type: "string", choices: SIGN_PROFILE_CHOICES, describe: "A kubeadm certificate: its usages, CA and expected subject" },
    usage: { type: "string", array: true, choices: USAGES, describe: "Extended key usages (instead of --profile)" },
    validity: { type: "string", default: "8760h", describe: "Validity from now: a Go duration, or days/years (365d, 1y)" },
    "ca-cert": { type: "string", describe: "The CA certificate [default: the profile's CA in --cert-dir]" },
    "ca-key": { type: "string", describe: "The CA key [default: the profile's CA key in --cert-dir]" },
    "cert-dir": { type: "string", describe: "Where the CAs are, for --profile [default: /etc/kubernetes/pki]" },
    dir: { type: "string", describe: "Shorthand: --cert-dir DIR/pki" },
    out: { type: "string", describe: "Write the certificate here (refuses to overwrite) [default: stdout]" },
    kubeconfig: { type: "string", describe: "Put the certificate (and the CA) into this kubeconfig, whose key must be the CSR's" },
  },
  examples: [
    ["$0 certs sign --csr pki/apiserver.csr --profile apiserver --ca-cert ca.crt --ca-key ca.key --out pki/apiserver.crt", "An external CA signs the API server's CSR"],
    ["$0 certs sign --csr admin.conf.csr --profile admin.conf --dir /srv/ca --kubeconfig admin.conf", "Finish a kubeconfig from generate-csr"],
    ["$0 certs sign --csr web.csr --usage serverAuth --validity 90d --ca-cert ca.crt --ca-key ca.key", "Any CSR, explicit usages; PEM on stdout"],
  ],
  epilogue:
    "A CSR whose signature does not verify is refused, as is one whose subject does not fit the profile, that asks for e-mail/URI SANs, " +
    "whose key is weak (RSA below 2048 bits) or of a type kubeadm does not use, or that asks for serverAuth with no DNS or IP SAN. " +
    "Exit codes: 0 signed, 1 error (nothing written), 2 usage error.",
  run: async (args, io) => {
    if (!args.profile && !args.usage?.length) throw usageError("give --profile or --usage");
    if (args.profile && args.usage?.length) throw usageError("--profile and --usage are exclusive: a profile sets the usages");
    if (args.out && args.kubeconfig) throw usageError("--out and --kubeconfig are exclusive");
    const validityMs = durationFlag("validity", args.validity);
    const [{ caLocation, loadIssuer }, { SIGN_PROFILES, signCsr }] = await Promise.all([import("../../kubeadm/files.js"), import("../../kubeadm/sign.js")]);
    const profile = SIGN_PROFILES.find((p) => p.name === args.profile);
    const ca = caLocation(dirsFromArgs(args).certDir ?? DEFAULTS.certificatesDir, profile?.ca ?? "ca");
    const caCertPath = args["ca-cert"] ?? ca.cert;
    const caKeyPath = args["ca-key"] ?? ca.key;

    const csr = await readCsrOneWay(args.csr, await readFlagFile(io, "csr", args.csr), io.crypto);
    const issuer = await loadIssuer(io.readText, { name: ca.name, cert: caCertPath, key: caKeyPath }, io.crypto);
    const expect = profile?.kubeconfig || profile?.commonName !== undefined ? { commonName: profile?.commonName, organizations: profile?.organizations } : undefined;
    const cert = await signCsr(csr, issuer, {
      extKeyUsages: profile?.extKeyUsages ?? args.usage ?? [],
      validityMs,
      ...(expect ? { expect } : {}),
    }, io.now(), io.crypto);

    if (args.kubeconfig) {
      const text = await readFlagFile(io, "kubeconfig", args.kubeconfig);
      const [{ readKubeconfig }, { withRenewedClientCert }] = await Promise.all([import("../../kubeadm/kubeconfig.js"), import("../../kubeadm/kubeconfig-edit.js")]);
      const view = await readKubeconfig(text, args.kubeconfig);
      if (!view.clientKeyData) throw mismatch(`${args.kubeconfig} has no client-key-data for this certificate`);
      const key = await parsePrivateKeyPem(view.clientKeyData, io.crypto);
      if (!bytesEqual(await spkiOf(key.publicKey, io.crypto), cert.spki)) throw mismatch(`${args.kubeconfig} holds a different key than ${args.csr}`);
      await io.store.write(args.kubeconfig, await withRenewedClientCert(text, args.kubeconfig, cert.pem, undefined, issuer.trustPem), MODES.kubeconfig);
      io.stderr(`[sign] ${csr.commonName}: certificate written into ${args.kubeconfig}, valid until ${cert.notAfter.toISOString()}\n`);
    } else if (args.out) {
      if ((await io.readText(args.out)) !== undefined) throw mismatch(`${args.out} already exists; kpki does not overwrite certificates (renew does, with a backup)`);
      await io.store.write(args.out, cert.pem, MODES.cert);
      io.stderr(`[sign] ${csr.commonName}: certificate written to ${args.out}, valid until ${cert.notAfter.toISOString()}\n`);
    } else {
      io.stdout(cert.pem);
    }
    return undefined;
  },
});
