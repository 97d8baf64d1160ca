import * as k8s from "@kubernetes/client-node";
import { KUBELET_SERVING } from "../approver/policy.js";
import { ApiStatusError, type ApiCsr, type ApiNode, type ApproverApi, type Lease } from "../approver/ports.js";
import { KubeTransport } from "./kube-transport.js";

const SIGNER_SELECTOR = `spec.signerName=${KUBELET_SERVING}`;

/** The HTTP status of a client-node error (ApiException), or of a watch that ended with one. */
function statusOf(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown; response?: { status?: unknown } };
  for (const v of [e?.code, e?.statusCode, e?.response?.status]) if (typeof v === "number") return v;
  return undefined;
}

function wrap(error: unknown): Error {
  const status = statusOf(error);
  if (status !== undefined) return new ApiStatusError(status, `HTTP ${status}: ${(error as Error).message?.split("\n")[0] ?? ""}`);
  return error instanceof Error ? error : new Error(String(error));
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw wrap(error);
  }
}

/** A kubeconfig: a file, $KUBECONFIG or ~/.kube/config, or the in-cluster service account. */
export function loadKubeConfig(path: string | undefined): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

/**
 * client-node 1.4's `makeApiClient`, on the transport's keep-alive pool. client-node builds a new
 * https.Agent for each request (KubeConfig.applySecurityAuthentication), so each call paid a fresh
 * TLS handshake with the API server; in a burst of node CSRs that was most of the approver's time.
 * Headers and tokens are still applied per request by client-node.
 */
export function keepAliveApiClient<T extends k8s.ApiType>(transport: KubeTransport, apiClientType: k8s.ApiConstructor<T>): T {
  return new apiClientType(k8s.createConfiguration({ baseServer: new k8s.ServerConfiguration(transport.serverUrl, {}), authMethods: { default: transport.authentication } }));
}

/** metav1.Time's form: RFC 3339 in whole seconds, UTC. */
const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, "Z");

/** A Lease as the API server writes it (MicroTime: RFC 3339 with microseconds), or as client-node parsed it (Dates). */
interface LeaseJson {
  metadata?: { resourceVersion?: string };
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string | Date; renewTime?: string | Date; leaseTransitions?: number };
}
function leaseFromJson(obj: LeaseJson): Lease {
  const s = obj.spec ?? {};
  return {
    ...(obj.metadata?.resourceVersion ? { resourceVersion: obj.metadata.resourceVersion } : {}),
    ...(s.holderIdentity ? { holderIdentity: s.holderIdentity } : {}),
    ...(s.leaseDurationSeconds !== undefined ? { leaseDurationSeconds: s.leaseDurationSeconds } : {}),
    ...(s.acquireTime ? { acquireTime: new Date(s.acquireTime) } : {}),
    ...(s.renewTime ? { renewTime: new Date(s.renewTime) } : {}),
    ...(s.leaseTransitions !== undefined ? { leaseTransitions: s.leaseTransitions } : {}),
  };
}

/**
 * ApproverApi on @kubernetes/client-node 1.4 (Node 20): lists, reads and Lease writes through its
 * generated clients; the watches, the /approval write and the Events (one per decision) through
 * KubeTransport (the hot path, on HTTP/2, see kube-transport.ts). The generated clients use the
 * transport's keep-alive https pool; both use client-node's authentication.
 */
