import { createCertificate, randomSerial } from "../pki/cert.js";
import { createCsr } from "../pki/csr.js";
import { base64ToBytes, bytesToBase64 } from "../pki/der.js";
import { formatGoDuration } from "../pki/duration.js";
import { generateKeyPair, privateKeyToPem, type KeyAlgorithm, type KeyPair } from "../pki/keys.js";
import { mismatch, usageError } from "../errors.js";
import { DEFAULTS, type ClusterConfig } from "./config.js";
import { controlPlaneApiEndpoint, renderKubeconfig } from "./kubeconfig.js";
import { caLocation, loadIssuer, type CaIssuer } from "./files.js";
import { clientCertSpec } from "./resolve.js";
import type { PkiStore } from "./store.js";

/** The cluster CA (ca.crt and ca.key) from the cert dir, checked as every CA is (files.ts), with kubeadm's message prefix. */
export async function loadClusterCa(cfg: ClusterConfig, store: Pick<PkiStore, "read">, crypto: Crypto): Promise<CaIssuer> {
  try {
    return await loadIssuer(store.read, caLocation(cfg.certificatesDir, "ca"), crypto);
  } catch (error) {
    throw mismatch(`couldn't create a kubeconfig; the CA files couldn't be loaded: ${(error as Error).message}`);
  }
}

export interface KubeconfigUserSpec {
  readonly clientName: string;
  readonly organizations: readonly string[];
  readonly validityMs: number;
  readonly token?: string | undefined;
}

/**
 * `kubeadm kubeconfig user` (cmd/kubeadm/app/cmd/kubeconfig.go): a kubeconfig for the
 * control-plane endpoint with a client certificate (CN = client name, O = orgs,
 * clientAuth, NotAfter = now + validity) signed by ca, or with a token. Its
 * certificate-authority-data is `ca.trustPem`: every CA of ca.crt, which holds two during a CA rotation.
 */
export async function kubeconfigForUser(cfg: ClusterConfig, spec: KubeconfigUserSpec, ca: CaIssuer, now: Date, crypto: Crypto): Promise<string> {
  const base = { clusterName: cfg.clusterName, server: controlPlaneApiEndpoint(cfg), caPem: ca.trustPem, user: spec.clientName };
  if (spec.token !== undefined) return renderKubeconfig({ ...base, token: spec.token });
  const key = await generateKeyPair(cfg.encryptionAlgorithm, crypto);
  // The spec sets no NotBefore: NewSignedCert falls back to the CA's.
  const cert = await createCertificate(
    { ...clientCertSpec(spec.clientName, spec.organizations, now, spec.validityMs, ca.certificate.notBefore), serial: randomSerial(crypto) },
    key.publicKey,
    ca,
    crypto,
  );
  return renderKubeconfig({ ...base, clientCertPem: cert.pem, clientKeyPem: await privateKeyToPem(key, crypto) });
}

export const DEFAULT_USER_VALIDITY_MS = DEFAULTS.certificateValidityMs;

/*
 * `kpki kubeconfig user --via-api`: the same user, with the certificate issued through the
 * certificates.k8s.io/v1 API instead of signed with ca.key. What follows decides; the command
 * (src/cli/commands/kubeconfig-user.ts) talks to the API through a UserCsrApi.
 */

/** The signer whose certificates kube-apiserver accepts as client certificates (k8s.io/api certificates/v1 types.go). */
export const KUBE_APISERVER_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client";

/** The shortest spec.expirationSeconds the API accepts: 600 (k8s.io/api certificates/v1 types.go, added in 1.22). */
export const MIN_API_EXPIRATION_MS = 600_000;

/** A group whose members are cluster-admins through a binding RBAC cannot remove (kubeadm's admin.conf group). */
export const MASTERS_GROUP = "system:masters";

/** What `kubeconfig user --via-api` asks the API for. */
export interface ApiUserRequest {
  readonly clientName: string;
  readonly organizations: readonly string[];
  /** spec.expirationSeconds in milliseconds; undefined leaves the lifetime to the signer (kcm's --cluster-signing-duration). */
  readonly expirationMs: number | undefined;
}

/**
 * Refuses, before anything is sent, what the API would make unsafe or refuse: system:masters (a
 * client certificate cannot be revoked, and that group bypasses RBAC) and an expiration under 600 s.
 */
export function checkApiUserRequest(req: ApiUserRequest): void {
  if (req.organizations.includes(MASTERS_GROUP)) {
    throw usageError(`--org ${MASTERS_GROUP} is refused: a client certificate cannot be revoked, and that group is cluster-admin whatever RBAC says; bind a ClusterRole to --client-name or another group instead`);
  }
  if (req.expirationMs !== undefined && req.expirationMs < MIN_API_EXPIRATION_MS) {
    throw usageError(`--expiration ${formatGoDuration(req.expirationMs)} is below the API's minimum of 10m (spec.expirationSeconds >= 600)`);
  }
}

/** A CSR object name: `kpki-<client name as a DNS label>-<suffix>` (metadata.name is a DNS subdomain). */
export function apiCsrName(clientName: string, suffix: string): string {
  const label = clientName.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/-+/g, "-").replace(/^-|-$/g, "").slice(0, 40) || "user";
  return `kpki-${label}-${suffix}`;
}

/**
 * The usages asked for: client auth, and the key usages kube-apiserver-client allows (the v1.20
 * signer accepts only digital signature, key encipherment and client auth, and silently never signs
 * a CSR with any other: pkg/controller/certificates/signer/signer.go, validAPIServerClientUsages).
 * Key encipherment only for RSA keys, as Go's x509 sets it.
 */
export const apiClientUsages = (algorithm: KeyAlgorithm): readonly string[] =>
  algorithm.startsWith("RSA") ? ["digital signature", "key encipherment", "client auth"] : ["digital signature", "client auth"];

