import type { CommandModule } from "yargs";
import { invalidInput, mismatch } from "../../errors.js";
import { DEFAULTS } from "../../kubeadm/config.js";
import { withRenewedClientCert } from "../../kubeadm/kubeconfig-edit.js";
import { readKubeconfig } from "../../kubeadm/kubeconfig.js";
import { caBaseName, SIGN_PROFILES, signCsr } from "../../kubeadm/sign.js";
import { joinPath, MODES } from "../../kubeadm/store.js";
import { parseCertificatePem, type Issuer } from "../../pki/cert.js";
import { parseCsrPem } from "../../pki/csr.js";
import { bytesEqual } from "../../pki/der.js";
import { parseDuration } from "../../pki/duration.js";
import { EXT_KEY_USAGE_OIDS, type ExtKeyUsage } from "../../pki/extensions.js";
import { parsePrivateKeyPem, spkiOf } from "../../pki/keys.js";
import type { CliIo } from "../io.js";

interface Args {
  readonly csr: string;
  readonly profile?: string | undefined;
  readonly usage?: string[] | undefined;
  readonly validity: string;
  readonly "ca-cert"?: string | undefined;
  readonly "ca-key"?: string | undefined;
  readonly "cert-dir"?: string | undefined;
  readonly dir?: string | undefined;
  readonly out?: string | undefined;
  readonly kubeconfig?: string | undefined;
}

