import type { ClusterInfoPort } from "../rotate/rotate.js";
import { clientNodeAuth, loadKubeConfig } from "./kube-api.js";
import { lightKubeAuth } from "./kube-credentials.js";
import { ApiStatusError } from "../approver/ports.js";
import { KubeTransport } from "./kube-transport.js";

const PATH = "/api/v1/namespaces/kube-public/configmaps/cluster-info";

interface ConfigMap {
  metadata?: { resourceVersion?: string };
  data?: Record<string, string>;
}

/**
 * kube-public/cluster-info through the API, with `kubeconfig`'s credentials: read once, written back
 * with the resourceVersion it was read at (a change in between is a 409, not a lost update).
 */
export function clusterInfoApi(kubeconfig: string): ClusterInfoPort & { close(): void } {
  const transport = new KubeTransport(lightKubeAuth(kubeconfig) ?? clientNodeAuth(loadKubeConfig(kubeconfig)));
  let read: ConfigMap | undefined;
  return {
    read: async () => {
      try {
        read = await transport.json<ConfigMap>("GET", PATH);
      } catch (error) {
        if (error instanceof ApiStatusError && error.status === 404) return undefined;
        throw new Error(`cannot read kube-public/cluster-info: ${(error as Error).message}`, { cause: error });
      }
      return read?.data?.["kubeconfig"];
    },
    write: async (text) => {
      if (!read) throw new Error("kube-public/cluster-info was not read first");
      await transport.json("PUT", PATH, { ...read, apiVersion: "v1", kind: "ConfigMap", data: { ...read.data, kubeconfig: text } }, false).catch((error: Error) => {
        throw new Error(`cannot update kube-public/cluster-info: ${error.message}`, { cause: error });
      });
    },
    close: () => transport.close(),
  };
}
