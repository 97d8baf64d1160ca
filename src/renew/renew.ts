import { PkiError, invalidInput, isPkiError, mismatch } from "../errors.js";
import { caEntry, type CaName } from "../kubeadm/catalogue.js";
import { renewTargets, type RenewTarget } from "./targets.js";
import type { ClusterConfig } from "../kubeadm/config.js";
import { caLocation, dirOf, isExternalCa, kubeconfigPaths, loadCaFiles, pkiPaths, readCertificateAt, requireIssuer, type CaFiles, type CertificatePlace } from "../kubeadm/files.js";
import { withRenewedClientCert } from "../kubeadm/kubeconfig-edit.js";
import { leafSpec } from "../kubeadm/resolve.js";
import { humanDuration, kubeadmDate } from "../expiry/human.js";
import { createCertificate, randomSerial, type Issuer, type ParsedCertificate } from "../pki/cert.js";
import { generateKeyPair, privateKeyToPem, type KeyPair } from "../pki/keys.js";

// The catalogue of renewable certificates lives in ./targets.ts (cheap to load for --help and completion).
export { renewTargets, type RenewTarget };

/**
 * A replacement written beside what it replaces and not yet visible to any reader: `switch` makes
 * it current. src/io stages every byte first, so that switching and rolling back need no space.
 */
export interface StagedChange {
  /** Makes the staged content current, in steps that each leave the old content or the new. */
  readonly switch: () => Promise<void>;
  /** Undoes what `switch` did, all of it or the part it got to: the old content is back. */
  readonly rollBack: () => Promise<void>;
  /** Removes what was staged (before `switch`, or after `rollBack`). */
  readonly discard: () => Promise<void>;
  /** Once every change of the run is switched: removes what only a roll-back needed. */
  readonly commit: () => Promise<void>;
}

/** A finished backup copy. */
export interface BackupCopy {
  /** The copy stays (files are about to change). */
  readonly keep: () => void;
  /** Removes the copy (the run changed nothing). */
  readonly remove: () => Promise<void>;
}

/** The file operations renewal needs; src/io provides them on the file system. */
export interface RenewPort {
  readonly read: (path: string) => Promise<string | undefined>;
  /** Throws (one clear line) unless new files can be created in `dir`. Run before any change. */
  readonly checkWritable: (dir: string) => Promise<void>;
  /**
   * Copies files into a new folder (refusing one that exists), keeping modes; each `to` is relative
   * to it. Complete or not at all: a copy that cannot be completed is removed before this throws.
   */
  readonly backup: (dir: string, files: readonly { from: string; to: string }[]) => Promise<BackupCopy>;
  /** Stages a new key and certificate; the switch replaces the pair so that readers see the old pair or the new, never a mix. */
  readonly stagePair: (keyPath: string, certPath: string, keyPem: string, certPem: string) => Promise<StagedChange>;
  /** Stages new content for one file; the switch replaces it atomically, keeping its mode. */
  readonly stageFile: (path: string, data: string) => Promise<StagedChange>;
  /** Runs `section` (the switches, and any roll-back) to its end before an interruption (SIGINT) is acted on. */
  readonly uninterruptible: <T>(section: () => Promise<T>) => Promise<T>;
}

export interface RenewOptions {
  /** Names to renew (already expanded from `all`). */
  readonly names: readonly string[];
  /** Whether `all` was asked for (kubeadm prints its closing reminder then). */
  readonly all: boolean;
  readonly dryRun: boolean;
  /** Renew only certificates that expire within this many milliseconds. */
  readonly expiringWithinMs?: number | undefined;
  /** Where the files to be replaced are copied first. */
  readonly backupDir: string;
}

export interface RenewDeps {
  readonly crypto: Crypto;
  readonly now: Date;
  readonly log: (line: string) => void;
  readonly port: RenewPort;
}

type Planned =
  | { readonly target: RenewTarget; readonly action: "missing" }
  | { readonly target: RenewTarget; readonly action: "external" }
  | { readonly target: RenewTarget; readonly action: "skip"; readonly current: ParsedCertificate }
  | { readonly target: RenewTarget; readonly action: "renew"; readonly current: ParsedCertificate; readonly kubeconfigText?: string };

const DONE =
  "\nDone renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates.";

/**
 * `kubeadm certs renew` with kubeadm's semantics and messages, plus
 * --expiring-within, --dry-run and a backup. Everything is read and checked
 * first (a corrupt certificate or kubeconfig stops the run before any change),
 * then the files to be replaced are backed up, then each is renewed: a new
 * key and serial; CN, O, DNS and IP SANs and ExtKeyUsage copied from the
 * current certificate; NotBefore now - 5m, NotAfter now + certificateValidityPeriod;
 * the key type from the config.
 *
 * All or nothing for the set asked for: every folder is checked writable, the
 * backup is written (and removed if it cannot be completed), every new pair and
 * kubeconfig is staged beside the old one (a failure removes what was staged and
 * the backup: nothing changed), then each is switched; a failing switch rolls
 * back every switched one. The error says what is left changed, if anything.
 */
