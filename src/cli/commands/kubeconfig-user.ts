import { dirname } from "node:path";
import { invalidInput, PkiError, usageError } from "../../errors.js";
import { ApiStatusError } from "../../approver/ports.js";
import { MODES } from "../../kubeadm/store.js";
import type { CsrWatch, UserCsrApi, UserCsrObject, UserCsrState } from "../../kubeadm/kubeconfig-user.js";
import { bytesToHex } from "../../pki/der.js";
import { formatGoDuration } from "../../pki/duration.js";
import { KUBEADM_KEY_ALGORITHMS, privateKeyToPem, type KeyAlgorithm } from "../../pki/keys.js";
import { defineCommand } from "../command.js";
import type { CliIo } from "../io.js";
import { CERT_DIR_OPTIONS, clusterConfigFromArgs, CONFIG_OPTIONS, durationFlag, ENDPOINT_OPTIONS, KEY_OPTIONS, optionalDurationFlag } from "../options.js";

/** The engine of this command, loaded when it runs (not at every start of kpki). */
type UserEngine = typeof import("../../kubeadm/kubeconfig-user.js");

/** `--via-api` exit codes beyond 0/1/2: the CSR's end (README, "Exit codes"). */
export const VIA_API_EXIT = { denied: 5, failed: 6, timedOut: 7 } as const;

/** Flags that only mean something with --via-api, and flags that only mean something without it. */
const VIA_API_ONLY = ["kubeconfig", "out", "expiration", "approve", "wait"] as const;
const LOCAL_ONLY = ["config", "cert-dir", "dir", "apiserver-advertise-address", "apiserver-bind-port", "control-plane-endpoint", "validity-period", "token"] as const;