/** A fresh key and its CSR (CN = client name, O = orgs); the key never leaves the caller. */
export async function userCsr(req: ApiUserRequest, algorithm: KeyAlgorithm, crypto: Crypto): Promise<{ key: KeyPair; csrPem: string }> {
  const key = await generateKeyPair(algorithm, crypto);
  const csr = await createCsr({ subject: { commonName: req.clientName, organizations: req.organizations }, dnsNames: [], ips: [] }, key, crypto);
  return { key, csrPem: csr.pem };
}

/** The certificates.k8s.io/v1 CertificateSigningRequest to create. */
export function userCsrObject(name: string, csrPem: string, usages: readonly string[], expirationMs: number | undefined): Record<string, unknown> {
  return {
    apiVersion: "certificates.k8s.io/v1",
    kind: "CertificateSigningRequest",
    metadata: { name, labels: { "app.kubernetes.io/managed-by": "kpki" } },
    spec: {
      request: bytesToBase64(new TextEncoder().encode(csrPem)),
      signerName: KUBE_APISERVER_CLIENT_SIGNER,
      usages: [...usages],
      ...(expirationMs !== undefined ? { expirationSeconds: Math.round(expirationMs / 1000) } : {}),
    },
  };
}

/** A CSR as the API returns it: the fields `--via-api` reads. */
export interface UserCsrObject {
  readonly metadata: { readonly name: string; readonly resourceVersion?: string; readonly uid?: string };
  readonly status?: {
    readonly conditions?: readonly { readonly type: string; readonly status?: string; readonly reason?: string; readonly message?: string }[];
    readonly certificate?: string;
  };
}

/** Where a CSR stands. Denied and Failed are final; a certificate means issued. */
export type UserCsrState =
  | { readonly kind: "pending" }
  | { readonly kind: "approved" }
  | { readonly kind: "issued"; readonly certificatePem: string }
  | { readonly kind: "denied" | "failed"; readonly reason: string; readonly message: string };

export function userCsrState(csr: UserCsrObject): UserCsrState {
  const conditions = (csr.status?.conditions ?? []).filter((c) => c.status === undefined || c.status === "True");
  for (const kind of ["Denied", "Failed"] as const) {
    const c = conditions.find((x) => x.type === kind);
    if (c) return { kind: kind === "Denied" ? "denied" : "failed", reason: c.reason ?? "", message: c.message ?? "" };
  }
  const certificate = csr.status?.certificate;
  if (certificate) return { kind: "issued", certificatePem: new TextDecoder().decode(base64ToBytes(certificate)) };
  return conditions.some((c) => c.type === "Approved") ? { kind: "approved" } : { kind: "pending" };
}

/**
 * A warning when the issued certificate's NotAfter is not `issuedAt + expiration` (within a minute
 * or 1 %): Kubernetes before 1.22 ignores spec.expirationSeconds, and kcm caps it at
 * --cluster-signing-duration. Undefined when it matches or nothing was asked.
 */
export function lifetimeWarning(notAfter: Date, issuedAt: Date, expirationMs: number | undefined): string | undefined {
  if (expirationMs === undefined) return undefined;
  const got = notAfter.getTime() - issuedAt.getTime();
  if (Math.abs(got - expirationMs) <= Math.max(60_000, expirationMs / 100)) return undefined;
  const asked = formatGoDuration(expirationMs);
  const lasts = `the certificate is valid until ${notAfter.toISOString()} (${formatGoDuration(Math.max(0, Math.round(got / 1000) * 1000))} from now)`;
  return got > expirationMs
    ? `${lasts}: a longer lifetime than the ${asked} asked; the signer ignored spec.expirationSeconds (Kubernetes before 1.22 does)`
    : `${lasts}: a shorter lifetime than the ${asked} asked; kube-controller-manager's --cluster-signing-duration caps it`;
}

/** A request as the user of a kubeconfig, or a SelfSubjectAccessReview's question. */
export interface AccessQuestion {
  readonly group: string;
  readonly resource: string;
  readonly verb: string;
  readonly name?: string;
  readonly subresource?: string;
}

/** Stops a watch; its onEnd then runs without an error. */
export interface CsrWatch {
  stop(): void;
}

/**
 * What `kubeconfig user --via-api` needs from the Kubernetes API, as the user of a kubeconfig.
 * src/io/kube-user-csr.ts implements it on @kubernetes/client-node and KubeTransport.
 */
export interface UserCsrApi {
  /** The current context's cluster: its name, server URL and CA (PEM; "" when the kubeconfig has none). */
  readonly cluster: { readonly name: string; readonly server: string; readonly caPem: string };
  /** A SelfSubjectAccessReview: may the caller do this? */
  canI(question: AccessQuestion): Promise<{ allowed: boolean; reason: string }>;
  create(body: Record<string, unknown>): Promise<UserCsrObject>;
  get(name: string): Promise<UserCsrObject>;
  /** PUT /approval with an Approved condition added; throws ApiStatusError(409) when the object changed meanwhile. */
  approve(csr: UserCsrObject, reason: string, message: string): Promise<void>;
  /** Watches one CSR (fieldSelector metadata.name) from a resourceVersion; `onObject` gets undefined when it is deleted. */
  watch(name: string, resourceVersion: string, timeoutSeconds: number, onObject: (csr: UserCsrObject | undefined) => void, onEnd: (error?: unknown) => void): Promise<CsrWatch>;
  delete(name: string): Promise<void>;
  /** One SelfSubjectAccessReview (GET /apis) as the user of another kubeconfig file: proves it authenticates. */
  proveKubeconfig(path: string): Promise<{ allowed: boolean; reason: string }>;
  close(): void;
}
