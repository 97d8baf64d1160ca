/**
 * `kpki inspect` on fixtures made by `kpki init` and by openssl: every field it shows equals
 * openssl's reading of the same certificate, chains are checked link by link, CSRs are read with
 * their signature and canonical form, and HOST:PORT reads the chain a local node:tls server sends.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type Server } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { run } from "../../src/cli/main.js";
import type { InspectedCertificate, InspectedChain, InspectedRequest } from "../../src/expiry/inspect.js";
import { octetString } from "../../src/pki/der.js";
import { buildCsr, dnsName, extension, extensionRequest, OIDS, sanValue, testKey } from "../helpers/csr-builder.js";
import { fakeIo } from "../helpers/fake-io.js";
import { missingBinaries } from "../helpers/testenv.js";

interface Doc {
  kind: string;
  type: string;
  chains: InspectedChain[];
  request: InspectedRequest | null;
}

const skip = missingBinaries("openssl");
const work = mkdtempSync(join(tmpdir(), "kpki-inspect-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const at = (...p: string[]): string => join(work, ...p);

async function kpki(args: string[], now?: Date) {
  const f = fakeIo(now ? { now: () => now } : {});
  const code = await run(args, f.io);
  return { code, stdout: f.stdout(), stderr: f.stderr() };
}
async function inspectJson(args: string[], now?: Date): Promise<{ code: number; doc: Doc; stderr: string }> {
  const r = await kpki(["inspect", ...args, "-o", "json"], now);
  return { code: r.code, doc: JSON.parse(r.stdout || "null") as Doc, stderr: r.stderr };
}
const openssl = (...args: string[]): string => execFileSync("openssl", args, { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });

// ---------------------------------------------------------------------------------------------
// openssl's reading, mapped onto kpki's field values:
// - subject/issuer: `-nameopt sep_comma_plus_space,sname,utf8` prints `O=a + O=b, CN=c`, kpki's form.
// - serial: both upper-case hex of the INTEGER's bytes.
// - notBefore/notAfter: openssl's `Nov 30 02:02:46 2026 GMT` and kpki's RFC 3339 `2026-11-30T02:02:46Z`, compared as instants.
// - SANs: openssl's `DNS:x`, `IP Address:x`, `email:x`, `URI:x` become kpki's dns/ip/email/uri lists;
//   IPv6 is compared after expanding both (openssl prints 0:0:0:0:0:0:0:1, kpki ::1).
// - key usage / EKU: openssl's long names (Digital Signature, TLS Web Server Authentication) map to
//   RFC 5280's identifiers, which kpki prints (digitalSignature, serverAuth).
// - basic constraints: openssl's `CA:TRUE, pathlen:1` is kpki's text form, and its JSON {ca, pathLen}.
// - SKI/AKI and the SHA-256 fingerprint: both colon-separated upper-case hex (openssl 1.1 prefixes AKI with `keyid:`).

const KU: Record<string, string> = {
  "Digital Signature": "digitalSignature",
  "Non Repudiation": "contentCommitment",
  "Key Encipherment": "keyEncipherment",
  "Data Encipherment": "dataEncipherment",
  "Key Agreement": "keyAgreement",
  "Certificate Sign": "keyCertSign",
  "CRL Sign": "cRLSign",
  "Encipher Only": "encipherOnly",
  "Decipher Only": "decipherOnly",
};
const EKU: Record<string, string> = {
  "TLS Web Server Authentication": "serverAuth",
  "TLS Web Client Authentication": "clientAuth",
  "Code Signing": "codeSigning",
  "E-mail Protection": "emailProtection",
};

function expandIp(ip: string): string {
  if (!ip.includes(":")) return ip;
  const [head = "", tail] = ip.split("::");
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  return groups.map((g) => parseInt(g, 16).toString(16)).join(":");
}

interface Comparable {
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  sans: { dns: string[]; ip: string[]; email: string[]; uri: string[] };
  keyUsage: string[];
  extKeyUsage: string[];
  basicConstraints: string;
  ski: string;
  aki: string;
  sha256: string;
}

/** openssl's fields of one PEM or DER certificate file. */
function opensslFields(file: string, inform: "PEM" | "DER" = "PEM"): Comparable {
  const out = openssl("x509", "-inform", inform, "-in", file, "-noout", "-subject", "-issuer", "-serial", "-dates",
    "-ext", "subjectAltName,keyUsage,extendedKeyUsage,basicConstraints,subjectKeyIdentifier,authorityKeyIdentifier",
    "-fingerprint", "-sha256", "-nameopt", "sep_comma_plus_space,sname,utf8");
  const line = (key: string): string => new RegExp(`^${key}=(.*)$`, "m").exec(out)?.[1] ?? "";
  const ext = (name: string): string => new RegExp(`^X509v3 ${name}:.*\\n\\s+(.*)$`, "m").exec(out)?.[1]?.trim() ?? "";
  const sans = { dns: [] as string[], ip: [] as string[], email: [] as string[], uri: [] as string[] };
  for (const s of ext("Subject Alternative Name").split(", ").filter(Boolean)) {
    if (s.startsWith("DNS:")) sans.dns.push(s.slice(4));
    else if (s.startsWith("IP Address:")) sans.ip.push(expandIp(s.slice(11)));
    else if (s.startsWith("email:")) sans.email.push(s.slice(6));
    else if (s.startsWith("URI:")) sans.uri.push(s.slice(4));
  }
  const names = (text: string, map: Record<string, string>): string[] => text.split(", ").filter(Boolean).map((n) => map[n] ?? n);
  return {
    subject: line("subject"),
    issuer: line("issuer"),
    serial: line("serial"),
    notBefore: new Date(line("notBefore")).toISOString(),
    notAfter: new Date(line("notAfter")).toISOString(),
    sans,
    keyUsage: names(ext("Key Usage"), KU),
    extKeyUsage: names(ext("Extended Key Usage"), EKU),
    basicConstraints: ext("Basic Constraints") || "-",
    ski: ext("Subject Key Identifier") || "-",
    aki: ext("Authority Key Identifier").replace(/^keyid:/, "") || "-",
    sha256: /^sha256 Fingerprint=(.*)$/m.exec(out)?.[1] ?? "",
  };
}