export async function runRenew(cfg: ClusterConfig, opts: RenewOptions, deps: RenewDeps): Promise<void> {
  const { crypto, now, log, port } = deps;
  const targets = renewTargets(cfg.etcd.external);
  for (const n of opts.names) if (!targets.some((t) => t.name === n)) throw invalidInput(`unknown certificate "${n}"`);
  const chosen = targets.filter((t) => opts.names.includes(t.name));
  const placeOf = (t: RenewTarget): CertificatePlace =>
    t.kind === "pki" ? { kind: "pki", ...pkiPaths(cfg.certificatesDir, t.file) } : { kind: "kubeconfig", path: kubeconfigPaths(cfg.kubeconfigDir, t.file).file };

  // CAs: certificate and key, or external (no key), checked as every command checks them.
  const cas = new Map<CaName, CaFiles>();
  const caOf = async (name: CaName): Promise<CaFiles> => {
    const known = cas.get(name) ?? (await loadCaFiles(port.read, caLocation(cfg.certificatesDir, name), crypto));
    if (!known.certificate) throw mismatch(`couldn't load ${known.location.name} certificate authority from ${known.location.cert}: no such file`);
    cas.set(name, known);
    return known;
  };

  // ---- Plan: read and check everything; change nothing.
  const plan: Planned[] = [];
  for (const target of chosen) {
    let stored;
    try {
      stored = await readCertificateAt(port.read, placeOf(target));
    } catch (error) {
      throw mismatch(`${target.name} is not a valid certificate for this cluster: ${(error as Error).message}`);
    }
    if (stored === undefined) {
      plan.push({ target, action: "missing" });
      continue;
    }
    const current = stored.certificate;
    const text = stored.text;
    if (isExternalCa(await caOf(target.ca))) {
      plan.push({ target, action: "external" });
      continue;
    }
    const residualMs = current.notAfter.getTime() - now.getTime();
    if (opts.expiringWithinMs !== undefined && residualMs > opts.expiringWithinMs) {
      plan.push({ target, action: "skip", current });
      continue;
    }
    plan.push(target.kind === "kubeconfig" ? { target, action: "renew", current, kubeconfigText: text } : { target, action: "renew", current });
  }

  const pathsOf = (t: RenewTarget): { from: string; to: string }[] => {
    const place = placeOf(t);
    return place.kind === "pki"
      ? [
          { from: place.cert, to: `pki/${t.file}.crt` },
          { from: place.key, to: `pki/${t.file}.key` },
        ]
      : [{ from: place.path, to: t.file }];
  };
  const toRenew = plan.filter((p): p is Extract<Planned, { action: "renew" }> => p.action === "renew");
  const residual = (c: ParsedCertificate): string => `expires ${kubeadmDate(c.notAfter)}, ${humanDuration(Math.trunc((c.notAfter.getTime() - now.getTime()) / 1000))} left`;

  if (opts.dryRun) {
    for (const p of plan) {
      const t = p.target;
      if (p.action === "missing") log(`MISSING! ${t.longName}`);
      else if (p.action === "external") log(`Detected external ${caEntry(t.ca).baseName}, ${t.longName} can't be renewed`);
      else if (p.action === "skip") log(`[dryrun] ${t.name}: not renewed, ${residual(p.current)} (outside --expiring-within)`);
      else log(`[dryrun] ${t.name}: would be renewed, ${residual(p.current)}${opts.expiringWithinMs !== undefined ? " (inside --expiring-within)" : ""}`);
    }
    if (toRenew.length) log(`[dryrun] would back up ${toRenew.flatMap((p) => pathsOf(p.target)).length} files to "${opts.backupDir}"`);
    return;
  }

  // ---- Every folder that will be written must be writable, or nothing is changed at all.
  const dirs = new Set(toRenew.flatMap((p) => pathsOf(p.target).map((f) => dirOf(f.from))));
  if (toRenew.length) dirs.add(dirOf(opts.backupDir.replace(/\/+$/, "")));
  for (const d of dirs) await port.checkWritable(d);

  // ---- Back up everything that will be replaced, before the first change. A copy that cannot
  // be completed is removed by the port; so is this one if the run ends changing nothing.
  const unchanged = (error: unknown, extra = ""): Error =>
    new PkiError(isPkiError(error) ? error.code : "io", `${(error as Error).message ?? String(error)}${extra}; nothing was changed`, { cause: error });
  let backup: BackupCopy | undefined;
  if (toRenew.length) {
    try {
      backup = await port.backup(opts.backupDir, toRenew.flatMap((p) => pathsOf(p.target)));
    } catch (error) {
      throw unchanged(error);
    }
  }
  // Printed once everything is switched, in plan order.
  const lines: string[] = toRenew.length ? [`[renew] Backed up ${toRenew.flatMap((p) => pathsOf(p.target)).length} files to "${opts.backupDir}"`] : [];

  // ---- Stage every renewal, in kubeadm's order: nothing any reader sees changes yet. New keys
  // are generated concurrently up front.
  const staged: { readonly target: RenewTarget; readonly change: StagedChange }[] = [];
  const discardStaged = async (): Promise<string> => {
    const left: string[] = [];
    // Newest first: a folder the first staging created (.kpki) is empty only once the others are gone.
    for (const s of [...staged].reverse()) await s.change.discard().catch((error: Error) => left.push(error.message));
    await backup?.remove().catch((error: Error) => left.push(`cannot remove the backup "${opts.backupDir}": ${error.message}`));
    return left.length ? ` (left behind: ${left.join("; ")})` : "";
  };
  const keys = new Map(toRenew.map((p) => [p.target.name, generateKeyPair(cfg.encryptionAlgorithm, crypto)]));
  for (const k of keys.values()) k.catch(() => undefined);
  try {
    for (const p of plan) {
      const t = p.target;
      if (p.action === "missing") {
        lines.push(`MISSING! ${t.longName}`);
        continue;
      }
      if (p.action === "external") {
        lines.push(`Detected external ${caEntry(t.ca).baseName}, ${t.longName} can't be renewed`);
        continue;
      }
      if (p.action === "skip") {
        lines.push(`[renew] ${t.name} skipped: ${residual(p.current)} (outside --expiring-within)`);
        continue;
      }
      const issuer = requireIssuer(await caOf(t.ca));
      const key = await keys.get(t.name);
      if (!key) throw new PkiError("io", `no key was generated for ${t.name}`);
      const { cert, keyPem } = await renewedCertificate(p.current, key, issuer, cfg, now, crypto);
      const place = placeOf(t);
      if (place.kind === "pki") {
        staged.push({ target: t, change: await port.stagePair(place.key, place.cert, keyPem, cert.pem) });
      } else {
        staged.push({ target: t, change: await port.stageFile(place.path, await withRenewedClientCert(p.kubeconfigText ?? "", place.path, cert.pem, keyPem, issuer.trustPem)) });
      }
      lines.push(`${t.longName} renewed`);
    }
  } catch (error) {
    throw unchanged(error, await discardStaged());
  }

  // ---- Switch each one; if a switch fails, switch back every one already switched.
  await port.uninterruptible(async () => {
    backup?.keep();
    const switched: (typeof staged)[number][] = [];
    for (const s of staged) {
      try {
        await s.change.switch();
        switched.push(s);
        continue;
      } catch (error) {
        const stuck: string[] = [];
        const why: string[] = [];
        // The failing one first (the part of its switch that happened), then the others, newest first.
        for (const r of [s, ...[...switched].reverse()]) {
          try {
            await r.change.rollBack();
          } catch (rollBackError) {
            stuck.push(r.target.name);
            why.push((rollBackError as Error).message);
          }
        }
        if (!stuck.length) {
          const back = switched.length ? `; the ${switched.length} renewed before it (${switched.map((x) => x.target.name).join(", ")}) were switched back` : "";
          throw unchanged(error, `${back}${await discardStaged()}`);
        }
        for (const x of [...staged].reverse()) if (!stuck.includes(x.target.name)) await x.change.discard().catch(() => undefined);
        throw new PkiError(
          "io",
          `${(error as Error).message}; switching back failed (${why.join("; ")}); left changed: ${stuck.join(", ")}; ` +
            `everything else was switched back; the previous files are in the backup "${opts.backupDir}"`,
          { cause: error },
        );
      }
    }
    for (const l of lines) log(l);
    if (opts.all) log(DONE);
  });
  // Old generations and the roll-back links are no longer needed; a failure here leaves only those.
  for (const s of staged) await s.change.commit().catch(() => undefined);
}

/**
 * kubeadm's renewal of one certificate: the identity and usages of `current` (CN, O, DNS and IP
 * SANs, ExtKeyUsage), a new key and serial, NotBefore now - 5m and NotAfter now + the
 * certificate validity, signed by `issuer`.
 */
export async function renewedCertificate(
  current: ParsedCertificate,
  key: KeyPair,
  issuer: Issuer,
  cfg: Pick<ClusterConfig, "certificateValidityMs">,
  now: Date,
  crypto: Crypto,
): Promise<{ cert: ParsedCertificate; keyPem: string }> {
  const { commonName, organizations, dnsNames, ips, extKeyUsages } = current;
  const spec = leafSpec({ commonName, organizations, dnsNames, ips, extKeyUsages }, now, cfg.certificateValidityMs);
  const cert = await createCertificate({ ...spec, serial: randomSerial(crypto) }, key.publicKey, issuer, crypto);
  return { cert, keyPem: await privateKeyToPem(key, crypto) };
}

/** A backup folder name beside the cert dir: `<certDir>-backup-YYYYMMDDTHHMMSSZ`. */
export const defaultBackupDir = (certificatesDir: string, now: Date): string =>
  `${certificatesDir.replace(/\/+$/, "")}-backup-${now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}`;