/** `kpki kubeconfig user`: kubeadm's command, printing a kubeconfig for a new user to stdout; or, with --via-api, one issued through the certificates API. */
export const kubeconfigUserCommand = defineCommand({
  command: "user",
  describe: "Output a kubeconfig file for an additional user (kubeadm kubeconfig user), or with --via-api write one whose certificate the cluster's signer issued",
  // kubeadm's flags, plus where the CA is (--cert-dir/--dir), the server URL's parts and the key type.
  options: {
    ...CONFIG_OPTIONS,
    ...CERT_DIR_OPTIONS,
    ...ENDPOINT_OPTIONS,
    ...KEY_OPTIONS,
    "client-name": { type: "string", demandOption: true, describe: "The name of the user: the certificate's CN" },
    org: { type: "string", array: true, describe: "The organizations of the client certificate: its O (repeatable)" },
    "validity-period": { type: "string", describe: "The validity period of the client certificate, an offset from now (e.g. 24h, 30d) [default: 8760h]" },
    token: { type: "string", describe: "A token to use instead of a client certificate" },
    "via-api": { type: "boolean", default: false, describe: "Have the certificate issued through the certificates.k8s.io API (signer kubernetes.io/kube-apiserver-client) instead of signing with ca.key; the key is made here and never sent" },
    kubeconfig: { type: "string", describe: "With --via-api: the kubeconfig that reaches the API; the new kubeconfig gets its cluster's server and CA [default: $KUBECONFIG, then ~/.kube/config]" },
    out: { type: "string", describe: "With --via-api: the kubeconfig file to write (mode 0600; never overwritten)" },
    expiration: { type: "string", describe: "With --via-api: the certificate lifetime to ask for (spec.expirationSeconds, at least 10m) [default: the signer's]" },
    approve: { type: "boolean", default: false, describe: "With --via-api: approve the CSR too, if a SelfSubjectAccessReview says you may (approve on signers, update on certificatesigningrequests/approval)" },
    wait: { type: "string", describe: "With --via-api: how long to wait for approval and issuance [default: 5m]" },
  },
  examples: [
    ["$0 kubeconfig user --client-name jane --org dev --dir ./dev-cluster > jane.conf", "A 1-year client certificate for jane (group dev)"],
    ["$0 kubeconfig user --client-name ci --validity-period 24h", "A short-lived credential signed by /etc/kubernetes/pki/ca.key"],
    ["$0 kubeconfig user --client-name jane --org dev --via-api --expiration 8h --approve --out jane.conf", "jane's certificate issued by the cluster's signer, approved by you if RBAC lets you"],
  ],
  epilogue:
    "Without --via-api nothing is written to disk. Exit codes: 0 printed (with --via-api: issued, written and proven), 1 error, 2 usage error, " +
    `${VIA_API_EXIT.denied} the CSR was denied, ${VIA_API_EXIT.failed} the CSR failed, ${VIA_API_EXIT.timedOut} no certificate within --wait.`,
  run: async (args, io) => {
    if (args["client-name"].trim() === "") throw usageError("--client-name must not be empty");
    const given = (name: string): boolean => {
      const v = (args as Record<string, unknown>)[name];
      return v !== undefined && v !== false;
    };
    if (args["via-api"]) {
      const local = [...LOCAL_ONLY, ...(args["allow-unknown-fields"] ? ["allow-unknown-fields"] : [])].filter(given);
      if (local.length) throw usageError(`--via-api takes the server and CA from --kubeconfig and has the signer set the lifetime (--expiration); it does not take ${local.map((f) => `--${f}`).join(", ")}`);
      if (args.out === undefined) throw usageError("--via-api needs --out FILE: the kubeconfig holds a private key and is written with mode 0600, never printed");
      return viaApi(io, {
        clientName: args["client-name"],
        organizations: args.org ?? [],
        expirationMs: optionalDurationFlag("expiration", args.expiration),
        waitMs: durationFlag("wait", args.wait ?? "5m"),
        approve: args.approve,
        out: args.out,
        kubeconfig: args.kubeconfig,
        algorithm: keyAlgorithm(args["encryption-algorithm"]),
      });
    }
    const apiOnly = VIA_API_ONLY.filter(given);
    if (apiOnly.length) throw usageError(`${apiOnly.map((f) => `--${f}`).join(", ")} only apply with --via-api`);
    const validityMs = durationFlag("validity-period", args["validity-period"] ?? "8760h");
    const cfg = await clusterConfigFromArgs(args, io);
    const { DEFAULT_USER_VALIDITY_MS, kubeconfigForUser, loadClusterCa } = await import("../../kubeadm/kubeconfig-user.js");
    if (validityMs > DEFAULT_USER_VALIDITY_MS) {
      io.stderr(`WARNING: the specified certificate validity period ${formatGoDuration(validityMs)} is longer than the default duration ${formatGoDuration(DEFAULT_USER_VALIDITY_MS)}, this may increase security risks.\n`);
    }
    const ca = await loadClusterCa(cfg, io.store, io.crypto);
    const text = await kubeconfigForUser(cfg, { clientName: args["client-name"], organizations: args.org ?? [], validityMs, token: args.token }, ca, io.now(), io.crypto);
    io.stdout(`${text}\n`); // kubeadm prints with Fprintln: the YAML and one more newline
    return undefined;
  },
});

function keyAlgorithm(text: string | undefined): KeyAlgorithm {
  if (text === undefined) return "RSA-2048";
  const found = KUBEADM_KEY_ALGORITHMS.find((a) => a.toLowerCase() === text.toLowerCase());
  if (!found) throw usageError(`invalid --encryption-algorithm "${text}": expected one of ${KUBEADM_KEY_ALGORITHMS.join(", ")}`);
  return found;
}

interface ViaApiRequest {
  readonly clientName: string;
  readonly organizations: readonly string[];
  readonly expirationMs: number | undefined;
  readonly waitMs: number;
  readonly approve: boolean;
  readonly out: string;
  readonly kubeconfig: string | undefined;
  readonly algorithm: KeyAlgorithm;
}