/** kpki's JSON fields of one certificate, in the same shape. */
function kpkiFields(c: InspectedCertificate): Comparable {
  const b = c.basicConstraints;
  return {
    subject: c.subject,
    issuer: c.issuer,
    serial: c.serialNumber,
    notBefore: new Date(c.notBefore).toISOString(),
    notAfter: new Date(c.notAfter).toISOString(),
    sans: { dns: [...c.subjectAltNames.dns], ip: c.subjectAltNames.ip.map(expandIp), email: [...c.subjectAltNames.email], uri: [...c.subjectAltNames.uri] },
    keyUsage: [...c.keyUsage],
    extKeyUsage: [...c.extendedKeyUsage],
    basicConstraints: b === null ? "-" : `CA:${b.ca ? "TRUE" : "FALSE"}${b.pathLen !== null ? `, pathlen:${b.pathLen}` : ""}`,
    ski: c.subjectKeyId ?? "-",
    aki: c.authorityKeyId ?? "-",
    sha256: c.sha256Fingerprint,
  };
}

/** Splits a PEM bundle into one file per certificate (openssl x509 reads only the first). */
function splitBundle(file: string): string[] {
  const blocks = readFileSync(file, "utf8").match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];
  return blocks.map((b, i) => {
    const out = `${file}.part${i + 1}.pem`;
    writeFileSync(out, b);
    return out;
  });
}

// ---------------------------------------------------------------------------------------------

