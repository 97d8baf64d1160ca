import { invalidInput, mismatch } from "../errors.js";
import { createCertificate, randomSerial, type Issuer, type ParsedCertificate } from "../pki/cert.js";
import type { ParsedCsr } from "../pki/csr.js";
import type { ExtKeyUsage } from "../pki/extensions.js";
import { KUBECONFIGS, LEAVES, type CaName } from "./catalogue.js";
import { leafSpec } from "./resolve.js";

/** What WebCrypto tells of a key's algorithm (RsaHashedKeyAlgorithm, EcKeyAlgorithm, or just a name). */
interface KeyAlgorithmDetails {
  readonly name: string;
  readonly modulusLength?: number;
  readonly namedCurve?: string;
}

/** A signing profile from kubeadm's catalogue: usages, issuing CA and the subject it expects. */
export interface SignProfile {
  readonly name: string;
  readonly ca: CaName;
  readonly extKeyUsages: readonly ExtKeyUsage[];
  /** The CN kubeadm gives it; undefined where it depends on the node name. */
  readonly commonName: string | undefined;
  readonly organizations: readonly string[] | undefined;
  readonly kubeconfig: boolean;
}

/** Every leaf and kubeconfig of the catalogue as a profile (`--profile apiserver`, `--profile admin.conf`, ...). */
export const SIGN_PROFILES: readonly SignProfile[] = [
  ...LEAVES.map((l): SignProfile => ({
    name: l.name,
    ca: l.ca,
    extKeyUsages: l.extKeyUsages,
    commonName: typeof l.commonName === "string" ? l.commonName : undefined,
    organizations: l.organizations,
    kubeconfig: false,
  })),
  ...KUBECONFIGS.map((k): SignProfile => ({
    name: k.fileName,
    ca: "ca",
    extKeyUsages: ["clientAuth"],
    commonName: typeof k.user === "string" ? k.user : undefined,
    organizations: k.organizations,
    kubeconfig: true,
  })),
];


export interface SignOptions {
  readonly extKeyUsages: readonly ExtKeyUsage[];
  readonly validityMs: number;
  /** When set, the CSR's subject must be exactly this (a kubeadm profile with a fixed identity). */
  readonly expect?: { readonly commonName: string | undefined; readonly organizations: readonly string[] | undefined };
}

/**
 * Signs a CSR as kubeadm would have issued the certificate: subject and DNS/IP
 * SANs from the request (SANs sorted and deduplicated), KeyUsage
 * digitalSignature|keyEncipherment, the given ExtKeyUsage, NotBefore now - 5m,
 * NotAfter now + validity. A request whose signature does not verify, that asks
 * for e-mail or URI SANs, whose key is weak or of a type kubeadm does not use,
 * that asks for serverAuth without a SAN, or whose subject does not fit the
 * profile is refused.
 */
export async function signCsr(csr: ParsedCsr, issuer: Issuer, opts: SignOptions, now: Date, crypto: Crypto): Promise<ParsedCertificate> {
  if (!csr.signatureValid) throw mismatch("the CSR's signature does not verify: refusing to sign it");
  if (csr.commonName === "") throw invalidInput("the CSR has no common name (kubeadm requires one)");
  if (csr.emailAddresses.length || csr.uris.length) {
    throw invalidInput(`the CSR asks for ${[...csr.emailAddresses.map((e) => `email:${e}`), ...csr.uris.map((u) => `URI:${u}`)].join(", ")}; kubeadm certificates carry only DNS and IP SANs`);
  }
  if (!opts.extKeyUsages.length) throw invalidInput("must specify at least one ExtKeyUsage");
  if (csr.keyAlgorithm === undefined) {
    const alg = csr.publicKey.algorithm as KeyAlgorithmDetails;
    const what = alg.modulusLength ? `an RSA key of ${alg.modulusLength} bits` : alg.namedCurve ? `a ${alg.namedCurve} key` : `a ${alg.name} key`;
    throw invalidInput(`the CSR has ${what}; kpki signs RSA keys of 2048, 3072 or 4096 bits, ECDSA P-256 or P-384, and Ed25519`);
  }
  if (opts.extKeyUsages.includes("serverAuth") && !csr.dnsNames.length && !csr.ips.length) {
    throw invalidInput("the CSR asks for a serving certificate (serverAuth) but names no DNS name or IP: TLS clients check the SANs, not the CN");
  }
  const expect = opts.expect;
  if (expect?.commonName !== undefined && csr.commonName !== expect.commonName) {
    throw mismatch(`the CSR's CN is "${csr.commonName}" but this profile issues CN "${expect.commonName}"`);
  }
  if (expect?.organizations !== undefined && JSON.stringify([...csr.organizations].sort()) !== JSON.stringify([...expect.organizations].sort())) {
    throw mismatch(`the CSR's O is [${csr.organizations.join(", ")}] but this profile issues O [${expect.organizations.join(", ")}]`);
  }
  const spec = leafSpec({ commonName: csr.commonName, organizations: csr.organizations, dnsNames: csr.dnsNames, ips: csr.ips, extKeyUsages: opts.extKeyUsages }, now, opts.validityMs);
  return createCertificate({ ...spec, serial: randomSerial(crypto) }, csr.publicKey, issuer, crypto);
}
