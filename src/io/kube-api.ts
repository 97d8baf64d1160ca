import * as k8s from "@kubernetes/client-node";
import { KUBELET_SERVING } from "../approver/policy.js";
import { ApiStatusError, type ApiCsr, type ApiNode, type ApproverApi, type WatchEventType, type WatchHandle } from "../approver/ports.js";

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

/** ApproverApi on @kubernetes/client-node 1.4 (node-fetch; Node 20). */
export function kubeApproverApi(kc: k8s.KubeConfig): ApproverApi {
  const certs = kc.makeApiClient(k8s.CertificatesV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const coord = kc.makeApiClient(k8s.CoordinationV1Api);
  const watcher = new k8s.Watch(kc);

  const watch = async <T>(path: string, params: Record<string, string | number | boolean>, onEvent: (type: WatchEventType, obj: T) => void, onEnd: (error?: unknown) => void): Promise<WatchHandle> => {
    let ended = false;
    const end = (error?: unknown): void => {
      if (ended) return;
      ended = true;
      onEnd(error === undefined || (error as Error)?.name === "AbortError" ? undefined : wrap(error));
    };
    const controller = await watcher.watch(path, { allowWatchBookmarks: true, ...params }, (type, obj: unknown) => {
      // A 410 Gone arrives as an ERROR event carrying a Status object.
      if (type === "ERROR") {
        const code = (obj as { code?: number }).code ?? 500;
        controller?.abort();
        end(new ApiStatusError(code, (obj as { message?: string }).message ?? "watch error"));
        return;
      }
      onEvent(type as WatchEventType, obj as T);
    }, end);
    return { stop: () => controller.abort() };
  };

  return {
    listCsrs: () => call(async () => {
      const list = await certs.listCertificateSigningRequest({ fieldSelector: SIGNER_SELECTOR });
      return { items: list.items as unknown as ApiCsr[], resourceVersion: list.metadata?.resourceVersion ?? "" };
    }),
    watchCsrs: (rv, onEvent, onEnd) =>
      watch<ApiCsr>("/apis/certificates.k8s.io/v1/certificatesigningrequests", { resourceVersion: rv, fieldSelector: SIGNER_SELECTOR, timeoutSeconds: 300 }, onEvent, onEnd),
    listNodes: () => call(async () => {
      const list = await core.listNode();
      return { items: list.items as unknown as ApiNode[], resourceVersion: list.metadata?.resourceVersion ?? "" };
    }),
    watchNodes: (rv, onEvent, onEnd) => watch<ApiNode>("/api/v1/nodes", { resourceVersion: rv, timeoutSeconds: 300 }, onEvent, onEnd),
    getCsr: (name) => call(async () => (await certs.readCertificateSigningRequest({ name })) as unknown as ApiCsr),
    addCondition: (csr, condition) => call(async () => {
      const body = JSON.parse(JSON.stringify(csr)) as k8s.V1CertificateSigningRequest;
      body.status = body.status ?? {};
      body.status.conditions = [
        ...(body.status.conditions ?? []),
        { type: condition.type, status: "True", reason: condition.reason, message: condition.message, lastUpdateTime: condition.lastUpdateTime },
      ];
      await certs.replaceCertificateSigningRequestApproval({ name: csr.metadata.name, body });
    }),
    createEvent: (csr, type, reason, message, now) => call(async () => {
      await core.createNamespacedEvent({
        namespace: "default", // CSRs are cluster-scoped; their Events go to default, as kubectl describe csr finds them
        body: {
          metadata: { generateName: `${csr.metadata.name}.` },
          involvedObject: { apiVersion: "certificates.k8s.io/v1", kind: "CertificateSigningRequest", name: csr.metadata.name, ...(csr.metadata.uid ? { uid: csr.metadata.uid } : {}) },
          type, reason, message, firstTimestamp: now, lastTimestamp: now, count: 1,
          source: { component: "kpki-approver" },
          reportingComponent: "kpki-approver",
        },
      });
    }),
    getLease: (namespace, name) => call(async () => {
      try {
        const lease = await coord.readNamespacedLease({ namespace, name });
        const s = lease.spec ?? {};
        return {
          ...(lease.metadata?.resourceVersion ? { resourceVersion: lease.metadata.resourceVersion } : {}),
          ...(s.holderIdentity ? { holderIdentity: s.holderIdentity } : {}),
          ...(s.leaseDurationSeconds !== undefined ? { leaseDurationSeconds: s.leaseDurationSeconds } : {}),
          ...(s.acquireTime ? { acquireTime: new Date(s.acquireTime) } : {}),
          ...(s.renewTime ? { renewTime: new Date(s.renewTime) } : {}),
          ...(s.leaseTransitions !== undefined ? { leaseTransitions: s.leaseTransitions } : {}),
        };
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw error;
      }
    }),
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
