import { createCertificate, randomSerial, type ParsedCertificate } from "./cert.js";
import { generateKeyPair, privateKeyToPem, type KeyAlgorithm } from "./keys.js";

/** A standalone self-signed CA request (`kpki ca create`). */
export interface StandaloneCaSpec {
  readonly commonName: string;
  readonly organizations: readonly string[];
  readonly algorithm: KeyAlgorithm;
  readonly validityMs: number;
  /** Backdating of NotBefore, kubeadm's 5 minutes by default. */
  readonly backdateMs: number;
}

/**
 * A self-signed CA with kubeadm's CA template (NewSelfSignedCACert): KeyUsage
 * digitalSignature|keyEncipherment|keyCertSign (critical), CA:TRUE (critical),
 * SKI, SAN DNS:<CN>. kind, minikube and kubeadm accept it as a cluster CA.
 */
export async function createStandaloneCa(
  spec: StandaloneCaSpec,
  now: Date,
  crypto: Crypto,
): Promise<{ certificate: ParsedCertificate; keyPem: string }> {
  const key = await generateKeyPair(spec.algorithm, crypto);
  const notBefore = new Date(now.getTime() - spec.backdateMs);
  const certificate = await createCertificate(
    {
      subject: spec.organizations.length ? { commonName: spec.commonName, organizations: spec.organizations } : { commonName: spec.commonName },
      serial: randomSerial(crypto),
      notBefore,
      notAfter: new Date(now.getTime() + spec.validityMs),
      isCa: true,
      keyUsages: ["digitalSignature", "keyEncipherment", "keyCertSign"],
      extKeyUsages: [],
      dnsNames: [spec.commonName],
      ips: [],
    },
    key.publicKey,
    { selfSigned: key },
    crypto,
  );
  return { certificate, keyPem: await privateKeyToPem(key, crypto) };
}
