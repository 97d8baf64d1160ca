import { mismatch, usageError } from "../../errors.js";
import { DEFAULTS } from "../../kubeadm/config.js";
import type { CaLocation } from "../../kubeadm/files.js";
import { MODES } from "../../kubeadm/store.js";
import { bytesToHex } from "../../pki/der.js";
import { EXT_KEY_USAGE_OIDS, type ExtKeyUsage } from "../../pki/extensions.js";
import { generateKeyPair, KEY_ALGORITHMS, privateKeyToPem } from "../../pki/keys.js";
import { CREATE_FLAG_DEFAULTS, CREATE_PROFILE_CHOICES } from "../choices.js";
import { defineCommand } from "../command.js";
import { dirsFromArgs, durationFlag } from "../options.js";
import { OUTPUT_FORMATS, renderData } from "../output.js";

const USAGES = Object.keys(EXT_KEY_USAGE_OIDS) as ExtKeyUsage[];

/** `kpki certs create NAME`: a new key and a certificate signed by a CA, by profile or explicit usages. */
export const certsCreateCommand = defineCommand({
  command: "create <name>",
  describe: "Create a key and a certificate signed by a CA (server, client, peer, etcd, kube-apiserver profiles)",
  positionals: {
    name: { type: "string", demandOption: true, describe: "File stem: writes NAME.key and NAME.crt (etcd-member: the member name)" },
  },
  options: {
    profile: { type: "string", choices: CREATE_PROFILE_CHOICES, describe: "What the certificate is for (see below)" },
    usage: { type: "string", array: true, choices: USAGES, describe: "Extended key usages (instead of --profile)" },
    cn: { type: "string", describe: "Subject CN [default: NAME]" },
    org: { type: "string", array: true, describe: "Subject O (repeatable)" },
    san: { type: "string", array: true, describe: "Subject alternative names: IPs and DNS names (repeatable or comma-separated; IP:/DNS: prefixes allowed)" },
    "service-cidr": { type: "string", describe: `kube-apiserver: the service range; its first address is a SAN [default: ${CREATE_FLAG_DEFAULTS.serviceCidr}]` },
    "cluster-domain": { type: "string", describe: `kube-apiserver: adds kubernetes.default.svc.DOMAIN [default: ${CREATE_FLAG_DEFAULTS.clusterDomain}]` },
    validity: { type: "string", default: CREATE_FLAG_DEFAULTS.validity, describe: "Validity from now: a Go duration, or days/years (365d, 1y)" },
    algorithm: { type: "string", default: "RSA-2048", choices: KEY_ALGORITHMS, describe: "Key type" },
    "ca-dir": { type: "string", describe: "A folder holding the CA as ca.crt and ca.key" },
    "ca-cert": { type: "string", describe: "The CA certificate (with --ca-key)" },
    "ca-key": { type: "string", describe: "The CA key (with --ca-cert)" },
    "cert-dir": { type: "string", describe: "A kubeadm cert dir: its ca, or etcd/ca for the etcd profiles [default: /etc/kubernetes/pki]" },
    dir: { type: "string", describe: "Shorthand: --cert-dir DIR/pki" },
    "out-dir": { type: "string", default: ".", describe: "Where to write the files" },
    output: { alias: "o", type: "string", default: "text", choices: OUTPUT_FORMATS, describe: "Report format" },
  },
  examples: [
    ["$0 certs create apiserver --profile kube-apiserver --cn 10.0.0.5 --san 10.0.0.5 --ca-dir ./ca", "The docs' API server certificate: kubernetes.default… names, 10.96.0.1 and 10.0.0.5"],
    ["$0 certs create etcd0 --profile etcd-member --san 10.0.0.11 --dir ./cluster --out-dir ./etcd0", "etcd0-server, etcd0-peer and etcd0-client pairs from the cluster's etcd CA"],
    ["$0 certs create web --usage serverAuth --san web.example.com --validity 90d --ca-cert ca.crt --ca-key ca.key -o json", "Explicit usages; the result as JSON"],
  ],
  epilogue:
    "Profiles (every certificate: KeyUsage digitalSignature, keyEncipherment; CA:FALSE; kubeadm's leaf template): " +
    "server = serverAuth; client = clientAuth; peer = serverAuth+clientAuth; " +
    "kube-apiserver = serverAuth (kubeadm's apiserver) with kubernetes, kubernetes.default, kubernetes.default.svc, kubernetes.default.svc.DOMAIN and the first address of --service-cidr; " +
    "etcd-server and etcd-peer = serverAuth+clientAuth (kubeadm's etcd/server and etcd/peer) with the CN (when a DNS name), localhost, 127.0.0.1 and ::1; " +
    "etcd-client = clientAuth (kubeadm's etcd/healthcheck-client); " +
    "etcd-member = all three for one member, NAME-server.{crt,key} (--cert-file/--key-file), NAME-peer.{crt,key} (--peer-cert-file/--peer-key-file) " +
    "and NAME-client.{crt,key} (etcdctl --cert/--key), CN NAME, the member name and --san in the server and peer certificates. " +
    "--san adds to a profile's names. serverAuth with no DNS or IP SAN, e-mail/URI SANs, and anything that is neither an IP nor a DNS name are refused. " +
    "The CA is --ca-dir (ca.crt, ca.key), --ca-cert with --ca-key, or a kubeadm --cert-dir/--dir; it must be a CA and the key its own. " +
    "Keys are written 0600 before certificates 0644; existing files are never overwritten. " +
    "Exit codes: 0 created, 1 error (nothing written), 2 usage error.",
  run: async (args, io) => {
    const validityMs = durationFlag("validity", args.validity);
    if (!/^[A-Za-z0-9._-]+$/.test(args.name)) throw usageError(`invalid name "${args.name}": use letters, digits, '.', '_' and '-'`);
    if (args.usage?.length && args.profile) throw usageError("--profile and --usage are exclusive: a profile sets the usages");
    if ((args["service-cidr"] !== undefined || args["cluster-domain"] !== undefined) && args.profile !== "kube-apiserver") {
      throw usageError("--service-cidr and --cluster-domain apply to --profile kube-apiserver only");
    }
    if ((args["ca-cert"] === undefined) !== (args["ca-key"] === undefined)) throw usageError("--ca-cert and --ca-key go together");
    const caSources = [args["ca-dir"] !== undefined, args["ca-cert"] !== undefined, args["cert-dir"] !== undefined || args.dir !== undefined].filter(Boolean).length;
    if (caSources > 1) throw usageError("give the CA one way: --ca-dir, --ca-cert with --ca-key, or --cert-dir/--dir");

    const [{ CREATE_DEFAULTS, planCreate, profileCa }, { caLocation, loadIssuer, pkiPaths }, { leafSpec }, { createCertificate, ipStrings, randomSerial }] = await Promise.all([
      import("../../kubeadm/create.js"),
      import("../../kubeadm/files.js"),
      import("../../kubeadm/resolve.js"),
      import("../../pki/cert.js"),
    ]);
    const plan = planCreate({
      name: args.name,
      profile: args.profile,
      usages: args.usage,
      commonName: args.cn ?? args.name,
      organizations: args.org ?? [],
      sans: (args.san ?? []).flatMap((s) => s.split(",")).map((s) => s.trim()).filter((s) => s !== ""),
      serviceCidr: args["service-cidr"] ?? CREATE_DEFAULTS.serviceCidr,
      clusterDomain: args["cluster-domain"] ?? CREATE_DEFAULTS.clusterDomain,
    });

    const location: CaLocation =
      args["ca-dir"] !== undefined ? { name: "ca", ...pkiPaths(args["ca-dir"], "ca") }
      : args["ca-cert"] !== undefined && args["ca-key"] !== undefined ? { name: "ca", cert: args["ca-cert"], key: args["ca-key"] }
      : caLocation(dirsFromArgs(args).certDir ?? DEFAULTS.certificatesDir, profileCa(args.profile));
    const issuer = await loadIssuer(io.readText, location, io.crypto);

    const outDir = args["out-dir"];
    const files = plan.map((p) => ({ plan: p, ...pkiPaths(outDir, p.baseName) }));
    for (const f of files) {
      for (const p of [f.key, f.cert]) {
        if ((await io.store.read(p)) !== undefined) throw mismatch(`${p} already exists; kpki does not overwrite keys or certificates (move it away first)`);
      }
    }
    await io.store.checkWritable(outDir);

    // Everything is checked; now the keys and certificates, then the files (keys first).
    const now = io.now();
    const issued = [];
    for (const f of files) {
      const key = await generateKeyPair(args.algorithm, io.crypto);
      const cert = await createCertificate({ ...leafSpec(f.plan.identity, now, validityMs), serial: randomSerial(io.crypto) }, key.publicKey, issuer, io.crypto);
      issued.push({ ...f, keyPem: await privateKeyToPem(key, io.crypto), certificate: cert });
    }
    for (const i of issued) {
      await io.store.write(i.key, i.keyPem, MODES.key);
      await io.store.write(i.cert, i.certificate.pem, MODES.cert);
    }

    const reports = await Promise.all(
      issued.map(async (i) => ({
        name: i.plan.baseName,
        profile: i.plan.profile,
        certificate: i.certificate,
        key: i.key,
        certificatePath: i.cert,
        fingerprint: bytesToHex(new Uint8Array(await io.crypto.subtle.digest("SHA-256", i.certificate.der))),
      })),
    );
    if (args.output === "text") {
      for (const r of reports) {
        const sans = [...r.certificate.dnsNames.map((d) => `DNS:${d}`), ...ipStrings(r.certificate).map((ip) => `IP:${ip}`)];
        io.stdout(`[create] Generated "${r.name}" certificate and key (${r.profile}, ${args.algorithm}, CN=${r.certificate.commonName}${sans.length ? `, ${sans.join(", ")}` : ""})\n`);
        io.stdout(`[create] Certificate: ${r.certificatePath}\n[create] Private key: ${r.key}\n`);
        io.stdout(`[create] Signed by ${location.cert}; valid until ${r.certificate.notAfter.toISOString()}\n`);
      }
    } else {
      io.stdout(
        await renderData(
          {
            issuer: { certificate: location.cert, commonName: issuer.certificate.commonName },
            certificates: reports.map((r) => ({
              name: r.name,
              profile: r.profile,
              certificate: r.certificatePath,
              key: r.key,
              algorithm: args.algorithm,
              subject: { commonName: r.certificate.commonName, organizations: r.certificate.organizations },
              dnsNames: r.certificate.dnsNames,
              ipAddresses: ipStrings(r.certificate),
              keyUsages: r.certificate.keyUsages,
              extKeyUsages: r.certificate.extKeyUsages,
              serialNumber: r.certificate.serialHex,
              notBefore: r.certificate.notBefore.toISOString(),
              notAfter: r.certificate.notAfter.toISOString(),
              sha256Fingerprint: r.fingerprint,
            })),
          },
          args.output,
        ),
      );
    }
    return undefined;
  },
});
