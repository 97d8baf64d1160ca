import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { fsRenewPort } from "../../src/io/renew-port.js";
import type { RotatePort } from "../../src/rotate/rotate.js";
import { chattr, mountTmpfs, rootFaultsUnavailable, snapshot, temporariesUnder, unmount } from "../helpers/disk-faults.js";
import { fakeIo } from "../helpers/fake-io.js";

/**
 * Issue 11, point 5 ("Writes"), on real file systems: a tiny tmpfs that fills up (ENOSPC), folders
 * and files made immutable (chattr +i: EPERM, even for root), and SIGINT/SIGTERM sent to real child
 * processes. Each run leaves either every file as it was or the whole renewal, never a part, no
 * partial backup and no temporary file.
 */

const ROOT = resolve(import.meta.dirname, "../..");
const KPKI = join(ROOT, "dist/bin/kpki.js");
const WRITE_LOOP = join(ROOT, "test/helpers/write-loop.ts");
const work = mkdtempSync(join(tmpdir(), "kpki-writes-"));
const mounts: string[] = [];
const immutable: string[] = [];
afterAll(() => {
  for (const p of immutable) chattr("-i", p);
  for (const m of mounts) unmount(m);
  rmSync(work, { recursive: true, force: true });
});

const skipRoot = rootFaultsUnavailable();
const ECDSA = ["--encryption-algorithm", "ECDSA-P256"];

async function initCluster(dir: string): Promise<void> {
  const f = fakeIo();
  expect(await run(["init", "--dir", dir, ...ECDSA], f.io), f.stderr()).toBe(0);
}

/** Bytes free on the file system holding `dir`. */
const freeBytes = (dir: string): number => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

const RENEWED = 11; // kubeadm's renewable set with local etcd

describe.skipIf(skipRoot)("renew all on a real tiny tmpfs that fills up (ENOSPC)", () => {
  // tmpfs gives each small file one 4 KiB page: renew all backs up 18 files (18 pages), then stages
  // 11 new pairs and 4 kubeconfigs (26 pages). 8 pages free fails the backup; 30 fails the staging.
  it.each([
    ["the backup", 8, /^error: cannot write the backup \S+\/pki-backup-\d{8}T\d{6}Z: no space left on device \(ENOSPC\); the partial copy was removed; nothing was changed\n$/],
    ["the staging", 30, /^error: cannot write the new \S+\.crt and \S+\.key: no space left on device \(ENOSPC\); nothing was changed\n$/],
  ])("out of space during %s: exit 1, every file as before, no backup, no temporary, one line naming ENOSPC; a retry with space succeeds", async (_when, pagesFree, message) => {
    const mnt = join(work, `tmpfs-${pagesFree}`);
    mkdirSync(mnt);
    mountTmpfs(mnt, "512k");
    mounts.push(mnt);
    try {
      const dir = join(mnt, "cluster");
      await initCluster(dir);
      const filler = join(mnt, "filler");
      writeFileSync(filler, new Uint8Array(freeBytes(mnt) - pagesFree * 4096));
      expect(freeBytes(mnt)).toBe(pagesFree * 4096);
      const before = snapshot(dir);

      const f = fakeIo();
      const code = await run(["certs", "renew", "all", "--dir", dir], f.io);
      expect(code).toBe(1);
      expect(f.stderr()).toMatch(message);
      expect(f.stdout()).toBe(""); // not one "renewed" line: nothing was
      expect(snapshot(dir)).toEqual(before); // byte-identical, same links and modes, nothing added (no backup)
      expect(readdirSync(dir).filter((n) => n.includes("backup"))).toEqual([]);
      expect(temporariesUnder(mnt)).toEqual([]);
      expect(freeBytes(mnt)).toBe(pagesFree * 4096); // no space kept by leftovers: a retry is not worse off

      rmSync(filler);
      const retry = fakeIo();
      expect(await run(["certs", "renew", "all", "--dir", dir], retry.io), retry.stderr()).toBe(0);
      expect(retry.stdout().split("\n").filter((l) => l.endsWith(" renewed"))).toHaveLength(RENEWED);
      expect(temporariesUnder(mnt)).toEqual([]);
    } finally {
      unmount(mnt);
    }
  });
});