/** `--via-api`: refuse what must be refused, then create, approve (maybe), watch, write, prove. */
async function viaApi(io: CliIo, req: ViaApiRequest): Promise<number | undefined> {
  const [engine, { renderKubeconfig }, { parseCertificatePem }] = await Promise.all([
    import("../../kubeadm/kubeconfig-user.js"),
    import("../../kubeadm/kubeconfig.js"),
    import("../../pki/cert.js"),
  ]);
  const { apiClientUsages, apiCsrName, checkApiUserRequest, KUBE_APISERVER_CLIENT_SIGNER, lifetimeWarning, userCsr, userCsrObject } = engine;
  checkApiUserRequest(req);
  if ((await io.store.read(req.out)) !== undefined) throw invalidInput(`${req.out} exists; kpki never overwrites a kubeconfig (remove it or choose another --out)`);
  await io.store.checkWritable(dirname(req.out));
  const api = await io.userCsrApi(req.kubeconfig);
  try {
    const { key, csrPem } = await userCsr(req, req.algorithm, io.crypto);
    const suffix = bytesToHex(io.crypto.getRandomValues(new Uint8Array(4)));
    const name = apiCsrName(req.clientName, suffix);
    const created = await api.create(userCsrObject(name, csrPem, apiClientUsages(req.algorithm), req.expirationMs));
    const createdAt = io.clock();
    io.stderr(`CSR ${name} created (signer ${KUBE_APISERVER_CLIENT_SIGNER}${req.expirationMs !== undefined ? `, expirationSeconds ${Math.round(req.expirationMs / 1000)}` : ""})\n`);
    const waiting = waitForEnd(engine, api, created, req.waitMs);
    try {
      if (req.approve) await approve(engine, io, api, created);
      else io.stderr(`waiting up to ${formatGoDuration(req.waitMs)} for someone to approve it: kubectl certificate approve ${name}\n`);
    } catch (error) {
      waiting.cancel(); // the wait's timer and watch would otherwise hold the process until --wait passes
      throw error;
    }
    const end = await waiting.end;
    const issuedAt = io.clock();
    if (end.kind === "deleted") throw new PkiError("api", `CSR ${name} was deleted before a certificate was issued`);
    if (end.kind === "timeout") {
      const why = end.last.kind === "approved"
        ? `it was approved but not issued: kube-controller-manager's signer for ${KUBE_APISERVER_CLIENT_SIGNER} is probably not running (kcm needs --cluster-signing-cert-file/--cluster-signing-key-file, or --cluster-signing-kube-apiserver-client-cert-file/-key-file, and the csrsigning controller)`
        : `nobody approved it (kubectl certificate approve ${name})`;
      const removed = await api.delete(name).then(() => "; the CSR was deleted (its key existed only in this process)", () => "");
      throw new PkiError("api", `no certificate for CSR ${name} within --wait ${formatGoDuration(req.waitMs)}: ${why}${removed}`, { exitCode: VIA_API_EXIT.timedOut });
    }
    if (end.kind !== "issued") {
      const code = end.kind === "denied" ? VIA_API_EXIT.denied : VIA_API_EXIT.failed;
      throw new PkiError("api", `CSR ${name} was ${end.kind === "denied" ? "denied" : "marked Failed"}: ${end.reason || "(no reason)"}: ${end.message || "(no message)"}`, { exitCode: code });
    }
    const cert = parseCertificatePem(end.certificatePem);
    io.stderr(`CSR ${name} issued ${issuedAt.getTime() - createdAt.getTime()} ms after it was created; valid until ${cert.notAfter.toISOString()}\n`);
    const warning = lifetimeWarning(cert.notAfter, issuedAt, req.expirationMs);
    if (warning) io.stderr(`WARNING: ${warning}\n`);
    const text = renderKubeconfig({ clusterName: api.cluster.name, server: api.cluster.server, caPem: api.cluster.caPem, user: req.clientName, clientCertPem: end.certificatePem, clientKeyPem: await privateKeyToPem(key, io.crypto) });
    if ((await io.store.read(req.out)) !== undefined) throw invalidInput(`${req.out} appeared while waiting; kpki never overwrites a kubeconfig`);
    await io.store.write(req.out, text, MODES.kubeconfig);
    const proof = await api.proveKubeconfig(req.out).catch((error: unknown) => {
      throw new PkiError("api", `${req.out} was written, but the API server refused a request made with it: ${(error as Error).message}`);
    });
    io.stdout(`${req.out}: kubeconfig for ${req.clientName}${req.organizations.length ? ` (groups ${req.organizations.join(", ")})` : ""} on ${api.cluster.server}; ` +
      `the API server authenticated it (SelfSubjectAccessReview: ${proof.allowed ? "may" : "may not"} GET /apis)\n`);
    return undefined;
  } finally {
    api.close();
  }
}

