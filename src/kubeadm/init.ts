import { invalidInput, mismatch, PkiError } from "../errors.js";
import {
  createCertificate,
  ipStrings,
  isSignedBy,
  keyMatchesCertificate,
  parseCertificatePem,
  randomSerial,
  type Issuer,
  type ParsedCertificate,
} from "../pki/cert.js";
import { dnsNameMatches } from "../pki/dns.js";
import { formatIp } from "../pki/ip.js";
import {
  generateKeyPair,
  parsePrivateKeyPem,
  privateKeyToPem,
  publicKeyToPem,
  type KeyAlgorithm,
  type KeyPair,
} from "../pki/keys.js";
import {
  caEntry,
  CERT_PHASE_ORDER,
  KUBECONFIGS,
  type CaEntry,
  type CaName,
  type KubeconfigEntry,
  type LeafEntry,
} from "./catalogue.js";
import type { ClusterConfig } from "./config.js";
import { controlPlaneApiEndpoint, localApiEndpoint, readKubeconfig, renderKubeconfig } from "./kubeconfig.js";
import { kubeconfigUser, resolveCaSpec, resolveKubeconfigCertSpec, resolveLeafSpec, type ResolvedSpec } from "./resolve.js";
import { caLocation, dirOf, isExternalCa, kubeconfigPaths, loadCaFiles, pkiPaths, saPaths } from "./files.js";
import { MODES, type PkiStore } from "./store.js";

/** What `kpki init` and its phases run. */
export interface InitSelection {
  /** Cert phase names (`ca`, `apiserver`, ..., `sa`), or undefined for none. */
  readonly certs?: readonly string[];
  /** Kubeconfig phase names (`admin`, `kubelet`, ...), or undefined for none. */
  readonly kubeconfigs?: readonly string[];
}

/** Everything init needs from outside: time, crypto, files and output. */
export interface InitDeps {
  readonly crypto: Crypto;
  readonly store: PkiStore;
  /** The process start time, as kubeadm's StartTimeUTC(). */
  readonly now: Date;
  /** kubeadm's stdout lines. */
  readonly log: (line: string) => void;
  /** Warnings (kubeadm prints them through klog on stderr). */
  readonly warn: (line: string) => void;
}

/** The phase names `init phase certs` accepts, in order. */
export const CERT_PHASE_NAMES: readonly string[] = [...CERT_PHASE_ORDER.map((e) => e.name), "sa"];
/** The phase names `init phase kubeconfig` accepts, in order. */
export const KUBECONFIG_PHASE_NAMES: readonly string[] = KUBECONFIGS.map((k) => k.name);

interface CaState {
  readonly entry: CaEntry;
  cert: ParsedCertificate | undefined;
  key: KeyPair | undefined;
  /** Present when this run creates the CA (or finishes one whose key was written before a crash). */
  pending?: Promise<KeyPair>;
  readonly keyless: boolean;
}

type Step =
  | { readonly kind: "ca"; readonly state: CaState }
  | { readonly kind: "ca-external-etcd" }
  | { readonly kind: "leaf"; readonly entry: LeafEntry; readonly action: "create"; readonly key: Promise<KeyPair> }
  | { readonly kind: "leaf"; readonly entry: LeafEntry; readonly action: "reuse" }
  | { readonly kind: "leaf-external-etcd"; readonly entry: LeafEntry }
  | { readonly kind: "sa"; readonly action: "create"; readonly key: Promise<KeyPair> }
  | { readonly kind: "sa"; readonly action: "reuse"; readonly pubMissing?: KeyPair }
  | { readonly kind: "sa"; readonly action: "external" };

const certPath = (cfg: ClusterConfig, baseName: string, ext: "crt" | "key"): string => {
  const paths = pkiPaths(cfg.certificatesDir, baseName);
  return ext === "crt" ? paths.cert : paths.key;
};

/** Starts a key generation now; errors surface when the promise is awaited. */
function startKey(algorithm: KeyAlgorithm, crypto: Crypto): Promise<KeyPair> {
  const p = generateKeyPair(algorithm, crypto);
  p.catch(() => undefined); // awaited later; avoid an unhandled rejection if an earlier step fails first
  return p;
}

