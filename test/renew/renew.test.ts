import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { resolveClusterConfig, type ClusterConfig } from "../../src/kubeadm/config.js";
import { allCertPhases, allKubeconfigPhases, runInit } from "../../src/kubeadm/init.js";
import { readKubeconfig } from "../../src/kubeadm/kubeconfig.js";
import { renewTargets, runRenew, type RenewPort, type StagedChange } from "../../src/renew/renew.js";
import { isSignedBy, keyMatchesCertificate, ipStrings, parseCertificatePem } from "../../src/pki/cert.js";
import { parsePrivateKeyPem } from "../../src/pki/keys.js";
import { isPkiError } from "../../src/errors.js";
import { memoryStore } from "../helpers/memory-store.js";
import { T0, crypto } from "../helpers/clock.js";

const LATER = new Date(T0.getTime() + 300 * 86_400_000); // 300 days after init: 65 days left on the leaves

function config(extra: Record<string, unknown> = {}): ClusterConfig {
  return resolveClusterConfig({ init: undefined, cluster: { encryptionAlgorithm: "ECDSA-P256", ...extra } },
    { certDir: "/k/pki", kubeconfigDir: "/k", certSans: ["api.example.com", "10.0.0.100"] },
    { hostname: "cp-1", defaultAddress: "192.0.2.10" });
}

/**
 * A memory PKI plus a RenewPort over the same map that records what it did. `failSwitch` /
 * `failStage` / `failRollBack` name a file whose switch, staging or roll-back throws.
 */
async function pki(cfg = config()) {
  const m = memoryStore();
  await runInit(cfg, { certs: allCertPhases(), kubeconfigs: allKubeconfigPhases() }, { crypto, store: m.store, now: T0, log: () => {}, warn: () => {} });
  const files = m.files;
  const backups = new Map<string, string>();
  const ops: string[] = [];
  const readOnly = new Set<string>();
  const faults = { failSwitch: "", failStage: "", failRollBack: "", failBackup: false };
  const staged = (label: string, writes: readonly { path: string; data: string; mode: number }[]): StagedChange => {
    const old = writes.map((w) => ({ path: w.path, before: files.get(w.path) }));
    let switched = false;
    return {
      switch: async () => {
        if (label === faults.failSwitch) throw new Error(`cannot switch ${label} to the new one: injected`);
        ops.push(`switch ${label}`);
        for (const w of writes) files.set(w.path, { data: w.data, mode: w.mode });
        switched = true;
      },
      rollBack: async () => {
        if (!switched) return;
        if (label === faults.failRollBack) throw new Error(`cannot switch ${label} back: injected`);
        ops.push(`roll back ${label}`);
        for (const o of old) if (o.before) files.set(o.path, o.before);
        switched = false;
      },
      discard: async () => void ops.push(`discard ${label}`),
      commit: async () => void ops.push(`commit ${label}`),
    };
  };
  const port: RenewPort = {
    read: async (p) => files.get(p)?.data,
    stagePair: async (k, c, key, cert) => {
      if (c === faults.failStage) throw new Error(`cannot write the new ${c} and its key: no space left on device (ENOSPC)`);
      ops.push(`stage ${c}`);
      return staged(c, [{ path: k, data: key, mode: 0o600 }, { path: c, data: cert, mode: 0o644 }]);
    },
    stageFile: async (p, d) => {
      if (p === faults.failStage) throw new Error(`cannot write the new ${p}: no space left on device (ENOSPC)`);
      ops.push(`stage ${p}`);
      return staged(p, [{ path: p, data: d, mode: files.get(p)?.mode ?? 0o600 }]);
    },
    checkWritable: async (dir) => {
      if (readOnly.has(dir)) throw new Error(`cannot write in ${dir}: permission denied (EACCES); nothing was changed`);
    },
    backup: async (dir, list) => {
      if (faults.failBackup) throw new Error(`cannot write the backup ${dir}: no space left on device (ENOSPC); the partial copy was removed`);
      ops.push(`backup ${dir}`);
      for (const f of list) backups.set(`${dir}/${f.to}`, files.get(f.from)!.data);
      return {
        keep: () => void ops.push("keep backup"),
        remove: async () => {
          ops.push("remove backup");
          for (const f of list) backups.delete(`${dir}/${f.to}`);
        },
      };
    },
    uninterruptible: (section) => section(),
  };
  const snapshot = new Map([...files].map(([k, v]) => [k, v.data]));
  const now = () => new Map([...files].map(([k, v]) => [k, v.data]));
  return { files, port, backups, ops, snapshot, readOnly, faults, now };
}

