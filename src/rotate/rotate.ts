import { PkiError, invalidInput, mismatch } from "../errors.js";
import { caEntry, KUBECONFIGS, type CaName } from "../kubeadm/catalogue.js";
import type { ClusterConfig } from "../kubeadm/config.js";
import { caPaths, dirOf, kubeconfigPaths, pkiPaths } from "../kubeadm/files.js";
import { clustersCaData, withAllClustersCaData, withClusterCaData, withRenewedClientCert } from "../kubeadm/kubeconfig-edit.js";
import { readKubeconfig } from "../kubeadm/kubeconfig.js";
import { createStandaloneCa } from "../pki/ca.js";
import { isSignedBy, keyMatchesCertificate, parseCertificatesPem, type ParsedCertificate } from "../pki/cert.js";
import { bytesToHex } from "../pki/der.js";
import { generateKeyPair, parsePrivateKeyPem, type KeyPair } from "../pki/keys.js";
import { DEFAULTS } from "../kubeadm/config.js";
import { renewedCertificate, renewTargets, type RenewPort, type RenewTarget, type StagedChange } from "../renew/renew.js";
import { kcmManifestSigning } from "./manifest.js";

/**
 * Staged rotation of a kubeadm cluster's CAs (ca, front-proxy-ca, etcd/ca), after the Kubernetes
 * task "Manual Rotation of CA Certificates" (kubernetes/website content/en/docs/tasks/tls/
 * manual-rotation-of-ca-certificates.md): trust old and new, reissue every certificate with the
 * new, then drop the old. Where a rotation stands is read from the files alone:
 *
 *   stage      X.crt           X.key   X-next.{crt,key}
 *   idle       [A]             A       -
 *   trusting   [A]             A       B      (trust points are being given A and B)
 *   trusted    [A, B]          A       B      (reissue signs with B, certificate by certificate)
 *   reissued   [B, A]          B       -      (finalize drops A from every trust point)
 *
 * The first certificate of X.crt is always the one X.key belongs to, as kubeadm reads a CA
 * (TryLoadCertAndKeyFromDisk takes the first certificate of the file), so kubeadm and kpki commands
 * run during a rotation sign with the CA of the moment. Each phase is a list of edits computed from
 * the files; an edit already made is not in the list, so a phase that was interrupted, or run twice,
 * goes on where it stopped. A phase whose predecessor's list is not empty refuses, saying what is left.
 *
 * kube-controller-manager signs with --cluster-signing-cert-file, which must hold one certificate
 * (kubernetes/kubeadm#1350), so while ca.crt is a bundle it signs with a pair of its own,
 * ca-signing.{crt,key}, and its static pod manifest names that pair. The service-account key pair
 * (sa.key, sa.pub) is not a CA: tokens are signed with it, not with ca.key, and it is left alone.
 */

export const ROTATE_PHASES = ["trust", "reissue", "finalize"] as const;
export type RotatePhase = (typeof ROTATE_PHASES)[number];
export type CaStage = "idle" | "trusting" | "trusted" | "reissued";
/** The file operations of a rotation: renewal's, and removing pairs, tidying, a lock and the kubelet's files. */
export interface RotatePort extends RenewPort {
  readonly removePair: (keyPath: string, certPath: string) => Promise<void>;
  /** Removes the temporaries interrupted runs left beside these files and in their pair stores. */
  readonly tidy: (paths: readonly string[]) => Promise<void>;
  /** Takes a lock file (refusing one held by a running process); resolves to its release. */
  readonly lock: (path: string, what: string) => Promise<() => Promise<void>>;
  /** Replaces a kubelet certificate-and-key file (`kubelet-client-current.pem`), the kubelet's way when it is a symlink. */
  readonly stageKubeletPem: (path: string, data: string) => Promise<StagedChange>;
}

/** kube-public/cluster-info, which joining nodes read (kubeadm's bootstrap-token discovery). */
export interface ClusterInfoPort {
  /** Its data.kubeconfig, or undefined when the ConfigMap does not exist. */
  readonly read: () => Promise<string | undefined>;
  /** Replaces data.kubeconfig; refuses if the ConfigMap changed since it was read. */
  readonly write: (kubeconfig: string) => Promise<void>;
}

export interface RotateDeps {
  readonly crypto: Crypto;
  readonly now: Date;
  readonly log: (line: string) => void;
  readonly port: RotatePort;
  /** Given (`--kubeconfig`), trust and finalize edit cluster-info's CA too. */
  readonly clusterInfo?: ClusterInfoPort | undefined;
}

export interface RotateOptions {
  readonly cas: readonly CaName[];
  /** kubeadm's static pod manifests (kube-controller-manager.yaml is edited when it is there). */
  readonly manifestsDir: string;
  readonly backupDir: string;
  readonly dryRun: boolean;
  /** A new CA to use instead of generating one (trust, one CA). */
  readonly supplied?: { readonly certPem: string; readonly keyPem: string } | undefined;
}

/** One edit of a phase, as the plan shows it. */
export interface RotateEdit {
  readonly file: string;
  readonly change: string;
}