async function readCert(store: PkiStore, path: string, what: string): Promise<ParsedCertificate | undefined> {
  const text = await store.read(path);
  if (text === undefined) return undefined;
  try {
    return parseCertificatePem(text);
  } catch (error) {
    throw mismatch(`failure loading ${what} certificate from ${path}: ${(error as Error).message}`);
  }
}

async function readKey(store: PkiStore, path: string, what: string, crypto: Crypto): Promise<KeyPair | undefined> {
  const text = await store.read(path);
  if (text === undefined) return undefined;
  try {
    return await parsePrivateKeyPem(text, crypto);
  } catch (error) {
    throw mismatch(`failure loading ${what} key from ${path}: ${(error as Error).message}`);
  }
}

/** Go's HostnameError text, for an existing cert that lacks an expected SAN. */
function missingSan(cert: ParsedCertificate, spec: ResolvedSpec): string | undefined {
  for (const dns of spec.dnsNames) {
    if (!cert.dnsNames.some((p) => dnsNameMatches(p, dns))) {
      return `x509: certificate is valid for ${cert.dnsNames.join(", ") || "no DNS names"}, not ${dns}`;
    }
  }
  const have = ipStrings(cert);
  for (const ip of spec.ips) {
    if (!have.includes(formatIp(ip))) return `x509: certificate is valid for ${have.join(", ") || "no IP addresses"}, not ${formatIp(ip)}`;
  }
  return undefined;
}

function servingLine(entry: LeafEntry, cert: ParsedCertificate): string | undefined {
  if (!entry.extKeyUsages.some((u) => u === "serverAuth")) return undefined;
  return `[certs] ${entry.baseName} serving cert is signed for DNS names [${cert.dnsNames.join(" ")}] and IPs [${ipStrings(cert).join(" ")}]`;
}

/**
 * `kubeadm init phase certs` + `kubeadm init phase kubeconfig`, idempotent:
 * existing CAs are reused, existing leaves and kubeconfigs are validated and
 * kept, a CA certificate without its key is external-CA mode. Every existing
 * file is checked before anything is written, so bad input changes nothing.
 * Independent keys are generated concurrently; files are written in kubeadm's
 * order, each key before its certificate.
 */