/** Approves the CSR if a SelfSubjectAccessReview says the caller may; otherwise says so and leaves it to someone else. */
async function approve({ KUBE_APISERVER_CLIENT_SIGNER, userCsrState }: UserEngine, io: CliIo, api: UserCsrApi, created: UserCsrObject): Promise<void> {
  const name = created.metadata.name;
  const [signer, approval] = await Promise.all([
    api.canI({ group: "certificates.k8s.io", resource: "signers", verb: "approve", name: KUBE_APISERVER_CLIENT_SIGNER }),
    api.canI({ group: "certificates.k8s.io", resource: "certificatesigningrequests", subresource: "approval", verb: "update" }),
  ]);
  if (!signer.allowed || !approval.allowed) {
    const missing = [!signer.allowed ? `approve on signers/${KUBE_APISERVER_CLIENT_SIGNER}` : "", !approval.allowed ? "update on certificatesigningrequests/approval" : ""].filter(Boolean).join(" and ");
    io.stderr(`--approve: you may not ${missing} (SelfSubjectAccessReview); waiting for someone who may: kubectl certificate approve ${name}\n`);
    return;
  }
  let csr = created;
  for (let attempt = 0; ; attempt++) {
    try {
      await api.approve(csr, "KpkiApprove", "approved by kpki kubeconfig user --approve");
      io.stderr(`CSR ${name} approved\n`);
      return;
    } catch (error) {
      // 409: the object changed since it was read (the signer or another approver wrote it); read it again.
      if (!(error instanceof ApiStatusError && error.status === 409) || attempt >= 3) throw error;
      csr = await api.get(name);
      if (userCsrState(csr).kind !== "pending") return;
    }
  }
}

type WaitEnd = Exclude<UserCsrState, { kind: "pending" | "approved" }> | { kind: "deleted" } | { kind: "timeout"; last: UserCsrState };

/**
 * Watches the one CSR (fieldSelector metadata.name) from its creation until it is issued, denied,
 * failed or deleted, or `waitMs` passes. A watch the server ends is resumed from the last
 * resourceVersion seen; one that fails is resumed after one GET (410 Gone included).
 */
function waitForEnd({ userCsrState }: UserEngine, api: UserCsrApi, created: UserCsrObject, waitMs: number): { end: Promise<WaitEnd>; cancel: () => void } {
  const name = created.metadata.name;
  let cancel = (): void => undefined;
  const end = new Promise<WaitEnd>((resolve, reject) => {
    let last: UserCsrState = userCsrState(created);
    let rv = created.metadata.resourceVersion ?? "";
    let watch: CsrWatch | undefined;
    let done = false;
    let failures = 0;
    const finish = (end: WaitEnd | Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      watch?.stop();
      if (end instanceof Error) reject(end);
      else resolve(end);
    };
    const timer = setTimeout(() => finish({ kind: "timeout", last }), waitMs);
    cancel = () => finish(new Error("cancelled"));
    const see = (csr: UserCsrObject | undefined): void => {
      if (!csr) return finish({ kind: "deleted" });
      rv = csr.metadata.resourceVersion ?? rv;
      last = userCsrState(csr);
      if (last.kind !== "pending" && last.kind !== "approved") finish(last);
    };
    const start = (): void => {
      if (done) return;
      api.watch(name, rv, Math.max(60, Math.ceil(waitMs / 1000) + 5), (csr) => {
        failures = 0;
        see(csr);
      }, (error) => {
        watch = undefined;
        if (done) return;
        if (error === undefined) return start();
        if (++failures > 3) return finish(new PkiError("api", `the watch on CSR ${name} keeps failing: ${(error as Error).message ?? String(error)}`));
        api.get(name).then((csr) => {
          see(csr);
          start();
        }, (e: unknown) => finish(e instanceof Error ? e : new Error(String(e))));
      }).then((w) => {
        if (done) w.stop();
        else watch = w;
      }, (e: unknown) => finish(e instanceof Error ? e : new Error(String(e))));
    };
    start();
  });
  end.catch(() => undefined); // a cancelled wait's rejection has no reader
  return { end, cancel };
}
