import type { Bytes } from "./der.js";
import { bitString, children, concat, context, decodeOne, oid, sequence, setOf, smallInteger, TAG } from "./der.js";
import { encodeExtension, EXTENSION_OIDS, EXTENSION_REQUEST_OID, readGeneralNames, subjectAltNameValue } from "./extensions.js";
import { algorithmOfKey, spkiOf, type KeyAlgorithm, type KeyPair } from "./keys.js";
import { algorithmIdentifier, sign, signatureOidFor } from "./signature.js";
import { encodeSubject, readName, type Subject } from "./name.js";
import { decodePem, encodePem, PemError } from "./pem.js";
// @peculiar/x509 (through ./x509.js) is imported on first use: loading it costs ~200 ms, which
// every other command (init, check-expiration, ...) would otherwise pay at start-up.
const x509 = () => import("./x509.js");
import { CertificateError } from "./cert.js";

/** What a CSR asks for: kubeadm's NewCSR puts only the subject and DNS/IP SANs in it. */
export interface CsrSpec {
  readonly subject: Subject;
  readonly dnsNames: readonly string[];
  readonly ips: readonly Bytes[];
}

/** A parsed PKCS#10 request. */
export interface ParsedCsr {
  readonly der: Bytes;
  readonly pem: string;
  readonly commonName: string;
  readonly organizations: readonly string[];
  readonly subjectDer: Bytes;
  readonly dnsNames: readonly string[];
  readonly ips: readonly Bytes[];
  readonly emailAddresses: readonly string[];
  readonly uris: readonly string[];
  /** OIDs of every extension in the extensionRequest attribute, in order. */
  readonly requestedExtensions: readonly string[];
  readonly keyAlgorithm: KeyAlgorithm | undefined;
  readonly publicKey: CryptoKey;
  readonly spki: Bytes;
  /** Whether the request's self-signature verifies with its own public key. */
  readonly signatureValid: boolean;
}

/** Creates a PKCS#10 CSR signed by `key`: the subject, and a SAN extension request when there are SANs. */
export async function createCsr(spec: CsrSpec, key: KeyPair, crypto: Crypto): Promise<ParsedCsr> {
  // CertificationRequestInfo (RFC 2986) as Go's x509.CreateCertificateRequest writes it: version 0,
  // subject, key, and an extensionRequest attribute holding the SAN extension only when there are SANs.
  const attributes =
    spec.dnsNames.length || spec.ips.length
      ? [sequence(oid(EXTENSION_REQUEST_OID), setOf([sequence(encodeExtension({ oid: EXTENSION_OIDS.subjectAltName, critical: false, value: subjectAltNameValue(spec.dnsNames, spec.ips) }))]))]
      : [];
  const info = sequence(smallInteger(0), encodeSubject(spec.subject), await spkiOf(key.publicKey, crypto), context(0, concat(attributes), true));
  const sigOid = signatureOidFor(key.algorithm);
  const signature = await sign(sigOid, key.privateKey, info, crypto);
  return parseCsrDer(sequence(info, algorithmIdentifier(sigOid), bitString(signature)), crypto);
}

/** Parses and verifies one DER CSR. */
export async function parseCsrDer(der: Bytes, crypto: Crypto): Promise<ParsedCsr> {
  const { Pkcs10CertificateRequest } = await x509();
  let csr: InstanceType<typeof Pkcs10CertificateRequest>;
  let info: ReturnType<typeof children>;
  try {
    const top = children(decodeOne(der));
    const infoNode = top[0];
    if (!infoNode || infoNode.tag !== TAG.sequence) throw new Error("no CertificationRequestInfo");
    info = children(infoNode);
    csr = new Pkcs10CertificateRequest(der);
  } catch (error) {
    throw new CertificateError(`not a valid PKCS#10 certificate request: ${(error as Error).message}`);
  }
  const [, subjectNode, spkiNode] = info;
  if (!subjectNode || !spkiNode) throw new CertificateError("truncated CertificationRequestInfo");
  const { commonName, organizations } = readName(subjectNode);
  const dnsNames: string[] = [];
  const ips: Bytes[] = [];
  const emailAddresses: string[] = [];
  const uris: string[] = [];
  const requestedExtensions: string[] = [];
  for (const ext of csr.extensions) {
    requestedExtensions.push(ext.type);
    if (ext.type !== EXTENSION_OIDS.subjectAltName) continue;
    const names = readGeneralNames(new Uint8Array(ext.value));
    dnsNames.push(...names.dnsNames);
    ips.push(...names.ips);
    emailAddresses.push(...names.emailAddresses);
    uris.push(...names.uris);
  }
  let publicKey: CryptoKey;
  let keyAlgorithm: KeyAlgorithm | undefined;
  let signatureValid = false;
  try {
    publicKey = await csr.publicKey.export(crypto);
    try {
      keyAlgorithm = algorithmOfKey(publicKey);
    } catch {
      keyAlgorithm = undefined;
    }
    signatureValid = await csr.verify(crypto);
  } catch (error) {
    throw new CertificateError(`the request's public key or signature cannot be read: ${(error as Error).message}`);
  }
  return {
    der,
    pem: encodePem("CERTIFICATE REQUEST", der),
    commonName,
    organizations,
    subjectDer: subjectNode.encoded.slice(),
    dnsNames,
    ips,
    emailAddresses,
    uris,
    requestedExtensions,
    keyAlgorithm,
    publicKey,
    spki: spkiNode.encoded.slice(),
    signatureValid,
  };
}

/** Parses the first `CERTIFICATE REQUEST` (or `NEW CERTIFICATE REQUEST`) block in PEM text. */
export async function parseCsrPem(text: string, crypto: Crypto): Promise<ParsedCsr> {
  const block = decodePem(text).find((b) => b.label === "CERTIFICATE REQUEST" || b.label === "NEW CERTIFICATE REQUEST");
  if (!block) throw new PemError("no CERTIFICATE REQUEST block found");
  return parseCsrDer(block.der, crypto);
}