describe.skipIf(skipRoot)("immutable folders and files (chattr +i)", () => {
  it("init into an immutable folder: exit 1, one line naming EPERM, nothing written", async () => {
    const dir = join(work, "immutable-init");
    mkdirSync(dir);
    chattr("+i", dir);
    immutable.push(dir);
    try {
      const f = fakeIo();
      expect(await run(["init", "--dir", dir, ...ECDSA], f.io)).toBe(1);
      // The folder is probed before any key is generated: no "Generating" line, one error line.
      expect(f.stdout()).toBe("");
      expect(f.stderr()).toBe(`error: cannot write in ${dir}/pki: operation not permitted (EPERM); nothing was changed\n`);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      chattr("-i", dir);
    }
  });

  it("renew with the cert folder immutable: exit 1, one line naming EPERM, nothing changed, no backup", async () => {
    const dir = join(work, "immutable-renew");
    await initCluster(dir);
    const before = snapshot(dir);
    const pki = join(dir, "pki");
    chattr("+i", pki);
    immutable.push(pki);
    try {
      const f = fakeIo();
      expect(await run(["certs", "renew", "all", "--dir", dir], f.io)).toBe(1);
      expect(f.stderr()).toBe(`error: cannot write in ${pki}: operation not permitted (EPERM); nothing was changed\n`);
    } finally {
      chattr("-i", pki);
    }
    expect(snapshot(dir)).toEqual(before);
  });

  it("a switch that fails part-way (a real EPERM): the pairs switched before it are switched back, every file as before", async () => {
    const dir = join(work, "switch-fails");
    await initCluster(dir);
    const before = snapshot(dir);
    const victim = join(dir, "pki/etcd/server.key");
    // The real port, but etcd-server's key is immutable while its switch runs: the rename over it fails.
    const port = (now: Date): RotatePort => {
      const real = fsRenewPort(now);
      return {
        ...real,
        stagePair: async (keyPath, certPath, keyPem, certPem) => {
          const staged = await real.stagePair(keyPath, certPath, keyPem, certPem);
          if (keyPath !== victim) return staged;
          return {
            ...staged,
            switch: async () => {
              chattr("+i", victim);
              immutable.push(victim);
              try {
                await staged.switch();
              } finally {
                chattr("-i", victim);
              }
            },
          };
        },
      };
    };
    const f = fakeIo({ renewPort: port });
    expect(await run(["certs", "renew", "all", "--dir", dir], f.io)).toBe(1);
    expect(f.stderr()).toBe(
      `error: cannot switch ${dir}/pki/etcd/server.crt to the new one: operation not permitted (EPERM); the 7 renewed before it ` +
        "(admin.conf, apiserver, apiserver-etcd-client, apiserver-kubelet-client, controller-manager.conf, etcd-healthcheck-client, etcd-peer) " +
        "were switched back; nothing was changed\n",
    );
    expect(f.stdout()).toBe("");
    // The same regular files (not links into .kpki), no .kpki folders, no backup, no temporary.
    expect(snapshot(dir)).toEqual(before);
  });
});

/** Spawns `args` with node and resolves with its exit code once it ends. */
type Ended = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };
function start(args: readonly string[]): { exited: Promise<Ended>; kill: (s: NodeJS.Signals) => void } {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<Ended>((done) => child.on("close", (code, signal) => done({ code, signal, stdout, stderr })));
  return { exited, kill: (s) => void child.kill(s) };
}

/** Polls (every millisecond) until `found()` is true or the child ends; true if found. */
function waitFor(found: () => boolean, exited: Promise<unknown>, timeoutMs = 30_000): Promise<boolean> {
  return new Promise((done) => {
    let over = false;
    void exited.then(() => (over = true));
    const t0 = Date.now();
    const poll = setInterval(() => {
      const hit = found();
      if (hit || over || Date.now() - t0 > timeoutMs) {
        clearInterval(poll);
        done(hit);
      }
    }, 1);
  });
}