/** What a phase of one CA still has to do, and whom to restart after it. */
export interface PhasePlan {
  readonly phase: RotatePhase;
  /** Empty when the phase is complete (or has nothing to do). */
  readonly edits: readonly RotateEdit[];
  readonly restart: readonly string[];
  /** Why the phase cannot run now, if it cannot. */
  readonly refused?: string | undefined;
}

/** A CA certificate as the plan shows it. */
export interface CaCertificateView {
  readonly role: "current" | "old" | "new";
  readonly serial: string;
  readonly notAfter: string;
  /** kubeadm join's --discovery-token-ca-cert-hash for this CA (ca only). */
  readonly discoveryHash?: string | undefined;
}

export interface CaPlan {
  readonly ca: CaName;
  readonly file: string;
  readonly stage: CaStage;
  readonly certificates: readonly CaCertificateView[];
  /** The phase to run next (trust when no rotation is under way). */
  readonly next: RotatePhase;
  readonly phases: readonly PhasePlan[];
  readonly notes: readonly string[];
}

interface Pair {
  readonly certificate: ParsedCertificate;
  readonly key: KeyPair;
  readonly keyPem: string;
}

/** What is on disk for one CA. */
interface CaView {
  readonly ca: CaName;
  readonly paths: { readonly cert: string; readonly key: string };
  readonly nextPaths: { readonly cert: string; readonly key: string };
  readonly bundle: readonly ParsedCertificate[];
  readonly keyPem: string;
  readonly stage: CaStage;
  /** The CA being replaced (idle: the only one). */
  readonly old: ParsedCertificate;
  /** The CA replacing it, with its key; undefined when idle. */
  readonly fresh: Pair | undefined;
  /** X-next is there (trusting, trusted; reissued with its clean-up pending). */
  readonly nextOnDisk: boolean;
  /** X-next.key without X-next.crt: an interrupted creation. */
  readonly nextKeyOnly: boolean;
}

const pemOf = (certs: readonly ParsedCertificate[]): string => certs.map((c) => c.pem).join("");
const sameCert = (a: ParsedCertificate, b: ParsedCertificate): boolean => a.pem === b.pem;
const sameList = (a: readonly ParsedCertificate[], b: readonly ParsedCertificate[]): boolean => a.length === b.length && a.every((c, i) => sameCert(c, b[i]!));
const fileName = (path: string): string => path.slice(path.lastIndexOf("/") + 1);

/** kubeadm join's --discovery-token-ca-cert-hash: SHA-256 of the CA's SubjectPublicKeyInfo (pubkeypin). */
export async function discoveryHash(cert: ParsedCertificate, crypto: Crypto): Promise<string> {
  return `sha256:${bytesToHex(new Uint8Array(await crypto.subtle.digest("SHA-256", cert.spki)))}`;
}

/** Where the new CA waits during a rotation: X-next.{crt,key} beside X. */
export const nextPaths = (certificatesDir: string, ca: CaName) => pkiPaths(certificatesDir, `${caEntry(ca).baseName}-next`);
/** kube-controller-manager's static pod manifest in `manifestsDir`. */
const kcmManifestPath = (manifestsDir: string): string => `${manifestsDir.replace(/\/+$/, "")}/kube-controller-manager.yaml`;
/** kube-controller-manager's signing pair while ca.crt is a bundle. */
export const signingPaths = (certificatesDir: string) => pkiPaths(certificatesDir, "ca-signing");

async function readPair(read: RenewPort["read"], certPath: string, keyPath: string, crypto: Crypto): Promise<{ bundle: ParsedCertificate[]; pair?: Pair; keyOnly: boolean } | undefined> {
  const [certText, keyPem] = await Promise.all([read(certPath), read(keyPath)]);
  if (certText === undefined) return keyPem === undefined ? undefined : { bundle: [], keyOnly: true };
  let bundle: ParsedCertificate[];
  try {
    bundle = parseCertificatesPem(certText);
  } catch (error) {
    throw mismatch(`failure loading ${certPath}: ${(error as Error).message}`);
  }
  const first = bundle[0];
  if (!first) throw mismatch(`${certPath} holds no certificate`);
  for (const c of bundle) if (!c.isCa) throw mismatch(`${certPath} holds a certificate that is not a CA (serial ${c.serialHex})`);
  if (keyPem === undefined) return { bundle, keyOnly: false };
  let key: KeyPair;
  try {
    key = await parsePrivateKeyPem(keyPem, crypto);
  } catch (error) {
    throw mismatch(`failure loading ${keyPath}: ${(error as Error).message}`);
  }
  if (!(await keyMatchesCertificate(first, key, crypto))) throw mismatch(`${keyPath} is not the key of the first certificate in ${certPath}`);
  return { bundle, pair: { certificate: first, key, keyPem }, keyOnly: false };
}

