import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { scanPaths } from "../../src/io/scan.js";
import { fakeIo } from "../helpers/fake-io.js";
import { T0 } from "../helpers/clock.js";

const work = mkdtempSync(join(tmpdir(), "kpki-scan-verify-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function kpki(args: string[]) {
  const f = fakeIo({ now: () => T0 });
  const code = await run(args, f.io);
  return { code, stdout: f.stdout(), stderr: f.stderr() };
}

type Row = Record<string, unknown>;
/** The scan's rows (kubeadm's own files, which --verify adds, are left out: `--dir` names an empty folder). */
async function scan(dir: string, ...extra: string[]): Promise<{ code: number; rows: Row[]; stderr: string }> {
  const r = await kpki(["certs", "check-expiration", "--no-kubeadm", "--dir", join(work, "no-cluster"), "-o", "json", "--scan", dir, ...extra]);
  const rows = (JSON.parse(r.stdout) as { additionalCertificates: Row[] }).additionalCertificates.filter((x) => String(x["name"]).startsWith(dir));
  return { code: r.code, rows, stderr: r.stderr };
}

const cluster = join(work, "cluster");
await kpki(["init", "phase", "certs", "all", "--dir", cluster, "--encryption-algorithm", "ECDSA-P256"]);
const rsaCluster = join(work, "rsa");
await kpki(["init", "phase", "certs", "all", "--dir", rsaCluster]);
const other = join(work, "other");
await kpki(["init", "phase", "certs", "all", "--dir", other, "--encryption-algorithm", "ECDSA-P256"]);

/** A PEM certificate with one byte of its signature changed (names and key identifiers intact). */
function tampered(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
  der[der.length - 5]! ^= 0x01;
  return `-----BEGIN CERTIFICATE-----\n${der.toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
}

describe("check-expiration --scan: what the default report checks, and what --verify adds", () => {
  it("a good tree: the same rows, in the same order, whether signatures are checked or not; only the CHAIN wording differs", async () => {
    for (const pki of [join(cluster, "pki"), join(rsaCluster, "pki")]) {
      const plain = await scan(pki);
      const verified = await scan(pki, "--verify");
      expect(plain.code).toBe(0);
      expect(verified.code).toBe(0);
      expect(plain.rows.length).toBe(verified.rows.length);
      expect(plain.rows.length).toBeGreaterThanOrEqual(10);
      const byName = { linked: "ok", "self-issued": "self-signed", "unknown issuer": "unknown issuer" } as const;
      expect(plain.rows.map((r) => ({ ...r, chain: byName[r["chain"] as keyof typeof byName] }))).toEqual(verified.rows);
      // Rows come in the scan's order (each folder sorted by name), one per certificate file.
      const order = (await scanPaths([pki])).flatMap((e) => ("error" in e || !e.path.endsWith(".crt") ? [] : [e.path]));
      expect(plain.rows.map((r) => r["name"])).toEqual(order);
      expect(plain.rows.find((r) => r["name"] === `${pki}/apiserver.crt`)).toMatchObject({ chain: "linked", chainIssuer: `${pki}/ca.crt`, key: "match", status: "OK" });
      expect(plain.rows.find((r) => r["name"] === `${pki}/ca.crt`)).toMatchObject({ chain: "self-issued", key: "match" });
      expect(verified.rows.find((r) => r["name"] === `${pki}/apiserver.crt`)).toMatchObject({ chain: "ok", chainIssuer: `${pki}/ca.crt` });
    }
  });

  it("a changed signature: the default report says only that the issuer was found by name (linked, OK); --verify reports a bad signature (INVALID, exit 1)", async () => {
    const d = join(work, "tampered");
    mkdirSync(d);
    writeFileSync(join(d, "ca.crt"), readFileSync(join(cluster, "pki/ca.crt")));
    writeFileSync(join(d, "leaf.crt"), tampered(readFileSync(join(cluster, "pki/apiserver.crt"), "utf8")));
    const plain = await scan(d);
    expect(plain.code).toBe(0);
    expect(plain.rows.find((r) => r["name"] === `${d}/leaf.crt`)).toMatchObject({ chain: "linked", chainIssuer: `${d}/ca.crt`, status: "OK" });
    const verified = await scan(d, "--verify");
    expect(verified.code).toBe(1);
    expect(verified.rows.find((r) => r["name"] === `${d}/leaf.crt`)).toMatchObject({ chain: "bad signature", status: "INVALID", error: "signature does not verify with the issuer found" });
    expect(verified.rows.find((r) => r["name"] === `${d}/ca.crt`)).toMatchObject({ chain: "self-signed", status: "OK" });
    expect(verified.stderr).toBe(`error: ${d}/leaf.crt: signature does not verify with the issuer found\n`);
    // A self-signed CA whose own signature was changed.
    const root = join(work, "tampered-root");
    mkdirSync(root);
    writeFileSync(join(root, "ca.crt"), tampered(readFileSync(join(cluster, "pki/ca.crt"), "utf8")));
    expect((await scan(root)).rows[0]).toMatchObject({ chain: "self-issued", status: "OK" });
    expect((await scan(root, "--verify")).rows[0]).toMatchObject({ chain: "bad signature", status: "INVALID" });
  });

  it("an issuer with the right name but another key: unknown issuer by key identifiers, bad signature with --verify", async () => {
    const d = join(work, "other-ca");
    mkdirSync(d);
    writeFileSync(join(d, "ca.crt"), readFileSync(join(cluster, "pki/ca.crt")));
    writeFileSync(join(d, "leaf.crt"), readFileSync(join(other, "pki/apiserver.crt")));
    expect((await scan(d)).rows.find((r) => r["name"] === `${d}/leaf.crt`)).toMatchObject({ chain: "unknown issuer", status: "OK" });
    expect((await scan(d, "--verify")).rows.find((r) => r["name"] === `${d}/leaf.crt`)).toMatchObject({ chain: "bad signature", status: "INVALID" });
  });

  it("--verify finds an issuer read after the certificates it signed", async () => {
    const d = join(work, "late-ca");
    mkdirSync(d);
    writeFileSync(join(d, "a-leaf.crt"), readFileSync(join(cluster, "pki/apiserver.crt")));
    writeFileSync(join(d, "b-leaf.crt"), readFileSync(join(cluster, "pki/apiserver-kubelet-client.crt")));
    writeFileSync(join(d, "z-ca.crt"), readFileSync(join(cluster, "pki/ca.crt")));
    const verified = await scan(d, "--verify");
    expect(verified.rows.map((r) => [r["name"], r["chain"], r["chainIssuer"]])).toEqual([
      [`${d}/a-leaf.crt`, "ok", `${d}/z-ca.crt`],
      [`${d}/b-leaf.crt`, "ok", `${d}/z-ca.crt`],
      [`${d}/z-ca.crt`, "self-signed", undefined],
    ]);
    expect((await scan(d)).rows.map((r) => r["chain"])).toEqual(["linked", "linked", "self-issued"]);
  });

  it("the text table and the JSON say the same of every row", async () => {
    const pki = join(cluster, "pki");
    for (const extra of [[], ["--verify"]]) {
      const json = await scan(pki, ...extra);
      const text = await kpki(["certs", "check-expiration", "--no-kubeadm", "--dir", join(work, "no-cluster"), "--scan", pki, ...extra]);
      const lines = text.stdout.trim().split("\n").slice(1).filter((l) => l.startsWith(pki));
      expect(lines).toHaveLength(json.rows.length);
      lines.forEach((line, i) => {
        const r = json.rows[i]!;
        const cells = line.split(/ {3,}/);
        expect(cells[0]).toBe(r["name"]);
        expect(cells[1]).toBe(r["subject"]);
        expect(cells[2]).toBe(r["issuer"]);
        expect(cells[5]).toBe(r["chain"]);
        expect(cells[6]).toBe(r["key"]);
        expect(cells[7]).toBe(r["status"]);
      });
    }
  });

  it("--help says what each way checks", async () => {
    const help = (await kpki(["certs", "check-expiration", "--help"])).stdout.replace(/\s+/g, " ");
    expect(help).toContain("Without --verify, CHAIN is found by names alone, no signature is checked: linked");
    expect(help).toContain("With --verify every signature is checked: ok, self-signed, bad signature (INVALID), unknown issuer");
  });
});