export function kubeApproverApi(kc: k8s.KubeConfig): ApproverApi {
  const transport = new KubeTransport(kc);
  const certs = keepAliveApiClient(transport, k8s.CertificatesV1Api);
  const core = keepAliveApiClient(transport, k8s.CoreV1Api);
  const coord = keepAliveApiClient(transport, k8s.CoordinationV1Api);

  return {
    listCsrs: () => call(async () => {
      const list = await certs.listCertificateSigningRequest({ fieldSelector: SIGNER_SELECTOR });
      return { items: list.items as unknown as ApiCsr[], resourceVersion: list.metadata?.resourceVersion ?? "" };
    }),
    watchCsrs: (rv, onEvent, onEnd) =>
      transport.watch<ApiCsr>("/apis/certificates.k8s.io/v1/certificatesigningrequests", { resourceVersion: rv, fieldSelector: SIGNER_SELECTOR, timeoutSeconds: 300 }, onEvent, onEnd),
    listNodes: () => call(async () => {
      const list = await core.listNode();
      return { items: list.items as unknown as ApiNode[], resourceVersion: list.metadata?.resourceVersion ?? "" };
    }),
    watchNodes: (rv, onEvent, onEnd) => transport.watch<ApiNode>("/api/v1/nodes", { resourceVersion: rv, timeoutSeconds: 300 }, onEvent, onEnd),
    getCsr: (name) => call(async () => (await certs.readCertificateSigningRequest({ name })) as unknown as ApiCsr),
    getObject: async (path) => {
      try {
        return await transport.json<unknown>("GET", path);
      } catch (error) {
        if (error instanceof ApiStatusError && error.status === 404) return undefined;
        throw error;
      }
    },
    addCondition: async (csr, condition) => {
      const conditions = [
        ...(csr.status?.conditions ?? []),
        { type: condition.type, status: "True", reason: condition.reason, message: condition.message, lastUpdateTime: rfc3339(condition.lastUpdateTime) },
      ];
      const body = { ...csr, apiVersion: "certificates.k8s.io/v1", kind: "CertificateSigningRequest", status: { ...csr.status, conditions } };
      await transport.json("PUT", `/apis/certificates.k8s.io/v1/certificatesigningrequests/${encodeURIComponent(csr.metadata.name)}/approval`, body, false);
    },
    createEvent: async (csr, type, reason, message, now) => {
      const at = rfc3339(now);
      // CSRs are cluster-scoped; their Events go to default, as kubectl describe csr finds them.
      await transport.json("POST", "/api/v1/namespaces/default/events", {
        apiVersion: "v1",
        kind: "Event",
        metadata: { generateName: `${csr.metadata.name}.`, namespace: "default" },
        involvedObject: { apiVersion: "certificates.k8s.io/v1", kind: "CertificateSigningRequest", name: csr.metadata.name, ...(csr.metadata.uid ? { uid: csr.metadata.uid } : {}) },
        type, reason, message, firstTimestamp: at, lastTimestamp: at, count: 1,
        source: { component: "kpki-approver" },
        reportingComponent: "kpki-approver",
      }, false);
    },
    getLease: (namespace, name) => call(async () => {
      try {
        return leaseFromJson(await coord.readNamespacedLease({ namespace, name }));
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw error;
      }
    }),
    watchLease: (namespace, name, onLease, onEnd) =>
      transport.watch<LeaseJson>(`/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`, { fieldSelector: `metadata.name=${name}`, timeoutSeconds: 300 },
        (type, obj) => onLease(type === "DELETED" ? undefined : leaseFromJson(obj)), onEnd),
    writeLease: (namespace, name, lease, create) => call(async () => {
      const micro = (d: Date | undefined) => (d ? new k8s.V1MicroTime(d.getTime()) : undefined);
      const body: k8s.V1Lease = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace, ...(lease.resourceVersion ? { resourceVersion: lease.resourceVersion } : {}) },
        spec: {
          ...(lease.holderIdentity ? { holderIdentity: lease.holderIdentity } : {}),
          ...(lease.leaseDurationSeconds !== undefined ? { leaseDurationSeconds: lease.leaseDurationSeconds } : {}),
          ...(lease.acquireTime ? { acquireTime: micro(lease.acquireTime)! } : {}),
          ...(lease.renewTime ? { renewTime: micro(lease.renewTime)! } : {}),
          ...(lease.leaseTransitions !== undefined ? { leaseTransitions: lease.leaseTransitions } : {}),
        },
      };
      if (create) await coord.createNamespacedLease({ namespace, body });
      else await coord.replaceNamespacedLease({ namespace, name, body });
    }),
  };
}
