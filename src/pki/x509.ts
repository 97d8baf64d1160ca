/**
 * The only module that imports @peculiar/x509. That library needs the Reflect
 * metadata polyfill (it uses tsyringe) and registers its extension classes as
 * an import side effect; both stay here. Every call passes the crypto provider
 * explicitly, so nothing relies on the library's global provider.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

export {
  X509Certificate,
  X509CertificateGenerator,
  Pkcs10CertificateRequest,
  Pkcs10CertificateRequestGenerator,
  Extension,
  Name,
} from "@peculiar/x509";

export type X509CertificateType = x509.X509Certificate;
export type Pkcs10CertificateRequestType = x509.Pkcs10CertificateRequest;