async function viewCa(cfg: ClusterConfig, ca: CaName, deps: RotateDeps): Promise<CaView> {
  const paths = caPaths(cfg.certificatesDir, ca);
  const next = nextPaths(cfg.certificatesDir, ca);
  const name = caEntry(ca).baseName;
  const here = await readPair(deps.port.read, paths.cert, paths.key, deps.crypto);
  if (!here || here.keyOnly) throw mismatch(`${paths.cert} does not exist: there is no ${name} certificate authority to rotate`);
  if (!here.pair) throw mismatch(`${paths.key} does not exist: the ${name} certificate authority is external; rotate it where its key is`);
  const nx = await readPair(deps.port.read, next.cert, next.key, deps.crypto);
  if (nx && !nx.keyOnly && !nx.pair) throw mismatch(`${next.cert} exists without ${fileName(next.key)}; move it away (it is no CA kpki made)`);
  if (nx?.pair && nx.bundle.length !== 1) throw mismatch(`${next.cert} holds ${nx.bundle.length} certificates; it must hold the new CA alone`);
  const n = here.bundle.length;
  const [first, second] = here.bundle;
  const nextPair = nx?.pair;
  const base = { ca, paths, nextPaths: next, bundle: here.bundle, keyPem: here.pair.keyPem, nextOnDisk: nextPair !== undefined, nextKeyOnly: nx?.keyOnly === true };
  if (n > 2) throw mismatch(`${paths.cert} holds ${n} certificates; kpki rotates a CA whose file holds one (two during a rotation)`);
  if (n === 1 && !nextPair) return { ...base, stage: "idle", old: first!, fresh: undefined };
  if (n === 1 && nextPair) {
    if (sameCert(nextPair.certificate, first!)) throw mismatch(`${next.cert} is the CA of ${paths.cert} itself; move ${fileName(next.cert)} and ${fileName(next.key)} away`);
    return { ...base, stage: "trusting", old: first!, fresh: nextPair };
  }
  // Two certificates: trusted (X-next is the second) or reissued (X.key is the new CA's; X-next gone, or it is the first).
  if (nextPair && sameCert(nextPair.certificate, second!)) return { ...base, stage: "trusted", old: first!, fresh: nextPair };
  if (!nextPair || sameCert(nextPair.certificate, first!)) return { ...base, stage: "reissued", old: second!, fresh: here.pair };
  throw mismatch(`${next.cert} is neither certificate of ${paths.cert}: the rotation files were changed by hand; restore them from the backup`);
}

/** One edit with what it does; `stage` prepares it (nothing visible changes until the switch). */
interface Edit extends RotateEdit {
  /** Existing files the edit replaces (backed up first). */
  readonly replaces: readonly string[];
  readonly stage: () => Promise<StagedChange | "removed">;
}

interface Ctx {
  readonly cfg: ClusterConfig;
  readonly opts: RotateOptions;
  readonly deps: RotateDeps;
}

/** The kubeadm kubeconfigs in the kubeconfig folder whose cluster trusts the old or the new CA. */
async function kubeconfigsOf(ctx: Ctx, view: CaView): Promise<{ path: string; text: string; ca: ParsedCertificate[] }[]> {
  const found: { path: string; text: string; ca: ParsedCertificate[] }[] = [];
  for (const k of KUBECONFIGS) {
    const path = kubeconfigPaths(ctx.cfg.kubeconfigDir, k.fileName).file;
    const text = await ctx.deps.port.read(path);
    if (text === undefined) continue;
    const v = await readKubeconfig(text, path);
    if (v.caData === undefined) continue;
    let ca: ParsedCertificate[];
    try {
      ca = parseCertificatesPem(v.caData);
    } catch (error) {
      throw mismatch(`${path}: certificate-authority-data is not valid: ${(error as Error).message}`);
    }
    const ours = ca.some((c) => sameCert(c, view.old) || (view.fresh && sameCert(c, view.fresh.certificate)));
    if (ours) found.push({ path, text, ca });
  }
  return found;
}

const RESTARTS: Record<CaName, Record<RotatePhase, readonly string[]>> = {
  ca: {
    trust: ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "pods with in-cluster config (after kube-controller-manager)"],
    reissue: ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"],
    finalize: ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "pods with in-cluster config (after kube-controller-manager)"],
  },
  // kube-controller-manager reads front-proxy-ca.crt too (kubeadm's --requestheader-client-ca-file).
  "front-proxy-ca": {
    trust: ["kube-apiserver", "kube-controller-manager"],
    reissue: ["kube-apiserver"],
    finalize: ["kube-apiserver", "kube-controller-manager"],
  },
  "etcd-ca": {
    trust: ["etcd (one member at a time)", "kube-apiserver"],
    reissue: ["etcd (one member at a time)", "kube-apiserver"],
    finalize: ["etcd (one member at a time)", "kube-apiserver"],
  },
};

/**
 * The edits that bring every trust point of `view` to the phase's CAs: the kubeconfigs, and for ca
 * kube-controller-manager's signing pair and manifest; X.crt last, so that its stage moves on only
 * once the rest is done. Without a new CA (a plan before trust) they describe what trust will do.
 */
