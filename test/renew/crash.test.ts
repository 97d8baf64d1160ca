import { spawn, execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CAS, LEAVES, KUBECONFIGS } from "../../src/kubeadm/catalogue.js";
import { readKubeconfig } from "../../src/kubeadm/kubeconfig.js";
import { isSignedBy, keyMatchesCertificate, parseCertificatePem } from "../../src/pki/cert.js";
import { parsePrivateKeyPem } from "../../src/pki/keys.js";
import { crypto } from "../helpers/clock.js";

const KPKI = resolve(import.meta.dirname, "../../dist/bin/kpki.js");
const RUNS = 120;
const work = mkdtempSync(join(tmpdir(), "kpki-crash-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const base = join(work, "base");
execFileSync(process.execPath, [KPKI, "init", "--dir", base, "--encryption-algorithm", "ECDSA-P256"]);
const args = (dir: string) => [KPKI, "certs", "renew", "all", "--dir", dir, "--encryption-algorithm", "ECDSA-P256", "--backup-dir", join(dir, "backup")];

type Kill = { readonly from: "start" | "backup"; readonly afterMs: number } | undefined;

/**
 * Runs renew all in `dir` and SIGKILLs it `afterMs` after it starts, or after its backup folder
 * appears (the replacements begin then), so that kills land in the write phase however loaded the
 * machine is. Resolves with how it ended and when the backup appeared.
 */
function renewKilled(dir: string, kill: Kill): Promise<{ code: number | null; ms: number; backupAtMs: number | undefined }> {
  return new Promise((done) => {
    const t0 = performance.now();
    const backup = join(dir, "backup");
    let backupAtMs: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    const child = spawn(process.execPath, args(dir), { stdio: "ignore" });
    if (kill?.from === "start") timer = setTimeout(() => child.kill("SIGKILL"), kill.afterMs);
    const poll = setInterval(() => {
      if (backupAtMs !== undefined || !existsSync(backup)) return;
      backupAtMs = performance.now() - t0;
      if (kill?.from === "backup") timer = setTimeout(() => child.kill("SIGKILL"), kill.afterMs);
    }, 1);
    child.on("exit", (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      done({ code, ms: performance.now() - t0, backupAtMs });
    });
  });
}

const FILES = [
  ...[...CAS, ...LEAVES].flatMap((e) => [`pki/${e.baseName}.crt`, `pki/${e.baseName}.key`]),
  ...KUBECONFIGS.map((k) => k.fileName),
];

/** The invariants after a kill; returns how far the run got ("untouched" | "partial" | "complete"). */
async function check(dir: string): Promise<"untouched" | "partial" | "complete"> {
  const read = (rel: string) => readFileSync(join(dir, rel), "utf8");
  // Every pair: the key belongs to the certificate, and the certificate chains to its CA.
  for (const e of [...CAS, ...LEAVES]) {
    const cert = parseCertificatePem(read(`pki/${e.baseName}.crt`));
    const key = await parsePrivateKeyPem(read(`pki/${e.baseName}.key`), crypto);
    expect(await keyMatchesCertificate(cert, key, crypto), `${dir} ${e.baseName}`).toBe(true);
    const ca = parseCertificatePem(read(`pki/${e.kind === "ca" ? e.baseName : CAS.find((c) => c.name === e.ca)!.baseName}.crt`));
    expect(await isSignedBy(cert, ca, crypto), `${dir} ${e.baseName} chain`).toBe(true);
  }
  // Every kubeconfig parses and its client certificate matches its key.
  const caPem = read("pki/ca.crt");
  for (const k of KUBECONFIGS) {
    const view = await readKubeconfig(read(k.fileName), k.fileName);
    const cert = parseCertificatePem(view.clientCertData!);
    expect(await keyMatchesCertificate(cert, await parsePrivateKeyPem(view.clientKeyData!, crypto), crypto), `${dir} ${k.fileName}`).toBe(true);
    expect(await isSignedBy(cert, parseCertificatePem(caPem), crypto)).toBe(true);
  }
  // Anything changed means the backup already held the previous version of every file it replaces.
  const changed = FILES.filter((f) => read(f) !== readFileSync(join(base, f), "utf8"));
  if (changed.length) {
    for (const f of changed) expect(readFileSync(join(dir, "backup", f), "utf8"), `${dir} backup of ${f}`).toBe(readFileSync(join(base, f), "utf8"));
  }
  const renewable = FILES.filter((f) => !CAS.some((c) => f.startsWith(`pki/${c.baseName}.`)) && f !== "kubelet.conf");
  return changed.length === 0 ? "untouched" : changed.length === renewable.length ? "complete" : "partial";
}

describe("renew all survives SIGKILL at any moment", () => {
  it(`${RUNS} runs killed at moments spread over the whole run: every pair consistent, backups complete`, { timeout: 300_000 }, async () => {
    // How long an uninterrupted run takes here: start-up to backup, and backup to exit (the replacements).
    const startup: number[] = [];
    const writes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const d = join(work, `full-${i}`);
      cpSync(base, d, { recursive: true });
      const r = await renewKilled(d, undefined);
      expect(r.code).toBe(0);
      expect(await check(d)).toBe("complete");
      startup.push(r.backupAtMs ?? r.ms);
      writes.push(r.ms - (r.backupAtMs ?? r.ms));
    }
    const startSpan = Math.max(...startup);
    const writeSpan = Math.max(...writes) * 1.2;
    const outcomes = { untouched: 0, partial: 0, complete: 0 };
    const run = async (i: number) => {
      const d = join(work, `run-${i}`);
      cpSync(base, d, { recursive: true });
      // One kill in five during start-up, reading and the backup; the rest spread over the replacements.
      await renewKilled(d, i % 5 === 0 ? { from: "start", afterMs: (i / RUNS) * startSpan } : { from: "backup", afterMs: (i / RUNS) * writeSpan });
      outcomes[await check(d)]++;
      // A later run finishes what the killed one left, from the same consistent state.
      if (i % 20 === 0) {
        rmSync(join(d, "backup"), { recursive: true, force: true });
        expect((await renewKilled(d, undefined)).code).toBe(0);
        expect(existsSync(join(d, "pki/.kpki"))).toBe(true);
      }
      rmSync(d, { recursive: true, force: true });
    };
    for (let i = 0; i < RUNS; i += 2) await Promise.all([run(i), run(i + 1)]);
    console.log(`crash test: ${RUNS} kills, start-up ${startSpan.toFixed(0)} ms, replacements ${writeSpan.toFixed(0)} ms: ${JSON.stringify(outcomes)}`);
    // The kills really landed before, during and after the replacements.
    expect(outcomes.partial).toBeGreaterThanOrEqual(10);
    expect(outcomes.untouched).toBeGreaterThanOrEqual(1);
    expect(outcomes.untouched + outcomes.partial + outcomes.complete).toBe(RUNS);
  });
});
