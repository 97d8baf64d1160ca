/**
 * What kpki refuses to sign, and with which CA (issue 11's "Refusals"): one line, exit 1, nothing
 * written.
 */
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { createCsr } from "../../src/pki/csr.js";
import { generateKeyPair } from "../../src/pki/keys.js";
import { buildCsr, dnsName, extension, extensionRequest, fromPrivateKey, OIDS, sanValue, testKey } from "../helpers/csr-builder.js";
import { octetString } from "../../src/pki/der.js";
import { fakeIo } from "../helpers/fake-io.js";
import { crypto } from "../helpers/clock.js";

const work = mkdtempSync(join(tmpdir(), "kpki-refusals-"));
const dir = join(work, "cluster");
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function kpki(args: string[]) {
  const f = fakeIo();
  const code = await run(args, f.io);
  return { code, stdout: f.stdout(), stderr: f.stderr() };
}

describe("refusals", () => {
  beforeAll(async () => {
    expect((await kpki(["init", "phase", "certs", "ca", "--dir", dir])).code).toBe(0);
  });

  it("certs sign refuses an RSA-1024 request", async () => {
    const csr = join(work, "weak.csr");
    writeFileSync(csr, buildCsr(fromPrivateKey(generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey)).pem);
    const out = join(work, "weak.crt");
    const r = await kpki(["certs", "sign", "--csr", csr, "--usage", "serverAuth", "--dir", dir, "--out", out]);
    expect([r.code, r.stderr]).toEqual([1, "error: the CSR has an RSA key of 1024 bits; kpki signs RSA keys of 2048, 3072 or 4096 bits, ECDSA P-256 or P-384, and Ed25519\n"]);
    expect(existsSync(out)).toBe(false);
  });

  it("certs sign refuses a serving profile (apiserver) for a request with no SAN", async () => {
    const key = await generateKeyPair("ECDSA-P256", crypto);
    const csr = join(work, "nosan.csr");
    writeFileSync(csr, (await createCsr({ subject: { commonName: "kube-apiserver" }, dnsNames: [], ips: [] }, key, crypto)).pem);
    const out = join(work, "nosan.crt");
    const r = await kpki(["certs", "sign", "--csr", csr, "--profile", "apiserver", "--dir", dir, "--out", out]);
    expect([r.code, r.stderr]).toEqual([1, "error: the CSR asks for a serving certificate (serverAuth) but names no DNS name or IP: TLS clients check the SANs, not the CN\n"]);
    expect(existsSync(out)).toBe(false);
  });

  it("certs sign refuses a request that is not canonical DER (the SAN-smuggling Extension), whatever a lenient parser makes of it", async () => {
    const evil = sanValue(dnsName("kubernetes.default.svc"));
    const own = sanValue(dnsName("web.example.com"));
    const csr = join(work, "smuggled.csr");
    writeFileSync(csr, buildCsr(testKey("ec"), { attributes: extensionRequest(extension(OIDS.san, octetString(evil), octetString(own))) }).pem);
    const out = join(work, "smuggled.crt");
    const r = await kpki(["certs", "sign", "--csr", csr, "--usage", "serverAuth", "--dir", dir, "--out", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*smuggled\.csr is not the canonical encoding of a certificate signing request: .*unexpected OCTET STRING after the last element of an Extension.*\n$/);
    expect(existsSync(out)).toBe(false);
  });

  it("kubeconfig user refuses a ca.key that is not ca.crt's, as init, renew and sign do", async () => {
    const other = join(work, "other");
    expect((await kpki(["init", "phase", "certs", "ca", "--dir", other])).code).toBe(0);
    // ca.crt from one CA, ca.key from another.
    const mixed = join(work, "mixed");
    const pki = join(mixed, "pki");
    mkdirSync(pki, { recursive: true });
    writeFileSync(join(pki, "ca.crt"), readFileSync(join(dir, "pki", "ca.crt")));
    writeFileSync(join(pki, "ca.key"), readFileSync(join(other, "pki", "ca.key")));
    const r = await kpki(["kubeconfig", "user", "--client-name", "jane", "--dir", mixed, "--apiserver-advertise-address", "192.0.2.10"]);
    expect([r.code, r.stdout, r.stderr]).toEqual([1, "", `error: couldn't create a kubeconfig; the CA files couldn't be loaded: ${join(pki, "ca.key")} does not match ${join(pki, "ca.crt")}: the key is not the ca certificate authority's\n`]);
  });
});