async function trustEdits(ctx: Ctx, view: CaView, phase: "trust" | "finalize"): Promise<Edit[]> {
  const { port, crypto } = ctx.deps;
  const edits: Edit[] = [];
  const fresh = view.fresh;
  const wanted = phase === "finalize" ? [fresh?.certificate ?? view.old] : fresh ? [view.old, fresh.certificate] : undefined;
  const differs = (have: readonly ParsedCertificate[]): boolean => wanted === undefined || !sameList(have, wanted);
  const trustText = phase === "finalize" ? "the new CA alone" : "the current CA and the new one";
  const notYet = (): Promise<never> => Promise.reject(new PkiError("io", "there is no new CA yet"));
  if (view.ca === "ca") {
    for (const k of await kubeconfigsOf(ctx, view)) {
      if (!differs(k.ca)) continue;
      edits.push({ file: k.path, change: `certificate-authority-data: ${trustText}`, replaces: [k.path],
        stage: async () => (wanted ? port.stageFile(k.path, await withClusterCaData(k.text, k.path, pemOf(wanted))) : notYet()) });
    }
    const signing = signingPaths(ctx.cfg.certificatesDir);
    const onDisk = await readPair(port.read, signing.cert, signing.key, crypto).catch(() => undefined);
    const manifestPath = kcmManifestPath(ctx.opts.manifestsDir);
    const manifest = await port.read(manifestPath);
    const caFiles = caPaths(ctx.cfg.certificatesDir, "ca");
    if (phase === "finalize") {
      if (manifest !== undefined) {
        const edited = kcmManifestSigning(manifest, signing, caFiles);
        if (edited !== manifest) edits.push({ file: manifestPath, change: `--cluster-signing-cert-file/--cluster-signing-key-file: ${fileName(caFiles.cert)}, ${fileName(caFiles.key)} again`, replaces: [manifestPath], stage: () => port.stageFile(manifestPath, edited) });
      }
      if (onDisk) edits.push({ file: signing.cert, change: `removed with ${fileName(signing.key)} (kube-controller-manager signs with ${fileName(caFiles.cert)} again)`, replaces: [signing.cert, signing.key], stage: async () => (await port.removePair(signing.key, signing.cert), "removed") });
    } else {
      // Until reissue, kube-controller-manager signs with the current CA, from a file of its own
      // (reissue, once under way, gives it the new one).
      const signsWith = (c: ParsedCertificate | undefined) => c !== undefined && onDisk?.pair !== undefined && sameList(onDisk.bundle, [c]);
      if (!signsWith(view.old) && !signsWith(fresh?.certificate)) {
        edits.push({ file: signing.cert, change: `${fileName(signing.cert)} and ${fileName(signing.key)}: the current CA alone, for kube-controller-manager's --cluster-signing-*-file`, replaces: [signing.cert, signing.key],
          stage: () => port.stagePair(signing.key, signing.cert, view.keyPem, view.old.pem) });
      }
      if (manifest !== undefined) {
        const edited = kcmManifestSigning(manifest, caFiles, signing);
        if (edited !== manifest) edits.push({ file: manifestPath, change: `--cluster-signing-cert-file/--cluster-signing-key-file: ${fileName(signing.cert)}, ${fileName(signing.key)}`, replaces: [manifestPath], stage: () => port.stageFile(manifestPath, edited) });
      }
    }
  }
  if (view.ca === "ca" && ctx.deps.clusterInfo) {
    const api = ctx.deps.clusterInfo;
    const where = "kube-public/cluster-info";
    const text = await api.read();
    if (text !== undefined) {
      const have = (await clustersCaData(text, where)).flatMap((pem) => parseCertificatesPem(pem));
      const ours = have.some((c) => sameCert(c, view.old) || (fresh !== undefined && sameCert(c, fresh.certificate)));
      if (ours && differs(have)) {
        edits.push({ file: where, change: `kubeconfig's certificate-authority-data: ${trustText} (what joining nodes pin)`, replaces: [],
          stage: async () => {
            if (!wanted) return notYet();
            const edited = await withAllClustersCaData(text, where, pemOf(wanted));
            return { switch: () => api.write(edited), rollBack: async () => undefined, discard: async () => undefined, commit: async () => undefined };
          } });
      }
    }
  }
  if (phase === "trust" && differs(view.bundle)) {
    edits.push({ file: view.paths.cert, change: `the current CA and the new one (${fileName(view.paths.key)} unchanged)`, replaces: [view.paths.cert, view.paths.key],
      stage: () => (wanted ? port.stagePair(view.paths.key, view.paths.cert, view.keyPem, pemOf(wanted)) : notYet()) });
  }
  if (phase === "finalize" && view.bundle.length > 1 && fresh) {
    edits.push({ file: view.paths.cert, change: "the new CA alone", replaces: [view.paths.cert, view.paths.key], stage: () => port.stagePair(view.paths.key, view.paths.cert, fresh.keyPem, fresh.certificate.pem) });
  }
  return edits;
}

/** An edit the plan tells of but that cannot be made yet (its phase is refused, or its new CA not made). */
const toldOnly = (e: RotateEdit): Edit => ({ ...e, replaces: [], stage: () => Promise.reject(new PkiError("io", `${e.file}: this edit comes later in the rotation`)) });

/** What finalize will do, told before there is a new CA (a plan before reissue). */
async function finalizeOutline(ctx: Ctx, view: CaView): Promise<Edit[]> {
  const out: RotateEdit[] = [];
  if (view.ca === "ca") {
    for (const k of await kubeconfigsOf(ctx, view)) out.push({ file: k.path, change: "certificate-authority-data: the new CA alone" });
    const manifestPath = kcmManifestPath(ctx.opts.manifestsDir);
    if ((await ctx.deps.port.read(manifestPath)) !== undefined) out.push({ file: manifestPath, change: "--cluster-signing-cert-file/--cluster-signing-key-file: ca.crt, ca.key again" });
    out.push({ file: signingPaths(ctx.cfg.certificatesDir).cert, change: "removed with ca-signing.key (kube-controller-manager signs with ca.crt again)" });
  }
  out.push({ file: view.paths.cert, change: "the new CA alone" });
  return out.map(toldOnly);
}

