import * as k8s from "@kubernetes/client-node";
import { KUBELET_SERVING } from "../approver/policy.js";
import { ApiStatusError, type ApiCsr, type ApiNode, type ApproverApi, type Lease } from "../approver/ports.js";
import type { Agent } from "node:https";
import { KubeTransport, type KubeAuth, type KubeTls } from "./kube-transport.js";

const SIGNER_SELECTOR = `spec.signerName=${KUBELET_SERVING}`;
const CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

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
 * Who a client-node KubeConfig says we are, for KubeTransport: everything client-node reads (files,
 * the in-cluster service account, exec plugins, auth providers) and applies to a request.
 */
export function clientNodeAuth(kc: k8s.KubeConfig): KubeAuth {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster");
  if (cluster.proxyUrl) throw new Error("a kubeconfig cluster with proxy-url is not supported");
  return {
    server: cluster.server,
    credentials: async () => {
      const context = new k8s.RequestContext(cluster.server, "GET" as k8s.HttpMethod);
      await kc.applySecurityAuthentication(context);
      const made = context.getAgent() as Agent | undefined;
      const o = made?.options ?? {};
      made?.destroy();
      const tls: KubeTls = { ca: o.ca, cert: o.cert, key: o.key, pfx: o.pfx, passphrase: o.passphrase, servername: o.servername, rejectUnauthorized: o.rejectUnauthorized };
      return { tls, headers: context.getHeaders() };
    },
  };
}

/**
 * client-node 1.4's `makeApiClient`, on the transport's keep-alive pool. client-node builds a new
 * https.Agent for each request (KubeConfig.applySecurityAuthentication), so each call paid a fresh
 * TLS handshake with the API server; in a burst of node CSRs that was most of the approver's time.
 * Headers and tokens are still applied per request by client-node.
 */
export function keepAliveApiClient<T extends k8s.ApiType>(transport: KubeTransport, kc: k8s.KubeConfig, apiClientType: k8s.ApiConstructor<T>): T {
  // client-node's authentication, with the transport's pool in place of the new https.Agent client-node builds for every request.
  const authentication: k8s.SecurityAuthentication = {
    getName: () => "kpki-keep-alive",
    applySecurityAuthentication: async (context) => {
      await kc.applySecurityAuthentication(context);
      (context.getAgent() as Agent | undefined)?.destroy();
      context.setAgent(await transport.httpsAgent());
    },
  };
  return new apiClientType(k8s.createConfiguration({ baseServer: new k8s.ServerConfiguration(transport.serverUrl, {}), authMethods: { default: authentication } }));
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
 * ApproverApi on @kubernetes/client-node 1.4 (Node 20): the Lease's reads and writes through its
 * generated client; the lists, reads, watches, the /approval write and the Events through
 * KubeTransport (the hot path, on HTTP/2, see kube-transport.ts). The generated client uses the
 * transport's keep-alive https pool; both use client-node's authentication.
 */
export function kubeApproverApi(kc: k8s.KubeConfig): ApproverApi & { close(): void } {
  const transport = new KubeTransport(clientNodeAuth(kc));
  const coord = keepAliveApiClient(transport, kc, k8s.CoordinationV1Api);
  /**
   * A list as the API server writes it, parsed as JSON like the watch events that follow it: the
   * controller's objects then have the same shapes whichever way they came (client-node's
   * generated clients make class instances, with Dates for timestamps).
   */
  const list = async <T>(path: string): Promise<{ items: T[]; resourceVersion: string }> => {
    const l = await transport.json<{ items?: T[] | null; metadata?: { resourceVersion?: string } }>("GET", path);
    return { items: l?.items ?? [], resourceVersion: l?.metadata?.resourceVersion ?? "" };
  };

  return {
    close: () => transport.close(),
    listCsrs: () => list<ApiCsr>(`${CSRS}?fieldSelector=${encodeURIComponent(SIGNER_SELECTOR)}`),
    watchCsrs: (rv, onEvent, onEnd) =>
      transport.watch<ApiCsr>(CSRS, { resourceVersion: rv, fieldSelector: SIGNER_SELECTOR, timeoutSeconds: 300 }, onEvent, onEnd),
    listNodes: () => list<ApiNode>("/api/v1/nodes"),
    watchNodes: (rv, onEvent, onEnd) => transport.watch<ApiNode>("/api/v1/nodes", { resourceVersion: rv, timeoutSeconds: 300 }, onEvent, onEnd),
    getCsr: async (name) => {
      const csr = await transport.json<ApiCsr>("GET", `${CSRS}/${encodeURIComponent(name)}`);
      if (!csr) throw new Error(`the API server answered GET of CSR ${name} with no object`);
      return csr;
    },
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
      // A new object, not a copy of `csr` with fields overwritten: V8 would then mark those fields
      // of the watched objects' shape as changing, and drop the optimised code that relied on it.
      // A CSR has no other top-level fields, and kube-apiserver takes only the status's conditions
      // from an /approval write (it keeps the stored spec and certificate).
      const certificate = csr.status?.certificate;
      const body = {
        apiVersion: "certificates.k8s.io/v1",
        kind: "CertificateSigningRequest",
        metadata: csr.metadata,
        spec: csr.spec,
        status: certificate === undefined ? { conditions } : { conditions, certificate },
      };
      await transport.json("PUT", `${CSRS}/${encodeURIComponent(csr.metadata.name)}/approval`, body, false);
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
