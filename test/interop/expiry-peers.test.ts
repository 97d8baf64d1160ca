import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missingBinaries } from "../helpers/testenv.js";
import { opensslDocsRecipe, sh } from "../helpers/docs-recipes.js";

const run = promisify(execFile);
const EASYRSA = "/usr/share/easy-rsa/easyrsa";
const skip = missingBinaries("openssl", "cfssl", "cfssljson") ?? (() => {
  try {
    execFileSync(EASYRSA, ["--version"], { stdio: "ignore" });
    return undefined;
  } catch {
    return missingBinaries("easyrsa");
  }
})();
const work = mkdtempSync(join(tmpdir(), "kpki-peers-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));


/** `openssl x509 -enddate` of one file, as a Date. */
async function opensslEnd(file: string): Promise<string> {
  const { stdout } = await run("openssl", ["x509", "-noout", "-enddate", "-in", file]);
  return new Date(stdout.trim().replace(/^notAfter=/, "")).toISOString().replace(".000Z", "Z");
}

interface Row { name: string; path: string; expirationDate: string | null; chain: string; key: string; status: string }
/** The scan's rows; with --verify (signatures checked), kubeadm's own files are looked for in an empty folder and left out. */
async function kpkiScan(dir: string, verify = false): Promise<Row[]> {
  const extra = verify ? ["--verify", "--dir", join(work, "no-cluster")] : [];
  const r = await run(process.execPath, ["dist/bin/kpki.js", "certs", "check-expiration", "--no-kubeadm", "--scan", dir, "-o", "json", ...extra])
    .catch((e: { stdout: string }) => e);
  return (JSON.parse(r.stdout) as { additionalCertificates: Row[] }).additionalCertificates.filter((row) => row.name.startsWith(dir));
}

describe.skipIf(skip)("expiry dates kpki reports equal openssl's for PKIs made by other tools", () => {
  beforeAll(() => {
    // kpki's own kubeadm layout
    execFileSync(process.execPath, ["dist/bin/kpki.js", "init", "--dir", join(work, "kpki"), "--node-name", "n1", "--apiserver-advertise-address", "192.0.2.1"]);
    // openssl, as in the Kubernetes docs' "Certificates" page (openssl section)
    const o = join(work, "openssl");
    mkdirSync(o);
    opensslDocsRecipe(o, { cn: "10.0.0.1", dnsNames: ["kubernetes", "kubernetes.default"], ips: ["10.0.0.1"] });
    sh(`# an expired certificate (openssl ca can backdate)
: > index.txt; echo 01 > serial
cat > c.cnf <<'EOF2'
[ca]
default_ca = x
[x]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = p
unique_subject = no
x509_extensions = ext
[p]
commonName = supplied
organizationName = optional
[ext]
basicConstraints = critical,CA:FALSE
extendedKeyUsage = clientAuth
EOF2
openssl req -new -key server.key -subj "/O=system:masters/CN=old-admin" -out old.csr
openssl ca -batch -config c.cnf -cert ca.crt -keyfile ca.key -in old.csr -startdate 20200101000000Z -enddate 20200102000000Z -notext -out old.crt 2>/dev/null
rm -f old.csr index.txt* serial* c.cnf 01.pem`, o);
    // cfssl, as in the same page (pitfall P1: CA and leaf share a DN)
    const c = join(work, "cfssl");
    mkdirSync(c);
    writeFileSync(join(c, "ca-config.json"), JSON.stringify({ signing: { default: { expiry: "8760h" }, profiles: { kubernetes: { usages: ["signing", "key encipherment", "server auth", "client auth"], expiry: "8760h" } } } }));
    const names = [{ C: "US", ST: "CA", L: "SF", O: "k8s-test", OU: "pki" }];
    writeFileSync(join(c, "ca-csr.json"), JSON.stringify({ CN: "kubernetes", key: { algo: "rsa", size: 2048 }, names }));
    writeFileSync(join(c, "server-csr.json"), JSON.stringify({ CN: "kubernetes", key: { algo: "ecdsa", size: 256 }, names, hosts: ["127.0.0.1", "10.96.0.1", "kubernetes", "kubernetes.default"] }));
    sh(`cfssl gencert -initca ca-csr.json 2>/dev/null | cfssljson -bare ca
cfssl gencert -ca=ca.pem -ca-key=ca-key.pem -config=ca-config.json -profile=kubernetes server-csr.json 2>/dev/null | cfssljson -bare server
rm -f *.json *.csr`, c);
    // easy-rsa 3 with --batch (P2), its issued/*.crt begins with `openssl x509 -text` output (P8)
    const e = join(work, "easyrsa");
    mkdirSync(e);
    sh(`${EASYRSA} init-pki >/dev/null 2>&1
${EASYRSA} --batch "--req-cn=127.0.0.1@1700000000" build-ca nopass >/dev/null 2>&1
${EASYRSA} --batch --subject-alt-name="IP:127.0.0.1,DNS:kubernetes" --days=10000 build-server-full server nopass >/dev/null 2>&1`, e, { EASYRSA_PKI: join(e, "pki") });
  });

  it.each(["kpki", "openssl", "cfssl", "easyrsa"])("%s: every certificate's expiry equals openssl x509 -enddate", async (tool) => {
    const rows = await kpkiScan(join(work, tool));
    const certs = rows.filter((r) => r.expirationDate !== null);
    expect(certs.length).toBeGreaterThanOrEqual(2);
    for (const r of certs) {
      if (r.name.includes("#")) continue; // bundles: openssl reads only the first certificate
      expect(r.expirationDate, r.name).toBe(await opensslEnd(r.path));
    }
    expect(rows.filter((r) => r.status === "INVALID")).toEqual([]);
  });

  it("the checks see each tool's layout: keys beside certificates, chains (by names, then by signatures), the expired fixture", async () => {
    const byName = (rows: Row[]) => Object.fromEntries(rows.map((r) => [r.name.slice(work.length + 1), r]));
    for (const verify of [false, true]) {
      // Without --verify the issuer is found by names and key identifiers; with it, by signatures.
      const [ok, selfSigned] = verify ? ["ok", "self-signed"] : ["linked", "self-issued"];
      const o = byName(await kpkiScan(join(work, "openssl"), verify));
      expect(o["openssl/server.crt"]).toMatchObject({ chain: ok, key: "match", status: "OK" });
      expect(o["openssl/old.crt"]).toMatchObject({ chain: ok, status: "EXPIRED" });
      const c = byName(await kpkiScan(join(work, "cfssl"), verify));
      // Same DN as the CA: still chained to the CA (by key identifiers, or by signature), not mistaken for self-issued.
      expect(c["cfssl/server.pem"]).toMatchObject({ chain: ok, key: "match" });
      expect(c["cfssl/ca.pem"]).toMatchObject({ chain: selfSigned, key: "match" });
      const e = byName(await kpkiScan(join(work, "easyrsa"), verify));
      expect(e["easyrsa/pki/issued/server.crt"]).toMatchObject({ chain: ok, key: "match" });
      expect(e["easyrsa/pki/ca.crt"]).toMatchObject({ chain: selfSigned, key: "match" });
      const k = byName(await kpkiScan(join(work, "kpki"), verify));
      expect(Object.values(k).filter((r) => r.chain !== ok && r.chain !== selfSigned)).toEqual([]);
    }
    expect(readFileSync(join(work, "easyrsa/pki/issued/server.crt"), "utf8")).toMatch(/^Certificate:/); // the P8 layout really is there
  });
});