/** The certificates signed by `ca` that reissue re-signs: kubeadm's leaves and kubeconfigs (kubelet.conf when embedded). */
function leafTargets(cfg: ClusterConfig, ca: CaName): RenewTarget[] {
  const targets = renewTargets(cfg.etcd.external).filter((t) => t.ca === ca);
  if (ca === "ca") targets.push({ name: "kubelet.conf", longName: "kubelet.conf", ca, kind: "kubeconfig", file: "kubelet.conf" });
  return targets;
}

async function reissueEdits(ctx: Ctx, view: CaView): Promise<Edit[]> {
  const { port, crypto, now } = ctx.deps;
  const fresh = view.fresh;
  const edits: Edit[] = [];
  // A kubeconfig given a new client certificate keeps trusting both CAs until finalize.
  const trustPem = pemOf(fresh ? [view.old, fresh.certificate] : [view.old]);
  for (const t of leafTargets(ctx.cfg, view.ca)) {
    if (t.kind === "pki") {
      const { cert, key } = pkiPaths(ctx.cfg.certificatesDir, t.file);
      const text = await port.read(cert);
      if (text === undefined) continue;
      const [current] = parseCertificatesPem(text);
      if (!current) throw mismatch(`${cert} holds no certificate`);
      if (fresh && (await isSignedBy(current, fresh.certificate, crypto))) continue;
      edits.push({
        file: cert, change: `re-signed by the new CA, with a new key (${t.name})`, replaces: [cert, key],
        stage: async () => {
          const k = await generateKeyPair(ctx.cfg.encryptionAlgorithm, crypto);
          const made = await renewedCertificate(current, k, requireFresh(view), ctx.cfg, now, crypto);
          return port.stagePair(key, cert, made.keyPem, made.cert.pem);
        },
      });
      continue;
    }
    const path = kubeconfigPaths(ctx.cfg.kubeconfigDir, t.file).file;
    const text = await port.read(path);
    if (text === undefined) continue;
    const v = await readKubeconfig(text, path);
    if (v.clientCertData === undefined) {
      // The kubelet's own files (kubeadm's kubelet.conf after TLS bootstrap): its client certificate,
      // and beside it the serving certificate kube-controller-manager signed (serverTLSBootstrap).
      if (v.clientCertFile !== undefined) edits.push(...(await kubeletPemEdits(ctx, view, v.clientCertFile)));
      continue;
    }
    const [current] = parseCertificatesPem(v.clientCertData);
    if (!current) throw mismatch(`${path}: client-certificate-data holds no certificate`);
    if (fresh && (await isSignedBy(current, fresh.certificate, crypto))) continue;
    edits.push({
      file: path, change: `client certificate re-signed by the new CA, with a new key (${t.name})`, replaces: [path],
      stage: async () => {
        const k = await generateKeyPair(ctx.cfg.encryptionAlgorithm, crypto);
        const made = await renewedCertificate(current, k, requireFresh(view), ctx.cfg, now, crypto);
        return port.stageFile(path, await withRenewedClientCert(text, path, made.cert.pem, made.keyPem, trustPem));
      },
    });
  }
  if (view.ca === "ca") {
    const signing = signingPaths(ctx.cfg.certificatesDir);
    const onDisk = await readPair(port.read, signing.cert, signing.key, crypto).catch(() => undefined);
    // (Reissued and no pair: finalize has removed it.)
    const removed = view.stage === "reissued" && !onDisk;
    if (!removed && (!fresh || !onDisk?.pair || !sameList(onDisk.bundle, [fresh.certificate]))) {
      edits.push({ file: signing.cert, change: `${fileName(signing.cert)} and ${fileName(signing.key)}: the new CA (kube-controller-manager signs with it)`, replaces: [signing.cert, signing.key],
        stage: () => { const f = requireFresh(view); return port.stagePair(signing.key, signing.cert, f.keyPem, f.certificate.pem); } });
    }
  }
  if (view.stage !== "reissued") {
    edits.push({ file: view.paths.cert, change: `the new CA first, then the current one; ${fileName(view.paths.key)}: the new CA's key`, replaces: [view.paths.cert, view.paths.key],
      stage: () => { const f = requireFresh(view); return port.stagePair(view.paths.key, view.paths.cert, f.keyPem, pemOf([f.certificate, view.old])); } });
  }
  if (view.nextOnDisk || view.stage !== "reissued") {
    edits.push({ file: view.nextPaths.cert, change: `removed with ${fileName(view.nextPaths.key)} (the new CA is ${fileName(view.paths.cert)}'s first certificate now)`, replaces: [view.nextPaths.cert, view.nextPaths.key],
      stage: async () => (await port.removePair(view.nextPaths.key, view.nextPaths.cert), "removed") });
  }
  return edits;
}