/** `kpki certs sign`: sign a CSR with a CA, using a kubeadm profile or explicit usages. */
export const certsSignCommand = (io: CliIo): CommandModule<object, Args> => ({
  command: "sign",
  describe: "Sign a certificate signing request with a CA, as kubeadm would issue it",
  builder: (y) =>
    y
      .option("csr", { type: "string", demandOption: true, describe: "The PKCS#10 request (PEM)" })
      .option("profile", { type: "string", choices: SIGN_PROFILES.map((p) => p.name), describe: "A kubeadm certificate: its usages, CA and expected subject" })
      .option("usage", { type: "string", array: true, choices: Object.keys(EXT_KEY_USAGE_OIDS), describe: "Extended key usages (instead of --profile)" })
      .option("validity", { type: "string", default: "8760h", describe: "Validity from now: a Go duration, or days/years (365d, 1y)" })
      .option("ca-cert", { type: "string", describe: "The CA certificate [default: the profile's CA in --cert-dir]" })
      .option("ca-key", { type: "string", describe: "The CA key [default: the profile's CA key in --cert-dir]" })
      .option("cert-dir", { type: "string", describe: "Where the CAs are, for --profile [default: /etc/kubernetes/pki]" })
      .option("dir", { type: "string", describe: "Shorthand: --cert-dir DIR/pki" })
      .option("out", { type: "string", describe: "Write the certificate here (refuses to overwrite) [default: stdout]" })
      .option("kubeconfig", { type: "string", describe: "Put the certificate (and the CA) into this kubeconfig, whose key must be the CSR's" })
      .example("$0 certs sign --csr pki/apiserver.csr --profile apiserver --ca-cert ca.crt --ca-key ca.key --out pki/apiserver.crt", "An external CA signs the API server's CSR")
      .example("$0 certs sign --csr admin.conf.csr --profile admin.conf --dir /srv/ca --kubeconfig admin.conf", "Finish a kubeconfig from generate-csr")
      .example("$0 certs sign --csr web.csr --usage serverAuth --validity 90d --ca-cert ca.crt --ca-key ca.key", "Any CSR, explicit usages; PEM on stdout")
      .epilogue(
        "A CSR whose signature does not verify is refused, as is one whose subject does not fit the profile, that asks for e-mail/URI SANs, " +
          "whose key is weak (RSA below 2048 bits) or of a type kubeadm does not use, or that asks for serverAuth with no DNS or IP SAN. " +
          "Exit codes: 0 signed, 1 error (nothing written), 2 usage error.",
      ) as never,
  handler: async (args) => {
    if (!args.profile && !args.usage?.length) throw invalidInput("give --profile or --usage");
    if (args.profile && args.usage?.length) throw invalidInput("--profile and --usage are exclusive: a profile sets the usages");
    if (args.out && args.kubeconfig) throw invalidInput("--out and --kubeconfig are exclusive");
    const validityMs = parseDuration(args.validity, { extendedUnits: true });
    if (validityMs === undefined || validityMs <= 0) throw invalidInput(`invalid --validity "${args.validity}": expected a duration such as 8760h or 365d`);
    const profile = SIGN_PROFILES.find((p) => p.name === args.profile);
    const certDir = args["cert-dir"] ?? (args.dir ? joinPath(args.dir, "pki") : DEFAULTS.certificatesDir);
    const caCertPath = args["ca-cert"] ?? joinPath(certDir, `${caBaseName(profile?.ca ?? "ca")}.crt`);
    const caKeyPath = args["ca-key"] ?? joinPath(certDir, `${caBaseName(profile?.ca ?? "ca")}.key`);

    const read = async (path: string, what: string): Promise<string> => {
      const text = await io.readText(path);
      if (text === undefined) throw invalidInput(`${what} ${path}: no such file`);
      return text;
    };
    const csrText = await read(args.csr, "CSR");
    let csr;
    try {
      csr = await parseCsrPem(csrText, io.crypto);
    } catch (error) {
      throw invalidInput(`${args.csr} is not a certificate signing request: ${(error as Error).message}`);
    }
    let issuer: Issuer;
    try {
      issuer = { certificate: parseCertificatePem(await read(caCertPath, "CA certificate")), key: await parsePrivateKeyPem(await read(caKeyPath, "CA key"), io.crypto) };
    } catch (error) {
      throw mismatch(`cannot load the CA: ${(error as Error).message}`);
    }
    if (!issuer.certificate.isCa) throw mismatch(`${caCertPath} is not a CA certificate`);
    if (!bytesEqual(await spkiOf(issuer.key.publicKey, io.crypto), issuer.certificate.spki)) throw mismatch(`${caKeyPath} does not match ${caCertPath}`);
    const expect = profile?.kubeconfig || profile?.commonName !== undefined ? { commonName: profile?.commonName, organizations: profile?.organizations } : undefined;
    const cert = await signCsr(csr, issuer, {
      extKeyUsages: profile?.extKeyUsages ?? (args.usage as ExtKeyUsage[]),
      validityMs,
      ...(expect ? { expect } : {}),
    }, io.now(), io.crypto);

    if (args.kubeconfig) {
      const text = await read(args.kubeconfig, "kubeconfig");
      const view = await readKubeconfig(text, args.kubeconfig);
      if (!view.clientKeyData) throw mismatch(`${args.kubeconfig} has no client-key-data for this certificate`);
      const key = await parsePrivateKeyPem(view.clientKeyData, io.crypto);
      if (!bytesEqual(await spkiOf(key.publicKey, io.crypto), cert.spki)) throw mismatch(`${args.kubeconfig} holds a different key than ${args.csr}`);
      await io.store.write(args.kubeconfig, await withRenewedClientCert(text, args.kubeconfig, cert.pem, undefined, issuer.certificate.pem), MODES.kubeconfig);
      io.stderr(`[sign] ${csr.commonName}: certificate written into ${args.kubeconfig}, valid until ${cert.notAfter.toISOString()}\n`);
    } else if (args.out) {
      if ((await io.readText(args.out)) !== undefined) throw mismatch(`${args.out} already exists; kpki does not overwrite certificates (renew does, with a backup)`);
      await io.store.write(args.out, cert.pem, MODES.cert);
      io.stderr(`[sign] ${csr.commonName}: certificate written to ${args.out}, valid until ${cert.notAfter.toISOString()}\n`);
    } else {
      io.stdout(cert.pem);
    }
  },
});
