import { spawn, execFileSync } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
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

type Kill = { readonly from: "start" | "backup" | "switch"; readonly afterMs: number } | undefined;

/**
 * Runs renew all in `dir` and SIGKILLs it `afterMs` after it starts, after its backup folder
 * appears (staging begins then), or after the first pair is switched (the apiserver's `current`
 * link appears: the switches are under way), so that kills land in each write phase however
 * loaded the machine is. Resolves with how it ended and when the backup and the first switch appeared.
 */
function renewKilled(dir: string, kill: Kill): Promise<{ code: number | null; ms: number; backupAtMs: number | undefined; switchAtMs: number | undefined }> {
  return new Promise((done) => {
    const t0 = performance.now();
    const backup = join(dir, "backup");
    const firstSwitch = join(dir, "pki/.kpki/apiserver/current");
    let backupAtMs: number | undefined;
    let switchAtMs: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    const child = spawn(process.execPath, args(dir), { stdio: "ignore" });
    if (kill?.from === "start") timer = setTimeout(() => child.kill("SIGKILL"), kill.afterMs);
    const exists = (path: string): boolean => {
      try {
        lstatSync(path);
        return true;
      } catch {
        return false;
      }
    };
    const poll = setInterval(() => {
      if (backupAtMs === undefined && existsSync(backup)) {
        backupAtMs = performance.now() - t0;
        if (kill?.from === "backup") timer = setTimeout(() => child.kill("SIGKILL"), kill.afterMs);
      }
      if (switchAtMs === undefined && exists(firstSwitch)) {
        switchAtMs = performance.now() - t0;
        if (kill?.from === "switch") timer = setTimeout(() => child.kill("SIGKILL"), kill.afterMs);
      }
    }, 1);
    child.on("exit", (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      done({ code, ms: performance.now() - t0, backupAtMs, switchAtMs });
    });
  });
}

/** kpki's temporary names (`.NAME.kpki-<pid>-<random>.tmp`) anywhere under `dir`. */
const temporaries = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => /(^|\/)\.[^/]*\.kpki-\d+-[0-9a-f]+\.tmp$/.test(f));

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
    // How long an uninterrupted run takes here: start-up to backup, backup to the first switch (staging),
    // and the first switch to exit (the switches).
    const startup: number[] = [];
    const staging: number[] = [];
    const switching: number[] = [];
    for (let i = 0; i < 3; i++) {
      const d = join(work, `full-${i}`);
      cpSync(base, d, { recursive: true });
      const r = await renewKilled(d, undefined);
      expect(r.code).toBe(0);
      expect(await check(d)).toBe("complete");
      expect(temporaries(d)).toEqual([]);
      startup.push(r.backupAtMs ?? r.ms);
      staging.push((r.switchAtMs ?? r.ms) - (r.backupAtMs ?? r.ms));
      switching.push(r.ms - (r.switchAtMs ?? r.ms));
    }
    const startSpan = Math.max(...startup);
    const stageSpan = Math.max(...staging) * 1.2;
    const switchSpan = Math.max(...switching) * 1.2;
    const outcomes = { untouched: 0, partial: 0, complete: 0 };
    const run = async (i: number) => {
      const d = join(work, `run-${i}`);
      cpSync(base, d, { recursive: true });
      // One kill in five during start-up, reading and the backup, two during staging, two during the switches.
      const kill: Kill =
        i % 5 === 0 ? { from: "start", afterMs: (i / RUNS) * startSpan }
        : i % 5 < 3 ? { from: "backup", afterMs: (i / RUNS) * stageSpan }
        : { from: "switch", afterMs: (i / RUNS) * switchSpan };
      await renewKilled(d, kill);
      outcomes[await check(d)]++;
      // A later run finishes what the killed one left, from the same consistent state, and removes
      // the temporaries the killed one left (its PID is gone).
      if (i % 20 === 0 || i % 20 === 3) {
        rmSync(join(d, "backup"), { recursive: true, force: true });
        expect((await renewKilled(d, undefined)).code).toBe(0);
        expect(existsSync(join(d, "pki/.kpki"))).toBe(true);
        expect(temporaries(d)).toEqual([]);
      }
      rmSync(d, { recursive: true, force: true });
    };
    for (let i = 0; i < RUNS; i += 2) await Promise.all([run(i), run(i + 1)]);
    console.log(
      `crash test: ${RUNS} kills, start-up ${startSpan.toFixed(0)} ms, staging ${stageSpan.toFixed(0)} ms, switches ${switchSpan.toFixed(0)} ms: ${JSON.stringify(outcomes)}`,
    );
    // The kills really landed before, during and after the switches.
    expect(outcomes.partial).toBeGreaterThanOrEqual(5);
    expect(outcomes.untouched).toBeGreaterThanOrEqual(1);
    expect(outcomes.untouched + outcomes.partial + outcomes.complete).toBe(RUNS);
  });
});