/** Every file a rotation of `ca` may write. */
async function filesOf(ctx: Ctx, ca: CaName): Promise<string[]> {
  const { cfg, opts } = ctx;
  const pairs = [caPaths(cfg.certificatesDir, ca), nextPaths(cfg.certificatesDir, ca), ...(ca === "ca" ? [signingPaths(cfg.certificatesDir)] : [])];
  const leaves = leafTargets(cfg, ca).map((t) => (t.kind === "pki" ? pkiPaths(cfg.certificatesDir, t.file).cert : kubeconfigPaths(cfg.kubeconfigDir, t.file).file));
  const out = [...pairs.map((p) => p.cert), ...leaves];
  if (ca !== "ca") return out;
  const kubelet = kubeconfigPaths(cfg.kubeconfigDir, "kubelet.conf").file;
  const text = await ctx.deps.port.read(kubelet);
  const clientFile = text === undefined ? undefined : (await readKubeconfig(text, kubelet).catch(() => undefined))?.clientCertFile;
  return [...out, kcmManifestPath(opts.manifestsDir), ...(clientFile ? [clientFile] : [])];
}

/**
 * The kubelet's certificate-and-key files signed by the old CA: `client` (kubelet.conf names it) and
 * `kubelet-server-current.pem` beside it. Each is re-signed by the new CA with its key and names
 * kept, so that the API server still accepts the kubelet, and the kubelet still serves it, after
 * finalize. A kubelet that renews them itself would get them from kube-controller-manager, which
 * signs with the new CA after reissue, but only at 70-90% of their lifetime.
 */
async function kubeletPemEdits(ctx: Ctx, view: CaView, client: string): Promise<Edit[]> {
  const { port, crypto, now } = ctx.deps;
  const edits: Edit[] = [];
  for (const path of [client, `${dirOf(client)}/kubelet-server-current.pem`]) {
    const text = await port.read(path);
    if (text === undefined) continue;
    const [current] = parseCertificatesPem(text);
    if (!current || !(await isSignedBy(current, view.old, crypto))) continue;
    if (view.fresh && (await isSignedBy(current, view.fresh.certificate, crypto))) continue;
    edits.push({
      file: path, change: "re-signed by the new CA, its key and names kept (the kubelet's own file)", replaces: [path],
      stage: async () => {
        const key = await parsePrivateKeyPem(text, crypto);
        const keyBlock = /-----BEGIN (?:EC |RSA )?PRIVATE KEY-----[\s\S]*?-----END (?:EC |RSA )?PRIVATE KEY-----\n?/.exec(text)?.[0];
        if (!keyBlock) throw mismatch(`${path} holds no private key`);
        const made = await renewedCertificate(current, key, requireFresh(view), ctx.cfg, now, crypto);
        return port.stageKubeletPem(path, `${made.cert.pem}${keyBlock.endsWith("\n") ? keyBlock : `${keyBlock}\n`}`);
      },
    });
  }
  return edits;
}

function requireFresh(view: CaView): Pair {
  if (!view.fresh) throw new PkiError("io", `no new ${caEntry(view.ca).baseName} CA is in place`);
  return view.fresh;
}

/** The new CA for trust: X-next if it is there, else the one supplied, else a new one with kubeadm's CA template. */
async function freshCa(ctx: Ctx, view: CaView): Promise<{ pair: Pair; created: boolean }> {
  const { crypto, now } = ctx.deps;
  if (view.fresh) {
    if (ctx.opts.supplied && ctx.opts.supplied.certPem.trim() !== view.fresh.certificate.pem.trim()) {
      throw mismatch(`a new ${caEntry(view.ca).baseName} CA is already in place (${view.nextPaths.cert}); move ${fileName(view.nextPaths.cert)} and ${fileName(view.nextPaths.key)} away to supply another`);
    }
    return { pair: view.fresh, created: false };
  }
  if (ctx.opts.supplied) {
    const got = await readPairText(ctx.opts.supplied.certPem, ctx.opts.supplied.keyPem, crypto);
    if (sameCert(got.certificate, view.old) || bytesToHex(got.certificate.spki) === bytesToHex(view.old.spki)) throw invalidInput("the supplied CA is the current one (same key); a rotation needs a new key");
    return { pair: got, created: true };
  }
  const entry = caEntry(view.ca);
  const made = await createStandaloneCa({ commonName: entry.commonName, organizations: [], algorithm: ctx.cfg.encryptionAlgorithm, validityMs: ctx.cfg.caCertificateValidityMs, backdateMs: DEFAULTS.backdateMs }, now, crypto);
  return { pair: { certificate: made.certificate, key: await parsePrivateKeyPem(made.keyPem, crypto), keyPem: made.keyPem }, created: true };
}

async function readPairText(certPem: string, keyPem: string, crypto: Crypto): Promise<Pair> {
  const certs = parseCertificatesPem(certPem);
  const certificate = certs[0];
  if (!certificate || certs.length !== 1) throw invalidInput(`the supplied CA certificate file must hold one certificate (it holds ${certs.length})`);
  if (!certificate.isCa) throw invalidInput("the supplied certificate is not a CA: its basicConstraints do not say CA:TRUE");
  const key = await parsePrivateKeyPem(keyPem, crypto);
  if (!(await keyMatchesCertificate(certificate, key, crypto))) throw invalidInput("the supplied key is not the supplied CA certificate's");
  return { certificate, key, keyPem };
}

