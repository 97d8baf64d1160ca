import { readFileSync } from "node:fs";
import * as k8s from "@kubernetes/client-node";
import type { AccessQuestion, CsrWatch, UserCsrApi, UserCsrObject } from "../kubeadm/kubeconfig-user.js";
import { clientNodeAuth, keepAliveApiClient, loadKubeConfig } from "./kube-api.js";
import { KubeTransport } from "./kube-transport.js";

const CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
const SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

interface AccessReview {
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}
const verdict = (review: AccessReview | undefined): { allowed: boolean; reason: string } => ({
  allowed: review?.status?.allowed === true,
  reason: review?.status?.reason || review?.status?.evaluationError || "",
});

/** The current cluster's CA as PEM: certificate-authority-data, else the certificate-authority file, else "". */
function clusterCaPem(cluster: k8s.Cluster): string {
  if (cluster.caData) return Buffer.from(cluster.caData, "base64").toString("utf8");
  if (cluster.caFile) return readFileSync(cluster.caFile, "utf8");
  return "";
}

/**
 * UserCsrApi on @kubernetes/client-node (the kubeconfig, its credentials, the delete) and
 * KubeTransport (the reviews, the CSR's create, read, approval and watch, on HTTP/2).
 */
export function kubeUserCsrApi(kubeconfig: string | undefined): UserCsrApi {
  const kc = loadKubeConfig(kubeconfig);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`the kubeconfig ${kubeconfig ?? "($KUBECONFIG or ~/.kube/config)"} has no current cluster`);
  const transport = new KubeTransport(clientNodeAuth(kc));
  const certs = keepAliveApiClient(transport, kc, k8s.CertificatesV1Api);
  const others: KubeTransport[] = [];
  return {
    cluster: { name: cluster.name, server: cluster.server, caPem: clusterCaPem(cluster) },
    canI: async (q: AccessQuestion) =>
      verdict(await transport.json<AccessReview>("POST", SSAR, {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectAccessReview",
        spec: { resourceAttributes: { group: q.group, resource: q.resource, verb: q.verb, ...(q.name ? { name: q.name } : {}), ...(q.subresource ? { subresource: q.subresource } : {}) } },
      })),
    create: async (body) => (await transport.json<UserCsrObject>("POST", CSRS, body))!,
    get: async (name) => (await transport.json<UserCsrObject>("GET", `${CSRS}/${encodeURIComponent(name)}`))!,
    approve: async (csr, reason, message) => {
      const conditions = [
        ...(csr.status?.conditions ?? []),
        { type: "Approved", status: "True", reason, message, lastUpdateTime: new Date().toISOString().replace(/\.\d+Z$/, "Z") },
      ];
      const body = { ...csr, apiVersion: "certificates.k8s.io/v1", kind: "CertificateSigningRequest", status: { ...csr.status, conditions } };
      await transport.json("PUT", `${CSRS}/${encodeURIComponent(csr.metadata.name)}/approval`, body, false);
    },
    watch: async (name, resourceVersion, timeoutSeconds, onObject, onEnd): Promise<CsrWatch> =>
      transport.watch<UserCsrObject>(CSRS, { fieldSelector: `metadata.name=${name}`, resourceVersion, timeoutSeconds },
        (type, obj) => {
          if (type === "BOOKMARK") return;
          onObject(type === "DELETED" ? undefined : obj);
        }, onEnd),
    delete: async (name) => {
      await certs.deleteCertificateSigningRequest({ name });
    },
    proveKubeconfig: async (path) => {
      const other = new KubeTransport(clientNodeAuth(loadKubeConfig(path)));
      others.push(other);
      return verdict(await other.json<AccessReview>("POST", SSAR, {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectAccessReview",
        spec: { nonResourceAttributes: { path: "/apis", verb: "get" } },
      }));
    },
    close: () => {
      transport.close();
      for (const o of others) o.close();
    },
  };
}
