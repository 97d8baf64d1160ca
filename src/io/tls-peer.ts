import { isIP } from "node:net";
import { connect, type DetailedPeerCertificate } from "node:tls";
import { PkiError } from "../errors.js";

/** How long `kpki inspect HOST:PORT` waits for the handshake. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * The certificate chain a TLS server presents, leaf first, as DER. The handshake does not verify
 * anything (rejectUnauthorized: false): the caller shows and checks the chain. SNI is the host
 * unless it is an IP address (RFC 6066 §3 forbids IP literals in server_name). Node orders the
 * certificates the server sent by issuer, and may complete the list with an issuer from its own
 * CA store (getPeerCertificate(true); nodejs/node src/crypto/crypto_common.cc GetPeerCert).
 */
export function tlsPeerChain(host: string, port: number, client?: { readonly cert: Uint8Array; readonly key: Uint8Array }): Promise<Uint8Array<ArrayBuffer>[]> {
  return new Promise((resolve, reject) => {
    // A client certificate where the server asks for one (etcd): without it, etcd logs every probe as a rejected connection.
    const auth = client ? { cert: Buffer.from(client.cert), key: Buffer.from(client.key) } : {};
    const socket = connect({ host, port, rejectUnauthorized: false, ...auth, ...(isIP(host) ? {} : { servername: host }) });
    const fail = (error: Error): void => {
      socket.destroy();
      reject(new PkiError("io", `TLS connection to ${host}:${port} failed: ${error.message}`));
    };
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, () => fail(new Error(`no TLS handshake within ${HANDSHAKE_TIMEOUT_MS / 1000}s`)));
    socket.once("error", fail);
    socket.once("secureConnect", () => {
      const ders: Uint8Array<ArrayBuffer>[] = [];
      const seen = new Set<string>();
      let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
      while (cert && cert.raw && !seen.has(cert.fingerprint256)) {
        seen.add(cert.fingerprint256);
        ders.push(new Uint8Array(cert.raw));
        cert = cert.issuerCertificate;
      }
      socket.end();
      if (!ders.length) reject(new PkiError("io", `${host}:${port} sent no certificate`));
      else resolve(ders);
    });
  });
}