describe.skipIf(skip)("kpki inspect", () => {
  const rsa = at("rsa"); // kpki init, RSA-2048 (kubeadm's default)
  const ec = at("ec"); // kpki init, ECDSA-P256
  const o = at("openssl");

  beforeAll(async () => {
    expect((await kpki(["init", "--dir", rsa, "--node-name", "cp-1", "--apiserver-advertise-address", "10.0.0.5", "--apiserver-cert-extra-sans", "2001:db8::7,api.example.com"])).code).toBe(0);
    expect((await kpki(["init", "--dir", ec, "--node-name", "cp-2", "--apiserver-advertise-address", "10.0.0.6", "--encryption-algorithm", "ECDSA-P256"])).code).toBe(0);
    // openssl: an EC P-384 root (pathlen 1), an RSA-3072 intermediate (pathlen 0), a P-256 leaf
    // with every SAN kind kpki lists, a bundle of the three, the leaf as DER, a 1-day certificate
    // (expired when inspected two days later), and CSRs.
    execFileSync("mkdir", ["-p", o]);
    const sh = (script: string): void => void execFileSync("sh", ["-ec", script], { cwd: o, stdio: "pipe" });
    sh(`
      openssl ecparam -name secp384r1 -genkey -noout -out root.key
      openssl req -x509 -new -key root.key -subj "/C=DE/O=Example/OU=PKI/CN=Example Root" -days 3650 -sha384 -out root.crt \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:1" -addext "keyUsage=critical,keyCertSign,cRLSign"
      openssl genrsa -out int.key 3072 2>/dev/null
      openssl req -new -key int.key -subj "/O=Example/CN=Example Intermediate" -out int.csr
      printf 'basicConstraints=critical,CA:TRUE,pathlen:0\\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\\nsubjectKeyIdentifier=hash\\nauthorityKeyIdentifier=keyid\\n' > int.ext
      openssl x509 -req -in int.csr -CA root.crt -CAkey root.key -CAcreateserial -days 1825 -sha256 -extfile int.ext -out int.crt 2>/dev/null
      openssl ecparam -name prime256v1 -genkey -noout -out leaf.key
      printf '[req]\\ndistinguished_name=dn\\nreq_extensions=ext\\n[dn]\\n[ext]\\nsubjectAltName=DNS:www.example.com,DNS:example.com,IP:192.0.2.9,IP:2001:db8::1,email:ops@example.com,URI:spiffe://example.com/web\\nkeyUsage=critical,digitalSignature\\nextendedKeyUsage=serverAuth,clientAuth\\nbasicConstraints=CA:FALSE\\n' > leaf.cnf
      openssl req -new -key leaf.key -subj "/O=Example+O=Web/CN=www.example.com" -multivalue-rdn -config leaf.cnf -out leaf.csr
      openssl x509 -req -in leaf.csr -CA int.crt -CAkey int.key -CAcreateserial -days 90 -sha256 -copy_extensions copy -out leaf.crt 2>/dev/null
      cat leaf.crt int.crt root.crt > bundle.pem
      cat root.crt leaf.crt int.crt > unordered.pem
      openssl x509 -in leaf.crt -outform DER -out leaf.der
      openssl req -x509 -new -key leaf.key -subj "/CN=short-lived" -days 1 -out short.crt
      openssl req -in leaf.csr -outform DER -out leaf.csr.der
    `);
  }, 120_000);

  it("shows every certificate of a bundle, each checked against the next, with fields equal to openssl's", async () => {
    const { code, doc } = await inspectJson([join(o, "bundle.pem")], new Date());
    expect(code).toBe(0);
    expect(doc.kind).toBe("Inspection");
    expect(doc.type).toBe("certificates");
    const [chain] = doc.chains;
    expect(chain?.verified).toBe(true);
    expect(chain?.certificates.map((c) => [c.chainPosition, c.chainLength, c.verification])).toEqual([[1, 3, "next"], [2, 3, "next"], [3, 3, "self-signed"]]);
    const parts = splitBundle(join(o, "bundle.pem"));
    chain?.certificates.forEach((c, i) => expect(kpkiFields(c), parts[i]).toEqual(opensslFields(parts[i]!)));
    const [leaf, int, root] = chain!.certificates;
    expect(leaf?.subject).toBe("O=Web + O=Example, CN=www.example.com"); // one RDN, its SET sorted as DER (the shorter value first), as openssl prints it
    expect(leaf?.subjectAltNames).toEqual({ dns: ["www.example.com", "example.com"], ip: ["192.0.2.9", "2001:db8::1"], email: ["ops@example.com"], uri: ["spiffe://example.com/web"], other: [] });
    expect(leaf?.publicKey).toEqual({ algorithm: "ECDSA", size: 256, curve: "P-256" });
    expect(int?.publicKey).toEqual({ algorithm: "RSA", size: 3072, curve: null });
    expect(root?.publicKey).toEqual({ algorithm: "ECDSA", size: 384, curve: "P-384" });
    expect([int?.basicConstraints, root?.basicConstraints, leaf?.basicConstraints]).toEqual([{ ca: true, pathLen: 0 }, { ca: true, pathLen: 1 }, { ca: false, pathLen: null }]);
    expect(leaf?.privateKey).toBeNull(); // no bundle.key beside it
    expect(leaf?.kubeadmRole).toBeNull();
  });

  it("every certificate kpki init writes (RSA and ECDSA) and the kubeconfigs' ones equal openssl's, with their kubeadm role", async () => {
    const roles: Record<string, string> = {
      "pki/ca.crt": "kubeadm ca",
      "pki/apiserver.crt": "kubeadm apiserver (serving)",
      "pki/apiserver-kubelet-client.crt": "kubeadm apiserver-kubelet-client (client)",
      "pki/front-proxy-ca.crt": "kubeadm front-proxy-ca",
      "pki/front-proxy-client.crt": "kubeadm front-proxy-client (client)",
      "pki/etcd/ca.crt": "kubeadm etcd-ca",
      "pki/etcd/server.crt": "kubeadm etcd-server (serving, client)",
      "pki/etcd/peer.crt": "kubeadm etcd-peer (serving, client)",
      "pki/etcd/healthcheck-client.crt": "kubeadm etcd-healthcheck-client (client)",
      "pki/apiserver-etcd-client.crt": "kubeadm apiserver-etcd-client (client)",
    };
    for (const dir of [rsa, ec]) {
      for (const [file, role] of Object.entries(roles)) {
        const { code, doc } = await inspectJson([join(dir, file)]);
        expect(code, file).toBe(0);
        const c = doc.chains[0]!.certificates[0]!;
        expect(kpkiFields(c), file).toEqual(opensslFields(join(dir, file)));
        expect([c.kubeadmRole, c.privateKey?.status], file).toEqual([role, "match"]);
        expect(c.publicKey, file).toEqual(dir === rsa ? { algorithm: "RSA", size: 2048, curve: null } : { algorithm: "ECDSA", size: 256, curve: "P-256" });
      }
    }
    const api = (await inspectJson([join(rsa, "pki/apiserver.crt")])).doc.chains[0]!.certificates[0]!;
    expect(api.subjectAltNames.ip).toEqual(["10.96.0.1", "10.0.0.5", "2001:db8::7"]);
    expect(api.daysLeft).toBe(365);

    const kc = await inspectJson([join(rsa, "admin.conf")]);
    expect(kc.code).toBe(0);
    expect(kc.doc.type).toBe("kubeconfig");
    expect(kc.doc.chains.map((c) => [c.source, c.verified, c.certificates[0]?.verification, c.certificates[0]?.kubeadmRole])).toEqual([
      [`${join(rsa, "admin.conf")} user kubernetes-admin`, true, "issuer found", "kubeadm admin.conf (client)"],
      [`${join(rsa, "admin.conf")} cluster kubernetes CA`, true, "self-signed", "kubeadm ca"],
    ]);
    const user = kc.doc.chains[0]!.certificates[0]!;
    expect(user.signedBy).toBe(`${join(rsa, "admin.conf")} cluster kubernetes CA`);
    expect(user.privateKey?.status).toBe("match");
    const conf = parse(readFileSync(join(rsa, "admin.conf"), "utf8")) as { users: { user: Record<string, string> }[] };
    writeFileSync(at("admin-client.crt"), Buffer.from(conf.users[0]!.user["client-certificate-data"]!, "base64"));
    expect(kpkiFields(user)).toEqual(opensslFields(at("admin-client.crt")));
    const kubelet = await inspectJson([join(rsa, "kubelet.conf")]);
    expect(kubelet.doc.chains[0]?.certificates[0]?.kubeadmRole).toBe("kubeadm kubelet.conf (client)");
  });

  it("reads DER, names an expired certificate, and text, --short and YAML show the same certificate", async () => {
    const der = await inspectJson([join(o, "leaf.der")], new Date());
    expect(der.code).toBe(0);
    expect(kpkiFields(der.doc.chains[0]!.certificates[0]!)).toEqual(opensslFields(join(o, "leaf.der"), "DER"));
    expect(der.doc.chains[0]?.certificates[0]?.verification).toBe("unknown issuer");

    const later = new Date(Date.now() + 3 * 86_400_000);
    const expired = await inspectJson([join(o, "short.crt")], later);
    const c = expired.doc.chains[0]!.certificates[0]!;
    expect([expired.code, c.status, c.daysLeft < 0, c.verification]).toEqual([0, "EXPIRED", true, "self-signed"]);
    expect(kpkiFields(c)).toEqual(opensslFields(join(o, "short.crt")));
    const text = await kpki(["inspect", join(o, "short.crt")], later);
    expect(text.stdout).toMatch(/Not after: {6}\S+Z \(expired \d+ days ago\)\n {2}Status: {9}EXPIRED\n/);

    const short = await kpki(["inspect", join(o, "bundle.pem"), "--short"], new Date());
    expect(short.stdout.split("\n").filter(Boolean)).toHaveLength(3);
    expect(short.stdout).toContain(`${join(o, "bundle.pem")}#1  O=Web + O=Example, CN=www.example.com  issuer=O=Example, CN=Example Intermediate  notAfter=`);
    const yaml = await kpki(["inspect", join(o, "bundle.pem"), "-o", "yaml"], new Date());
    const json = await kpki(["inspect", join(o, "bundle.pem"), "-o", "json"], new Date());
    expect(parse(yaml.stdout)).toEqual(JSON.parse(json.stdout));
  });

  it("a bundle out of order does not verify; --verify makes that exit 1", async () => {
    const r = await inspectJson([join(o, "unordered.pem")], new Date());
    expect(r.code).toBe(0);
    expect(r.doc.chains[0]?.verified).toBe(false);
    expect(r.doc.chains[0]?.certificates.map((c) => c.verification)).toEqual(["not signed by next", "next", "issuer found"]);
    const v = await kpki(["inspect", join(o, "unordered.pem"), "--verify"], new Date());
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^error: chain .*unordered\.pem does not verify: #1 \(C=DE, O=Example, OU=PKI, CN=Example Root\) is not signed by #2/);
    expect((await kpki(["inspect", join(o, "bundle.pem"), "--verify"], new Date())).code).toBe(0);
  });

  it("a CSR: subject, SANs, key, requested extensions, signature and canonical form; a broken signature fails --verify", async () => {
    const r = await inspectJson([join(o, "leaf.csr")]);
    expect(r.code).toBe(0);
    expect(r.doc.type).toBe("csr");
    const q = r.doc.request!;
    const subject = openssl("req", "-in", join(o, "leaf.csr"), "-noout", "-subject", "-nameopt", "sep_comma_plus_space,sname,utf8").trim();
    expect(`subject=${q.subject}`).toBe(subject);
    expect(q.subjectAltNames).toEqual({ dns: ["www.example.com", "example.com"], ip: ["192.0.2.9", "2001:db8::1"], email: ["ops@example.com"], uri: ["spiffe://example.com/web"], other: [] });
    expect(q.publicKey).toEqual({ algorithm: "ECDSA", size: 256, curve: "P-256" });
    expect(q.requestedExtensions).toEqual([{ name: "subjectAltName", critical: false }, { name: "keyUsage", critical: true }, { name: "extKeyUsage", critical: false }, { name: "basicConstraints", critical: false }]);
    expect([q.keyUsage, q.extendedKeyUsage, q.basicConstraints]).toEqual([["digitalSignature"], ["serverAuth", "clientAuth"], { ca: false, pathLen: null }]);
    expect([q.signatureValid, q.signatureAlgorithm]).toEqual([true, "ecdsa-with-SHA256"]);
    // openssl prints its verdict on stderr.
    expect(execFileSync("sh", ["-c", 'openssl req -in "$1" -noout -verify 2>&1', "sh", join(o, "leaf.csr")], { encoding: "utf8" })).toMatch(/verify OK/);
    // openssl writes the canonical DER the approver's strict reader asks for.
    expect([q.canonical, q.canonicalError]).toEqual([true, null]);
    const der = await inspectJson([join(o, "leaf.csr.der")]);
    expect(der.doc.request).toEqual(q);

    // kpki's own CSR (certs generate-csr) is canonical too; flip a bit of its signature.
    expect((await kpki(["certs", "generate-csr", "--dir", at("gen"), "--node-name", "cp-1", "--apiserver-advertise-address", "10.0.0.5", "--encryption-algorithm", "ECDSA-P256"])).code).toBe(0);
    const csrDer = Buffer.from(readFileSync(at("gen/pki/apiserver.csr"), "utf8").replace(/-----[^-]+-----|\s/g, ""), "base64");
    csrDer[csrDer.length - 5]! ^= 0x01;
    writeFileSync(at("broken.csr"), `-----BEGIN CERTIFICATE REQUEST-----\n${csrDer.toString("base64").replace(/.{64}/g, "$&\n")}\n-----END CERTIFICATE REQUEST-----\n`);
    const broken = await kpki(["inspect", at("broken.csr"), "--verify"]);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain("  Signature:      ecdsa-with-SHA256, DOES NOT VERIFY\n");
    expect(broken.stderr).toBe(`error: ${at("broken.csr")}: the request's signature does not verify\n`);
    const good = await kpki(["inspect", at("gen/pki/apiserver.csr")]);
    expect(good.stdout).toContain("  Canonical:      yes (the approver's strict reader accepts it)\n");
  });

  it("errors: a missing file, a key, garbage; usage: no input", async () => {
    const missing = await kpki(["inspect", at("nope.crt")]);
    expect([missing.code, missing.stderr]).toEqual([1, `error: ${at("nope.crt")}: no such file (and not HOST:PORT)\n`]);
    const key = await kpki(["inspect", join(o, "leaf.key")]);
    expect([key.code, key.stderr]).toEqual([1, `error: ${join(o, "leaf.key")}: holds a private key (EC PRIVATE KEY), not a certificate\n`]);
    writeFileSync(at("garbage.txt"), "hello\n");
    expect((await kpki(["inspect", at("garbage.txt")])).stderr).toBe(`error: ${at("garbage.txt")}: neither PEM, DER nor a kubeconfig\n`);
    expect((await kpki(["inspect"])).code).toBe(2);
  });

  describe("HOST:PORT", () => {
    let server: Server;
    let port = 0;
    beforeAll(async () => {
      // kube-apiserver's way: the serving certificate alone, the CA known to clients.
      server = createServer({ key: readFileSync(join(ec, "pki/apiserver.key")), cert: readFileSync(join(ec, "pki/apiserver.crt")) }, (s) => s.end());
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(async () => new Promise<void>((resolve) => server.close(() => resolve())));

    it("shows the chain the server sends, trusted by --ca ca.crt and not by another CA", async () => {
      const r = await inspectJson([`127.0.0.1:${port}`, "--ca", join(ec, "pki/ca.crt"), "--verify"]);
      expect(r.code).toBe(0);
      expect(r.doc.type).toBe("tls");
      const [chain] = r.doc.chains;
      expect([chain?.source, chain?.verified, chain?.trusted]).toEqual([`127.0.0.1:${port}`, true, true]);
      const c = chain!.certificates[0]!;
      expect([c.verification, c.signedBy, c.kubeadmRole]).toEqual(["issuer found", "--ca #1", "kubeadm apiserver (serving)"]);
      expect(kpkiFields(c)).toEqual(opensslFields(join(ec, "pki/apiserver.crt")));

      const other = await kpki(["inspect", `127.0.0.1:${port}`, "--ca", join(ec, "pki/front-proxy-ca.crt"), "--verify"]);
      expect(other.code).toBe(1);
      expect(other.stdout).toContain(`Chain 127.0.0.1:${port}: verified (1 certificate, NOT trusted by --ca)`);
      expect(other.stderr).toBe(`error: chain 127.0.0.1:${port} is not trusted by --ca ${join(ec, "pki/front-proxy-ca.crt")}\n`);
      const noCa = await kpki(["inspect", `127.0.0.1:${port}`, "--short"]);
      expect([noCa.code, noCa.stdout]).toEqual([0, expect.stringContaining(`127.0.0.1:${port}#1  CN=kube-apiserver  issuer=CN=kubernetes  notAfter=`)]);
    });

    it("a port nobody listens on is an error", async () => {
      const closed = createServer({});
      await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
      const free = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const r = await kpki(["inspect", `127.0.0.1:${free}`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^error: TLS connection to 127\\.0\\.0\\.1:${free} failed: .*ECONNREFUSED`));
    });
  });
});

describe("kpki inspect on a request that is not canonical DER", () => {
  it("the SAN-smuggling Extension (a second OCTET STRING): canonical false with the strict reader's reason, in JSON and in text", async () => {
    // As test/cli/refusals.test.ts builds it for certs sign: extnValue, then a second OCTET STRING.
    const evil = sanValue(dnsName("kubernetes.default.svc"));
    const own = sanValue(dnsName("web.example.com"));
    writeFileSync(at("smuggled.csr"), buildCsr(testKey("ec"), { attributes: extensionRequest(extension(OIDS.san, octetString(evil), octetString(own))) }).pem);
    const r = await inspectJson([at("smuggled.csr")]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.doc.type).toBe("csr");
    const q = r.doc.request!;
    expect(q.canonical).toBe(false);
    expect(q.canonicalError).toMatch(/unexpected OCTET STRING after the last element of an Extension/);
    // Its own signature is fine: only the encoding is refused.
    expect(q.signatureValid).toBe(true);
    const text = await kpki(["inspect", at("smuggled.csr")]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^ {2}Canonical: {6}no: .*unexpected OCTET STRING after the last element of an Extension.*$/m);
    expect(text.stdout).toContain(`  Canonical:      no: ${q.canonicalError}\n`);
  });
});