/**
 * A rotation phase's backup folder beside the cert dir: `<certDir>-backup-<UTC time with ms>-<phase>`
 * (milliseconds: a phase run again at once, after an interruption, gets a folder of its own).
 */
export const rotationBackupDir = (certificatesDir: string, now: Date, phase: RotatePhase): string =>
  `${certificatesDir.replace(/\/+$/, "")}-backup-${now.toISOString().replace(/[-:]/g, "")}-${phase}`;

/**
 * The edits of `phase` for one CA and, if it cannot run now, why (the edits are then what it will
 * do, for the plan).
 */
async function phaseEdits(ctx: Ctx, view: CaView, phase: RotatePhase): Promise<{ edits: Edit[]; refused?: string }> {
  const name = caEntry(view.ca).baseName;
  const left = (p: RotatePhase, n: number) => `${p} is not complete for ${name} (${n} edit${n === 1 ? "" : "s"} left): run \`kpki ca rotate ${p}\` first`;
  const trustLeft = async (): Promise<number> => (await trustEdits(ctx, view, "trust")).length + (view.fresh ? 0 : 1);
  if (phase === "trust") {
    if (view.stage === "reissued") return { edits: [], refused: `${name} is past trust (the new CA signs already): run \`kpki ca rotate finalize\`` };
    const edits = await trustEdits(ctx, view, "trust");
    if (!view.fresh) edits.unshift(toldOnly({ file: view.nextPaths.cert, change: `the new CA (and ${fileName(view.nextPaths.key)})` }));
    return { edits };
  }
  if (phase === "reissue") {
    const edits = await reissueEdits(ctx, view);
    if (view.stage === "reissued") return { edits };
    const n = await trustLeft();
    return n ? { edits, refused: left("trust", n) } : { edits };
  }
  if (view.stage === "idle" && !view.fresh) {
    // No rotation under way: finalize only clears what an earlier one left (nothing, normally).
    return { edits: await trustEdits(ctx, view, "finalize") };
  }
  if (view.stage !== "reissued") {
    const n = await trustLeft();
    return { edits: await finalizeOutline(ctx, view), refused: n ? left("trust", n) : left("reissue", (await reissueEdits(ctx, view)).length) };
  }
  const r = await reissueEdits(ctx, view);
  if (r.length) return { edits: await trustEdits(ctx, view, "finalize"), refused: left("reissue", r.length) };
  return { edits: await trustEdits(ctx, view, "finalize") };
}

async function caPlan(ctx: Ctx, view: CaView): Promise<CaPlan> {
  const { crypto } = ctx.deps;
  const notes: string[] = [];
  const cert = async (role: CaCertificateView["role"], c: ParsedCertificate): Promise<CaCertificateView> =>
    ({ role, serial: c.serialHex, notAfter: c.notAfter.toISOString(), discoveryHash: view.ca === "ca" ? await discoveryHash(c, crypto) : undefined });
  const certificates = view.fresh ? [await cert("old", view.old), await cert("new", view.fresh.certificate)] : [await cert("current", view.old)];
  const phases: PhasePlan[] = [];
  for (const phase of ROTATE_PHASES) {
    const { edits, refused } = await phaseEdits(ctx, view, phase);
    phases.push({ phase, edits: edits.map(({ file, change }) => ({ file, change })), restart: RESTARTS[view.ca][phase], refused });
  }
  if (view.stage === "idle" && !phases[2]!.edits.length) {
    // Nothing left over from an earlier rotation: show what finalize will do in this one.
    phases[2] = { ...phases[2]!, edits: await finalizeOutline(ctx, view), refused: `finalize comes after trust and reissue for ${caEntry(view.ca).baseName}` };
  }
  const [trust, reissue, finalize] = phases as [PhasePlan, PhasePlan, PhasePlan];
  // The first phase that can run and has something to do; idle with nothing left over: a new rotation.
  const next: RotatePhase = !trust.refused && trust.edits.length && view.stage !== "idle"
    ? "trust"
    : !reissue.refused && reissue.edits.length
      ? "reissue"
      : !finalize.refused && finalize.edits.length
        ? "finalize"
        : "trust";
  if (view.ca === "ca") notes.push("The service-account key pair (sa.key, sa.pub) is not a CA and is not rotated: tokens issued before the rotation stay valid.");
  return { ca: view.ca, file: view.paths.cert, stage: view.stage, certificates, next, phases, notes: [...new Set(notes)] };
}

/** Where every asked CA stands, and what each phase would do (`kpki ca rotate plan`). Reads only. */
export async function planRotation(cfg: ClusterConfig, opts: RotateOptions, deps: RotateDeps): Promise<CaPlan[]> {
  const ctx = { cfg, opts, deps };
  const plans: CaPlan[] = [];
  for (const ca of opts.cas) plans.push(await caPlan(ctx, await viewCa(cfg, ca, deps)));
  return plans;
}