export async function runInit(cfg: ClusterConfig, selection: InitSelection, deps: InitDeps): Promise<void> {
  const { crypto, store, log, warn, now } = deps;
  const certNames = new Set(selection.certs ?? []);
  const kubeconfigNames = new Set(selection.kubeconfigs ?? []);
  for (const n of certNames) if (!CERT_PHASE_NAMES.includes(n)) throw invalidInput(`unknown certificate phase "${n}"`);
  for (const n of kubeconfigNames) if (!KUBECONFIG_PHASE_NAMES.includes(n)) throw invalidInput(`unknown kubeconfig phase "${n}"`);
  const externalEtcd = cfg.etcd.external;

  // ---- Pass 1: read and validate what exists; plan the rest. Nothing is written here, and no key
  // is generated until every folder that will be written has been found writable.
  const writeDirs = new Set<string>();
  const keyStarts: (() => void)[] = [];
  const plannedKey = (dir: string): Promise<KeyPair> => {
    writeDirs.add(dir);
    const p = new Promise<KeyPair>((resolve, reject) => keyStarts.push(() => startKey(cfg.encryptionAlgorithm, crypto).then(resolve, reject)));
    p.catch(() => undefined); // awaited later; avoid an unhandled rejection if an earlier step fails first
    return p;
  };
  const cas = new Map<CaName, CaState>();
  const loadCa = async (name: CaName): Promise<CaState> => {
    const known = cas.get(name);
    if (known) return known;
    const files = await loadCaFiles(store.read, caLocation(cfg.certificatesDir, name), crypto);
    const state: CaState = { entry: caEntry(name), cert: files.certificate, key: files.key, keyless: isExternalCa(files) };
    cas.set(name, state);
    return state;
  };

  const steps: Step[] = [];
  for (const entry of CERT_PHASE_ORDER) {
    if (!certNames.has(entry.name)) continue;
    if (entry.localEtcdOnly && externalEtcd) {
      steps.push(entry.kind === "ca" ? { kind: "ca-external-etcd" } : { kind: "leaf-external-etcd", entry });
      continue;
    }
    if (entry.kind === "ca") {
      const state = await loadCa(entry.name);
      if (!state.cert) {
        // A key without a certificate is what an interrupted earlier run leaves: finish it with that key.
        const dir = dirOf(caLocation(cfg.certificatesDir, entry.name).cert);
        writeDirs.add(dir);
        state.pending = state.key ? Promise.resolve(state.key) : plannedKey(dir);
      }
      steps.push({ kind: "ca", state });
      continue;
    }
    steps.push(await planLeaf(entry));
  }

  async function planLeaf(entry: LeafEntry): Promise<Step> {
    const ca = await loadCa(entry.ca);
    const caDesc = `${ca.entry.baseName} certificate authority`;
    if (!ca.cert && !ca.pending) {
      throw mismatch(`failure loading ${caDesc}: couldn't load the certificate file ${certPath(cfg, ca.entry.baseName, "crt")}`);
    }
    const crtPath = certPath(cfg, entry.baseName, "crt");
    const keyPath = certPath(cfg, entry.baseName, "key");
    const cert = await readCert(store, crtPath, entry.baseName);
    const key = await readKey(store, keyPath, entry.baseName, crypto);
    if (!cert) {
      if (ca.keyless) {
        throw mismatch(`invalid or incomplete external CA: ${entry.uxName} certificate ${crtPath} is missing and ${caDesc} has no key to sign it`);
      }
      writeDirs.add(dirOf(crtPath));
      return { kind: "leaf", entry, action: "create", key: key ? Promise.resolve(key) : plannedKey(dirOf(crtPath)) };
    }
    if (!key) throw mismatch(`certificate ${entry.baseName} exists but its key ${keyPath} is missing`);
    if (!(await keyMatchesCertificate(cert, key, crypto))) throw mismatch(`${keyPath} does not match ${crtPath}`);
    if (!ca.cert || !(await isSignedBy(cert, ca.cert, crypto))) {
      throw mismatch(`certificate ${entry.baseName} is not signed by corresponding CA (${crtPath})`);
    }
    const problem = missingSan(cert, resolveLeafSpec(entry, cfg, now));
    if (problem) throw mismatch(`certificate ${entry.baseName} is invalid: ${problem} (${crtPath})`);
    return { kind: "leaf", entry, action: "reuse" };
  }

  if (certNames.has("sa")) {
    const ca = await loadCa("ca");
    const { key: keyPath, pub: pubPath } = saPaths(cfg.certificatesDir);
    if (ca.keyless) {
      steps.push({ kind: "sa", action: "external" });
    } else {
      const text = await store.read(keyPath);
      if (text === undefined) {
        steps.push({ kind: "sa", action: "create", key: plannedKey(cfg.certificatesDir) });
      } else {
        let key: KeyPair;
        try {
          key = await parsePrivateKeyPem(text, crypto);
        } catch {
          throw mismatch(`file sa.key existed but it could not be loaded properly (${keyPath})`);
        }
        const pubMissing = (await store.read(pubPath)) === undefined;
        if (pubMissing) writeDirs.add(cfg.certificatesDir);
        steps.push(pubMissing ? { kind: "sa", action: "reuse", pubMissing: key } : { kind: "sa", action: "reuse" });
      }
    }
  }

  // Kubeconfigs: validate existing ones against ca.crt; start keys for the rest.
  const kubeconfigPlans: { entry: KubeconfigEntry; path: string; key?: Promise<KeyPair> }[] = [];
  const kubeconfigEntries = KUBECONFIGS.filter((k) => kubeconfigNames.has(k.name));
  if (kubeconfigEntries.length) {
    const ca = await loadCa("ca");
    if (!ca.cert && !ca.pending) {
      throw mismatch(`couldn't create a kubeconfig; the CA files couldn't be loaded: ${certPath(cfg, "ca", "crt")} does not exist`);
    }
    for (const entry of kubeconfigEntries) {
      const path = kubeconfigPaths(cfg.kubeconfigDir, entry.fileName).file;
      const text = await store.read(path);
      if (text === undefined) {
        if (ca.keyless) {
          throw mismatch(`the ${entry.fileName} file does not exists or it is not valid: external CA mode needs a user-provided ${path}`);
        }
        kubeconfigPlans.push({ entry, path, key: plannedKey(cfg.kubeconfigDir) });
        continue;
      }
      const view = await readKubeconfig(text, path);
      if (ca.cert && (view.caData ?? "").trim() !== ca.cert.pem.trim()) {
        throw mismatch(`a kubeconfig file "${path}" exists already but has got the wrong CA cert`);
      }
      if (!ca.cert) {
        throw mismatch(`a kubeconfig file "${path}" exists already but the CA it must match is being created now`);
      }
      const expected = entry.server === "local" ? localApiEndpoint(cfg) : controlPlaneApiEndpoint(cfg);
      if (view.server !== expected) {
        warn(`a kubeconfig file "${path}" exists already but has an unexpected API Server URL: expected: ${expected}, got: ${view.server ?? ""}`);
      }
      kubeconfigPlans.push({ entry, path });
    }
  }

  for (const dir of writeDirs) await store.checkWritable(dir);
  for (const start of keyStarts) start();

  // ---- Pass 2: write, in kubeadm's order.
  const issuerOf = async (name: CaName): Promise<Issuer> => {
    const state = cas.get(name);
    if (!state?.cert || !state.key) throw new PkiError("mismatch", `the ${name} CA has no key to sign with`);
    return { certificate: state.cert, key: state.key };
  };
  // Files are written concurrently (fsync dominates), with two orderings kept: a key before its
  // certificate, and a CA's pair before anything it signed, so an interruption can only leave a
  // key without its certificate, which the next run completes with that key.
  const writes: Promise<void>[] = [];
  const caWritten = new Map<CaName, Promise<void>>();
  const schedule = (after: Promise<void> | undefined, task: () => Promise<void>): Promise<void> => {
    const p = (async () => {
      await after;
      await task();
    })();
    p.catch(() => undefined); // collected below with allSettled
    writes.push(p);
    return p;
  };
  const writePair = async (
    baseName: string,
    key: KeyPair,
    cert: ParsedCertificate,
    after?: Promise<void>,
  ): Promise<{ readonly done: Promise<void> }> => {
    const keyPem = await privateKeyToPem(key, crypto);
    const done = schedule(after, async () => {
      await store.write(certPath(cfg, baseName, "key"), keyPem, MODES.key);
      await store.write(certPath(cfg, baseName, "crt"), cert.pem, MODES.cert);
    });
    return { done };
  };
  // Each line is printed once the files it announces are written, in kubeadm's order; after a
  // failed write no further line is printed, so the output never claims what did not happen.
  let printed: Promise<void> = Promise.resolve();
  const say = (line: string, after?: Promise<void>): void => {
    printed = printed.then(() => after).then(() => log(line));
    printed.catch(() => undefined);
  };
  const issue = async (spec: ResolvedSpec, key: KeyPair, issuer: Issuer | { selfSigned: KeyPair }): Promise<ParsedCertificate> =>
    createCertificate({ ...spec, serial: randomSerial(crypto) }, key.publicKey, issuer, crypto);

  if (steps.length) say(`[certs] Using certificateDir folder "${cfg.certificatesDir}"`);
  for (const step of steps) {
    switch (step.kind) {
      case "ca-external-etcd":
        say("[certs] External etcd mode: Skipping etcd/ca certificate authority generation");
        break;
      case "leaf-external-etcd":
        say(`[certs] External etcd mode: Skipping ${step.entry.baseName} certificate generation`);
        break;
      case "ca": {
        const { state } = step;
        if (state.pending) {
          const key = await state.pending;
          const cert = await issue(resolveCaSpec(state.entry, cfg, now), key, { selfSigned: key });
          const { done } = await writePair(state.entry.baseName, key, cert);
          caWritten.set(state.entry.name, done);
          say(`[certs] Generating "${state.entry.baseName}" certificate and key`, done);
          state.cert = cert;
          state.key = key;
          delete state.pending;
        } else if (state.keyless) {
          say(`[certs] Using existing ${state.entry.baseName} keyless certificate authority`);
        } else {
          say(`[certs] Using existing ${state.entry.baseName} certificate authority`);
        }
        break;
      }
      case "leaf": {
        if (step.action === "reuse") {
          say(`[certs] Using existing ${step.entry.baseName} certificate and key on disk`);
          break;
        }
        const key = await step.key;
        const cert = await issue(resolveLeafSpec(step.entry, cfg, now), key, await issuerOf(step.entry.ca));
        const { done } = await writePair(step.entry.baseName, key, cert, caWritten.get(step.entry.ca));
        say(`[certs] Generating "${step.entry.baseName}" certificate and key`, done);
        const line = servingLine(step.entry, cert);
        if (line) say(line);
        break;
      }
      case "sa": {
        const { key: keyPath, pub: pubPath } = saPaths(cfg.certificatesDir);
        if (step.action === "external") {
          say("[certs] Using existing sa keys");
        } else if (step.action === "reuse") {
          say(`[certs] Using the existing "sa" key`);
          // sa.key without sa.pub is what an interrupted run leaves; complete the pair.
          if (step.pubMissing) {
            const pub = await publicKeyToPem(step.pubMissing.publicKey, crypto);
            schedule(undefined, () => store.write(pubPath, pub, MODES.publicKey));
          }
        } else {
          const key = await step.key;
          const keyPem = await privateKeyToPem(key, crypto);
          const pub = await publicKeyToPem(key.publicKey, crypto);
          const done = schedule(undefined, async () => {
            await store.write(keyPath, keyPem, MODES.key);
            await store.write(pubPath, pub, MODES.publicKey);
          });
          say(`[certs] Generating "sa" key and public key`, done);
        }
        break;
      }
    }
  }

  if (kubeconfigPlans.length) {
    say(`[kubeconfig] Using kubeconfig folder "${cfg.kubeconfigDir}"`);
    const ca = cas.get("ca");
    for (const plan of kubeconfigPlans) {
      if (!plan.key) {
        say(ca?.keyless ? `[kubeconfig] External CA mode: Using user provided ${plan.entry.fileName}` : `[kubeconfig] Using existing kubeconfig file: "${plan.path}"`);
        continue;
      }
      const issuer = await issuerOf("ca");
      const key = await plan.key;
      const spec = resolveKubeconfigCertSpec(plan.entry, cfg, now, issuer.certificate.notBefore);
      const cert = await issue(spec, key, issuer);
      const server = plan.entry.server === "local" ? localApiEndpoint(cfg) : controlPlaneApiEndpoint(cfg, warn);
      const text = renderKubeconfig({
        clusterName: cfg.clusterName,
        server,
        caPem: issuer.certificate.pem,
        user: kubeconfigUser(plan.entry, cfg),
        clientCertPem: cert.pem,
        clientKeyPem: await privateKeyToPem(key, crypto),
      });
      say(`[kubeconfig] Writing "${plan.entry.fileName}" kubeconfig file`, schedule(caWritten.get("ca"), () => store.write(plan.path, text, MODES.kubeconfig)));
    }
  }

  const failure = (await Promise.allSettled(writes)).find((r): r is PromiseRejectedResult => r.status === "rejected");
  await printed.catch(() => undefined);
  if (failure) throw failure.reason;
}

/** Every cert phase name in `all` order (for `init phase certs all`). */
export const allCertPhases = (): string[] => [...CERT_PHASE_NAMES];
/** Every kubeconfig phase name in `all` order. */
export const allKubeconfigPhases = (): string[] => [...KUBECONFIG_PHASE_NAMES];