describe("SIGINT and SIGTERM on a real child process", () => {
  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const)("%s while a temporary is being written: exit %d, no temporary left", { timeout: 60_000 }, async (signal, exitCode) => {
    const dir = mkdtempSync(join(work, "loop-"));
    const child = start(["--import", "tsx", WRITE_LOOP, dir, "16"]);
    // Once the file has been written whole once, the loop is rewriting it: a temporary is there.
    expect(await waitFor(() => existsSync(join(dir, "big.key")) && temporariesUnder(dir).length > 0, child.exited)).toBe(true);
    child.kill(signal);
    const end = await child.exited;
    expect([end.code, end.signal, end.stderr]).toEqual([exitCode, null, ""]);
    expect(temporariesUnder(dir)).toEqual([]);
    expect(readdirSync(dir)).toEqual(["big.key"]); // the last complete write, and nothing else
  });

  it("a command that stops gracefully on SIGINT itself (as approver run does) keeps its own exit code", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(work, "graceful-"));
    const child = start(["--import", "tsx", WRITE_LOOP, dir, "16", "--graceful"]);
    expect(await waitFor(() => existsSync(join(dir, "big.key")) && temporariesUnder(dir).length > 0, child.exited)).toBe(true);
    child.kill("SIGINT");
    const end = await child.exited;
    expect([end.code, end.signal, end.stdout, end.stderr]).toEqual([0, null, "graceful stop on SIGINT\n", ""]);
    expect(temporariesUnder(dir)).toEqual([]);
    expect(readdirSync(dir)).toEqual(["big.key"]);
  });

  it("kpki init interrupted by SIGINT while writing: exit 130, no temporary left; the next run completes the PKI", { timeout: 120_000 }, async () => {
    let signalledOnTemporary = 0;
    const ATTEMPTS = 5;
    for (let i = 0; i < ATTEMPTS; i++) {
      const dir = mkdtempSync(join(work, "init-int-"));
      const child = start([KPKI, "init", "--dir", dir, "--node-name", "n1", "--apiserver-advertise-address", "192.0.2.10", ...ECDSA]);
      // The first temporary anywhere, else the CA's key (writes are under way from then on).
      const seen = await waitFor(() => temporariesUnder(dir).length > 0 || existsSync(join(dir, "pki/ca.key")), child.exited);
      expect(seen).toBe(true);
      if (temporariesUnder(dir).length > 0) signalledOnTemporary++;
      child.kill("SIGINT");
      const end = await child.exited;
      expect([end.code, end.signal]).toEqual([130, null]);
      expect(temporariesUnder(dir)).toEqual([]);
      const again = start([KPKI, "init", "--dir", dir, "--node-name", "n1", "--apiserver-advertise-address", "192.0.2.10", ...ECDSA]);
      const done = await again.exited;
      expect([done.code, done.stderr]).toEqual([0, ""]);
      expect(readFileSync(join(dir, "pki/ca.crt"), "utf8")).toMatch(/^-----BEGIN CERTIFICATE-----/);
      expect(temporariesUnder(dir)).toEqual([]);
    }
    console.log(`init SIGINT: ${signalledOnTemporary} of ${ATTEMPTS} signals sent while a temporary was on disk`);
    expect(signalledOnTemporary).toBeGreaterThan(0); // else the case this test is about never happened
  });

  it("certs renew all interrupted by SIGINT: exit 130, and either nothing changed (no backup) or everything renewed, no temporary left", { timeout: 120_000 }, async () => {
    const base = join(work, "renew-int-base");
    await initCluster(base);
    const before = snapshot(base);
    const outcomes = { unchanged: 0, renewed: 0 };
    for (let i = 0; i < 3; i++) {
      const dir = join(work, `renew-int-${i}`);
      cpSync(base, dir, { recursive: true });
      const backup = join(dir, "backup");
      const child = start([KPKI, "certs", "renew", "all", "--dir", dir, "--backup-dir", backup]);
      // The finished backup appears just before staging begins: the signal lands in the write phase.
      expect(await waitFor(() => existsSync(backup), child.exited)).toBe(true);
      child.kill("SIGINT");
      const end = await child.exited;
      expect([end.code, end.signal]).toEqual([130, null]);
      expect(temporariesUnder(dir)).toEqual([]);
      const after = snapshot(dir);
      if (!existsSync(backup)) {
        expect(after).toEqual(before);
        outcomes.unchanged++;
      } else {
        // Switched before the signal was acted on: every renewable file is new, and the backup holds the old ones.
        const files = Object.keys(before).filter((f) => before[f]!.startsWith("file ") && /\.(crt|key|conf)$/.test(f));
        const changed = files.filter((f) => !readFileSync(join(dir, f)).equals(readFileSync(join(base, f))));
        expect(changed).toHaveLength(18);
        outcomes.renewed++;
      }
    }
    console.log(`renew SIGINT outcomes: ${JSON.stringify(outcomes)}`);
  });

  it("a stale temporary whose process is gone is removed by the next run that writes there; a live process's is kept", async () => {
    const dir = mkdtempSync(join(work, "stale-"));
    const pki = join(dir, "pki");
    mkdirSync(pki, { recursive: true });
    const dead = spawnSync(process.execPath, ["-e", ""]).pid;
    expect(() => process.kill(dead, 0)).toThrow(expect.objectContaining({ code: "ESRCH" }));
    const names = {
      dead: `.ca.key.kpki-${dead}-a1b2c3d4e5f6.tmp`,
      live: `.ca.key.kpki-${process.pid}-a1b2c3d4e5f6.tmp`, // this test's own process: alive
      legacyOld: ".sa.key.kpki-0123456789ab.tmp", // before PIDs were in the names, an hour old
      legacyNew: ".sa.key.kpki-ba9876543210.tmp", // the same form, written a moment ago
    };
    for (const n of Object.values(names)) writeFileSync(join(pki, n), "-----BEGIN EC PRIVATE KEY-----\n");
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(join(pki, names.legacyOld), hourAgo, hourAgo);

    await initCluster(dir);
    const left = readdirSync(pki).filter((n) => n.includes(".kpki-")).sort();
    expect(left).toEqual([names.live, names.legacyNew].sort());
  });
});