/**
 * Runs one phase for every asked CA: every CA is read and checked first (a refusal changes
 * nothing), then the files the phase replaces are backed up, then each edit is staged and switched
 * on its own (each file is old or new at every moment). Interrupted, the phase goes on where it
 * stopped when it is run again. Returns the plan as it stands after.
 */
export async function runRotation(cfg: ClusterConfig, phase: RotatePhase, opts: RotateOptions, deps: RotateDeps): Promise<CaPlan[]> {
  const { port } = deps;
  if (opts.supplied && opts.cas.length !== 1) throw invalidInput("a supplied CA (--new-cert, --new-key) rotates one CA: name it with --ca");
  if (opts.supplied && phase !== "trust") throw invalidInput("--new-cert and --new-key belong to the trust phase");
  // One phase at a time on these files: a second run would read them while the first writes.
  const release = opts.dryRun ? undefined : await port.lock(`${cfg.certificatesDir.replace(/\/+$/, "")}/.kpki-rotate.lock`, "kpki ca rotate");
  try {
    return await runLocked(cfg, phase, opts, deps);
  } finally {
    await release?.();
  }
}

async function runLocked(cfg: ClusterConfig, phase: RotatePhase, opts: RotateOptions, deps: RotateDeps): Promise<CaPlan[]> {
  const { port, log } = deps;
  const ctx = { cfg, opts, deps };
  const work: { ca: CaName; edits: Edit[]; idle: boolean }[] = [];
  for (const ca of opts.cas) {
    let view = await viewCa(cfg, ca, deps);
    const first: Edit[] = [];
    if (phase === "trust" && view.stage !== "reissued") {
      const f = await freshCa(ctx, view);
      if (f.created) {
        const v = view;
        first.push({ file: v.nextPaths.cert, change: `the new CA (and ${fileName(v.nextPaths.key)})`, replaces: v.nextKeyOnly ? [v.nextPaths.key] : [],
          stage: () => port.stagePair(v.nextPaths.key, v.nextPaths.cert, f.pair.keyPem, f.pair.certificate.pem) });
      }
      view = { ...view, stage: view.stage === "idle" ? "trusting" : view.stage, fresh: f.pair };
    }
    // Refused, the edits are only told of; otherwise they are exactly what the phase makes.
    const { edits, refused } = await phaseEdits(ctx, view, phase);
    if (refused) throw mismatch(refused);
    work.push({ ca, edits: [...first, ...edits], idle: view.stage === "idle" });
  }
  const all = work.flatMap((w) => w.edits);
  const prefix = opts.dryRun ? "[dryrun] " : "";
  for (const w of work) {
    const name = caEntry(w.ca).baseName;
    if (!w.edits.length) log(`${prefix}[rotate] ${name}: ${phase === "finalize" && w.idle ? "no rotation under way; finalize" : phase} has nothing left to do`);
    for (const e of w.edits) log(`${prefix}[rotate] ${name}: ${e.file}: ${e.change}`);
  }
  const backupFiles = [...new Set(all.flatMap((e) => e.replaces))];
  if (opts.dryRun) {
    if (backupFiles.length) log(`[dryrun] would back up ${backupFiles.length} files to "${opts.backupDir}"`);
    return planRotation(cfg, opts, deps);
  }
  // An interrupted run may have left temporaries beside a file it had finished; this run does not stage that file again.
  await port.tidy((await Promise.all(opts.cas.map((ca) => filesOf(ctx, ca)))).flat());
  if (all.length) {
    for (const d of new Set([...all.map((e) => dirOf(e.file)), dirOf(opts.backupDir.replace(/\/+$/, ""))])) await port.checkWritable(d);
    const roots = [cfg.certificatesDir, cfg.kubeconfigDir, opts.manifestsDir].map((r) => r.replace(/\/+$/, ""));
    const rel = (path: string): string => {
      // The most specific root first: the cert dir is usually inside the kubeconfig dir.
      const order = roots.map((r, i) => ({ r, i })).sort((a, b) => b.r.length - a.r.length);
      for (const { r, i } of order) if (path.startsWith(`${r}/`)) return `${["pki", "kubeconfig", "manifests"][i]}/${path.slice(r.length + 1)}`;
      return `other/${path.replace(/^\/+/, "")}`;
    };
    const present: string[] = [];
    for (const f of backupFiles) if ((await port.read(f)) !== undefined) present.push(f);
    if (present.length) {
      const backup = await port.backup(opts.backupDir, present.map((from) => ({ from, to: rel(from) })));
      backup.keep();
      log(`[rotate] Backed up ${present.length} files to "${opts.backupDir}"`);
    }
    for (const e of all) {
      const staged = await e.stage();
      if (staged === "removed") continue;
      try {
        await port.uninterruptible(() => staged.switch());
      } catch (error) {
        await staged.rollBack().catch(() => undefined);
        await staged.discard().catch(() => undefined);
        throw new PkiError("io", `${(error as Error).message}; the edits before it are made (run the phase again to go on)`, { cause: error });
      }
      await staged.commit().catch(() => undefined);
    }
  }
  const plans = await planRotation(cfg, opts, deps);
  for (const w of work) if (w.edits.length) log(`[rotate] ${caEntry(w.ca).baseName}: ${phase} done; now restart ${RESTARTS[w.ca][phase].join(", ")}`);
  return plans;
}