async function renew(cfg: ClusterConfig, p: Awaited<ReturnType<typeof pki>>, opts: Partial<Parameters<typeof runRenew>[1]> = {}, now = LATER) {
  const out: string[] = [];
  const names = opts.names ?? renewTargets(cfg.etcd.external).map((t) => t.name);
  await runRenew(cfg, { names, all: true, dryRun: false, backupDir: "/k/pki-backup", ...opts }, { crypto, now, log: (l) => out.push(l), port: p.port });
  return out;
}

describe("kpki certs renew (kubeadm certs renew, cmd/kubeadm/app/phases/certs/renewal)", () => {
  it("renew all prints kubeadm's lines in kubeadm's order, after one backup line", async () => {
    const p = await pki();
    const out = await renew(config(), p);
    expect(out).toEqual([
      '[renew] Backed up 18 files to "/k/pki-backup"',
      "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself renewed",
      "certificate for serving the Kubernetes API renewed",
      "certificate the apiserver uses to access etcd renewed",
      "certificate for the API server to connect to kubelet renewed",
      "certificate embedded in the kubeconfig file for the controller manager to use renewed",
      "certificate for liveness probes to healthcheck etcd renewed",
      "certificate for etcd nodes to communicate with each other renewed",
      "certificate for serving etcd renewed",
      "certificate for the front proxy client renewed",
      "certificate embedded in the kubeconfig file for the scheduler manager to use renewed",
      "certificate embedded in the kubeconfig file for the super-admin renewed",
      "\nDone renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates.",
    ]);
    expect(p.ops[0]).toBe("backup /k/pki-backup"); // before the first change
  });

  it("a renewed certificate: new key and serial, same CN/O/SANs/usages, validity from now, signed by its CA", async () => {
    const p = await pki();
    const before = parseCertificatePem(p.snapshot.get("/k/pki/apiserver.crt")!);
    await renew(config(), p, { names: ["apiserver", "apiserver-kubelet-client"], all: false });
    const after = parseCertificatePem(p.files.get("/k/pki/apiserver.crt")!.data);
    expect(after.serialHex).not.toBe(before.serialHex);
    expect(p.files.get("/k/pki/apiserver.key")!.data).not.toBe(p.snapshot.get("/k/pki/apiserver.key"));
    expect([after.commonName, after.organizations, after.dnsNames, ipStrings(after), after.extKeyUsages])
      .toEqual([before.commonName, before.organizations, before.dnsNames, ipStrings(before), before.extKeyUsages]);
    expect(after.dnsNames).toContain("api.example.com");
    expect(after.notBefore.getTime()).toBe(LATER.getTime() - 5 * 60_000);
    expect(after.notAfter.getTime()).toBe(LATER.getTime() + 8760 * 3_600_000);
    expect(await isSignedBy(after, parseCertificatePem(p.files.get("/k/pki/ca.crt")!.data), crypto)).toBe(true);
    expect(await keyMatchesCertificate(after, await parsePrivateKeyPem(p.files.get("/k/pki/apiserver.key")!.data, crypto), crypto)).toBe(true);
    const client = parseCertificatePem(p.files.get("/k/pki/apiserver-kubelet-client.crt")!.data);
    expect(client.organizations).toEqual(["kubeadm:cluster-admins"]);
    // The CAs are never touched.
    expect(p.files.get("/k/pki/ca.crt")!.data).toBe(p.snapshot.get("/k/pki/ca.crt"));
    expect(p.ops.filter((o) => o.startsWith("switch"))).toEqual(["switch /k/pki/apiserver.crt", "switch /k/pki/apiserver-kubelet-client.crt"]);
  });

  it("the key type comes from the config, not the old key", async () => {
    const p = await pki();
    await renew(config({ encryptionAlgorithm: "RSA-2048" }), p, { names: ["front-proxy-client"], all: false });
    expect((await parsePrivateKeyPem(p.files.get("/k/pki/front-proxy-client.key")!.data, crypto)).algorithm).toBe("RSA-2048");
  });

  it("kubeconfigs: new client cert and key, certificate-authority-data from ca.crt (kubeadm#2027), everything else kept", async () => {
    const p = await pki();
    const original = p.files.get("/k/admin.conf")!.data;
    // An operator's additions, and a stale CA, as after a CA rotation done by hand.
    const edited = original
      .replace(/certificate-authority-data: \S+/, "certificate-authority-data: c3RhbGU=")
      .replace("preferences: {}", "preferences: {}\n# keep me\nextensions:\n- name: site\n  extension: {team: platform}")
      .replace("  name: kubernetes-admin@kubernetes", "  name: kubernetes-admin@kubernetes\n- context:\n    cluster: kubernetes\n    user: other\n  name: other@kubernetes");
    p.files.set("/k/admin.conf", { data: edited, mode: 0o600 });
    await renew(config(), p, { names: ["admin.conf"], all: false });
    const text = p.files.get("/k/admin.conf")!.data;
    const view = await readKubeconfig(text, "admin.conf");
    expect(view.caData).toBe(p.files.get("/k/pki/ca.crt")!.data);
    const cert = parseCertificatePem(view.clientCertData!);
    expect([cert.commonName, cert.organizations]).toEqual(["kubernetes-admin", ["kubeadm:cluster-admins"]]);
    expect(cert.notBefore.getTime()).toBe(LATER.getTime() - 5 * 60_000);
    expect(await keyMatchesCertificate(cert, await parsePrivateKeyPem(view.clientKeyData!, crypto), crypto)).toBe(true);
    expect(text).toContain("# keep me\n");
    const doc = parse(text) as Record<string, unknown>;
    expect(doc["extensions"]).toEqual([{ name: "site", extension: { team: "platform" } }]);
    expect((doc["contexts"] as unknown[]).length).toBe(2);
    expect(p.backups.get("/k/pki-backup/admin.conf")).toBe(edited);
  });

  it("--expiring-within renews only what is inside the window and lists the rest as skipped", async () => {
    const p = await pki();
    const out = await renew(config(), p, { expiringWithinMs: 30 * 86_400_000 }); // 65 days left: nothing
    expect(out.filter((l) => l.endsWith("renewed"))).toEqual([]);
    expect(out[0]).toBe("[renew] admin.conf skipped: expires Aug 19, 2027 09:03 UTC, 65d left (outside --expiring-within)");
    expect(p.ops).toEqual([]);
    const out2 = await renew(config(), p, { expiringWithinMs: 90 * 86_400_000 });
    expect(out2.filter((l) => l.endsWith("renewed"))).toHaveLength(11);
  });

  it("--dry-run says what would happen and changes nothing", async () => {
    const p = await pki();
    const out = await renew(config(), p, { dryRun: true, expiringWithinMs: 90 * 86_400_000 });
    expect(out[1]).toBe("[dryrun] apiserver: would be renewed, expires Aug 19, 2027 09:03 UTC, 65d left (inside --expiring-within)");
    expect(out.at(-1)).toBe('[dryrun] would back up 18 files to "/k/pki-backup"');
    expect(p.ops).toEqual([]);
  });

  it("MISSING! and external-CA lines, as kubeadm prints them", async () => {
    const p = await pki();
    p.files.delete("/k/pki/front-proxy-client.crt");
    p.files.delete("/k/pki/etcd/ca.key");
    const out = await renew(config(), p);
    expect(out).toContain("MISSING! certificate for the front proxy client");
    expect(out).toContain("Detected external etcd/ca, certificate for serving etcd can't be renewed");
    expect(out).toContain("Detected external etcd/ca, certificate the apiserver uses to access etcd can't be renewed");
    expect(out.filter((l) => l.endsWith(" renewed") && !l.startsWith("Detected"))).toHaveLength(6);
  });

  it("a read-only folder anywhere in the run: refused before the backup and before any change", async () => {
    const p = await pki();
    p.readOnly.add("/k/pki/etcd");
    const error = await renew(config(), p).catch((e: unknown) => e);
    expect((error as Error).message).toBe("cannot write in /k/pki/etcd: permission denied (EACCES); nothing was changed");
    expect(p.ops).toEqual([]);
  });

  it.each([
    ["a corrupt certificate", (f: Map<string, { data: string; mode: number }>) => f.set("/k/pki/etcd/peer.crt", { data: "junk", mode: 0o644 }),
      /^etcd-peer is not a valid certificate for this cluster: failure loading certificate from \/k\/pki\/etcd\/peer\.crt: no CERTIFICATE block found$/],
    ["a kubeconfig without a current context", (f: Map<string, { data: string; mode: number }>) =>
      f.set("/k/scheduler.conf", { data: f.get("/k/scheduler.conf")!.data.replace(/current-context: .*\n/, ""), mode: 0o600 }),
      /^scheduler\.conf is not a valid certificate for this cluster: invalid kubeConfig file \/k\/scheduler\.conf: no current-context$/],
    ["a CA key that is not the CA's", (f: Map<string, { data: string; mode: number }>) => f.set("/k/pki/ca.key", { data: f.get("/k/pki/front-proxy-ca.key")!.data, mode: 0o600 }),
      /^\/k\/pki\/ca\.key does not match \/k\/pki\/ca\.crt: the key is not the ca certificate authority.s$/],
  ])("%s: one clear error, no file changed, no backup", async (_what, breakIt, message) => {
    const p = await pki();
    breakIt(p.files);
    const error = await renew(config(), p).catch((e: unknown) => e);
    expect(isPkiError(error)).toBe(true);
    expect((error as Error).message).toMatch(message);
    expect(p.ops).toEqual([]);
  });

  it("writes in phases: backup, every renewal staged, then switched, then committed", async () => {
    const p = await pki();
    await renew(config(), p, { names: ["apiserver", "admin.conf"], all: false });
    expect(p.ops).toEqual([
      "backup /k/pki-backup",
      "stage /k/admin.conf",
      "stage /k/pki/apiserver.crt",
      "keep backup",
      "switch /k/admin.conf",
      "switch /k/pki/apiserver.crt",
      "commit /k/admin.conf",
      "commit /k/pki/apiserver.crt",
    ]);
  });

  it("a backup that cannot be completed: nothing staged, nothing changed, no line printed", async () => {
    const p = await pki();
    p.faults.failBackup = true;
    const out: string[] = [];
    const error = await runRenew(config(), { names: renewTargets(false).map((t) => t.name), all: true, dryRun: false, backupDir: "/k/pki-backup" },
      { crypto, now: LATER, log: (l) => out.push(l), port: p.port }).catch((e: unknown) => e);
    expect((error as Error).message).toBe("cannot write the backup /k/pki-backup: no space left on device (ENOSPC); the partial copy was removed; nothing was changed");
    expect(p.ops).toEqual([]);
    expect(out).toEqual([]);
    expect(p.now()).toEqual(p.snapshot);
  });

  it("staging fails part-way (ENOSPC): what was staged is discarded, the backup removed, nothing changed", async () => {
    const p = await pki();
    p.faults.failStage = "/k/pki/etcd/peer.crt"; // the 7th in kubeadm's order
    const error = await renew(config(), p).catch((e: unknown) => e);
    expect(isPkiError(error)).toBe(true);
    expect((error as Error).message).toBe("cannot write the new /k/pki/etcd/peer.crt and its key: no space left on device (ENOSPC); nothing was changed");
    expect(p.ops.filter((o) => o.startsWith("stage"))).toHaveLength(6);
    expect(p.ops.filter((o) => o.startsWith("discard"))).toHaveLength(6);
    expect(p.ops.filter((o) => o.startsWith("switch"))).toEqual([]);
    expect(p.ops.at(-1)).toBe("remove backup");
    expect(p.backups.size).toBe(0);
    expect(p.now()).toEqual(p.snapshot);
  });

  it("a switch fails part-way: every switched one is switched back, the backup removed, and the message says so", async () => {
    const p = await pki();
    p.faults.failSwitch = "/k/pki/etcd/server.crt"; // the 8th in kubeadm's order
    const error = await renew(config(), p).catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      "cannot switch /k/pki/etcd/server.crt to the new one: injected; the 7 renewed before it (admin.conf, apiserver, apiserver-etcd-client, " +
        "apiserver-kubelet-client, controller-manager.conf, etcd-healthcheck-client, etcd-peer) were switched back; nothing was changed",
    );
    expect(p.ops.filter((o) => o.startsWith("switch"))).toHaveLength(7);
    expect(p.ops.filter((o) => o.startsWith("roll back"))).toHaveLength(7);
    expect(p.ops.filter((o) => o.startsWith("discard"))).toHaveLength(11);
    expect(p.ops.filter((o) => o.startsWith("commit"))).toEqual([]);
    expect(p.ops.at(-1)).toBe("remove backup");
    expect(p.now()).toEqual(p.snapshot);
  });

  it("a roll-back that fails too: the message lists exactly what is left changed and the backup is kept", async () => {
    const p = await pki();
    p.faults.failSwitch = "/k/pki/etcd/server.crt";
    p.faults.failRollBack = "/k/pki/apiserver.crt";
    const out: string[] = [];
    const error = await renew(config(), p).catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      "cannot switch /k/pki/etcd/server.crt to the new one: injected; switching back failed (cannot switch /k/pki/apiserver.crt back: injected); " +
        'left changed: apiserver; everything else was switched back; the previous files are in the backup "/k/pki-backup"',
    );
    expect(out).toEqual([]);
    const changed = [...p.now()].filter(([k, v]) => p.snapshot.get(k) !== v).map(([k]) => k);
    expect(changed.sort()).toEqual(["/k/pki/apiserver.crt", "/k/pki/apiserver.key"]);
    expect(p.backups.get("/k/pki-backup/pki/apiserver.crt")).toBe(p.snapshot.get("/k/pki/apiserver.crt"));
    expect(p.ops).not.toContain("remove backup");
  });
});
