import { mismatch, usageError } from "../../errors.js";
import { MODES } from "../../kubeadm/store.js";
import { DEFAULTS } from "../../kubeadm/config.js";
import { KEY_ALGORITHMS } from "../../pki/keys.js";
import { bytesToHex } from "../../pki/der.js";
import { defineCommand } from "../command.js";
import { durationFlag } from "../options.js";
import { OUTPUT_FORMATS, renderData } from "../output.js";

/** `kpki ca create`: a standalone self-signed CA for dev clusters (kind, minikube, kubeadm external CA). */
export const caCreateCommand = defineCommand({
  command: "create",
  describe: "Create a standalone self-signed CA (cert + key) with kubeadm's CA template",
  options: {
    name: { type: "string", default: "ca", describe: "File stem: writes NAME.crt and NAME.key" },
    "out-dir": { type: "string", default: ".", describe: "Directory for the two files" },
    "common-name": { type: "string", describe: 'Subject CN [default: "kubernetes" for name ca, else the name]' },
    org: { type: "string", array: true, describe: "Subject O (repeatable)" },
    algorithm: { type: "string", default: "RSA-2048", choices: KEY_ALGORITHMS, describe: "Key type" },
    validity: { type: "string", default: "87600h", describe: "Validity: a Go duration (87600h) or days/years (3650d, 10y)" },
    output: { alias: "o", type: "string", default: "text", choices: OUTPUT_FORMATS, describe: "Report format" },
  },
  examples: [
    ["$0 ca create --out-dir ./my-ca --algorithm ECDSA-P256", "./my-ca/ca.crt and ./my-ca/ca.key, CN=kubernetes, 10 years"],
    ["$0 ca create --name front-proxy-ca --validity 5y -o json", "front-proxy-ca.{crt,key}; prints the result as JSON"],
  ],
  epilogue:
    "The CA can seed a kubeadm cluster (copy to /etc/kubernetes/pki/ca.{crt,key} before `kpki init`) or minikube " +
    "(~/.minikube/ca.{crt,key}). Existing files are never overwritten. Exit codes: 0 created, 1 error, 2 usage error.",
  run: async (args, io) => {
    const validityMs = durationFlag("validity", args.validity);
    if (!/^[A-Za-z0-9._-]+$/.test(args.name)) throw usageError(`invalid --name "${args.name}": use letters, digits, '.', '_' and '-'`);
    const [{ pkiPaths }, { createStandaloneCa }] = await Promise.all([import("../../kubeadm/files.js"), import("../../pki/ca.js")]);
    const { cert: certPath, key: keyPath } = pkiPaths(args["out-dir"], args.name);
    for (const p of [certPath, keyPath]) {
      if ((await io.store.read(p)) !== undefined) throw mismatch(`${p} already exists; kpki never overwrites a CA (move it away first)`);
    }
    const commonName = args["common-name"] ?? (args.name === "ca" ? "kubernetes" : args.name);
    const now = io.now();
    const { certificate, keyPem } = await createStandaloneCa(
      { commonName, organizations: args.org ?? [], algorithm: args.algorithm, validityMs, backdateMs: DEFAULTS.backdateMs },
      now,
      io.crypto,
    );
    await io.store.write(keyPath, keyPem, MODES.key);
    await io.store.write(certPath, certificate.pem, MODES.cert);
    const fingerprint = bytesToHex(new Uint8Array(await io.crypto.subtle.digest("SHA-256", certificate.der)));
    if (args.output === "text") {
      io.stdout(`[ca] Generated "${args.name}" certificate and key (${args.algorithm}, CN=${commonName})\n`);
      io.stdout(`[ca] Certificate: ${certPath}\n[ca] Private key: ${keyPath}\n`);
      io.stdout(`[ca] Valid until ${certificate.notAfter.toISOString()}; SHA-256 fingerprint ${fingerprint}\n`);
    } else {
      io.stdout(
        await renderData(
          {
            certificate: certPath,
            key: keyPath,
            subject: { commonName, organizations: args.org ?? [] },
            algorithm: args.algorithm,
            serialNumber: certificate.serialHex,
            notBefore: certificate.notBefore.toISOString(),
            notAfter: certificate.notAfter.toISOString(),
            sha256Fingerprint: fingerprint,
          },
          args.output,
        ),
      );
    }
    return undefined;
  },
});
