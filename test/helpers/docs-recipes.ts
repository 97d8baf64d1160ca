import { execFileSync } from "node:child_process";

/** Runs a bash script in `cwd` with `set -euo pipefail`; its output is returned, a failure throws. */
export const sh = (script: string, cwd: string, env: Record<string, string> = {}): Buffer =>
  execFileSync("bash", ["-euo", "pipefail", "-c", script], { cwd, env: { ...process.env, ...env }, stdio: "pipe" });

/** The inputs of the Kubernetes docs' openssl recipe ("Generate Certificates Manually", openssl). */
export interface OpensslRecipe {
  /** The CA's CN and the server's CN (the docs use MASTER_IP for both). */
  readonly cn: string;
  readonly org?: string;
  readonly dnsNames: readonly string[];
  readonly ips: readonly string[];
}

/**
 * Writes ca.key, ca.crt, server.key and server.crt into `dir` with the openssl CLI, as the docs do:
 * a self-signed CA, then a csr.conf with [alt_names] and [v3_ext] and `openssl x509 -req -extfile`.
 */
export function opensslDocsRecipe(dir: string, r: OpensslRecipe): void {
  const altNames = [...r.dnsNames.map((d, i) => `DNS.${i + 1} = ${d}`), ...r.ips.map((ip, i) => `IP.${i + 1} = ${ip}`)].join("\n");
  const conf = [
    "[ req ]",
    "default_bits = 2048",
    "prompt = no",
    "default_md = sha256",
    "req_extensions = req_ext",
    "distinguished_name = dn",
    "",
    "[ dn ]",
    ...(r.org !== undefined ? [`O = ${r.org}`] : []),
    `CN = ${r.cn}`,
    "",
    "[ req_ext ]",
    "subjectAltName = @alt_names",
    "",
    "[ alt_names ]",
    altNames,
    "",
    "[ v3_ext ]",
    "authorityKeyIdentifier=keyid,issuer:always",
    "basicConstraints=CA:FALSE",
    "keyUsage=keyEncipherment,dataEncipherment",
    "extendedKeyUsage=serverAuth,clientAuth",
    "subjectAltName=@alt_names",
    "",
  ].join("\n");
  sh(
    [
      "openssl genrsa -out ca.key 2048 2>/dev/null",
      `openssl req -x509 -new -nodes -key ca.key -subj "/CN=${r.cn}" -days 10000 -out ca.crt`,
      "openssl genrsa -out server.key 2048 2>/dev/null",
      `printf '%s' "$CSR_CONF" > csr.conf`,
      "openssl req -new -key server.key -out server.csr -config csr.conf",
      "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 10000 -extensions v3_ext -extfile csr.conf -sha256 2>/dev/null",
      "rm -f server.csr ca.srl csr.conf",
    ].join("\n"),
    dir,
    { CSR_CONF: conf },
  );
}
