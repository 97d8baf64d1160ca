import { ApiStatusError } from "../approver/ports.js";
import type { ListWatchApi } from "../exporter/reflector.js";
import { loadKubeConfig } from "./kube-api.js";
import { KubeTransport } from "./kube-transport.js";

/**
 * The exporter's view of the API server: LISTs and WATCHes on KubeTransport (HTTP/2, client-node's
 * authentication: a kubeconfig, or the in-cluster service account), nothing else.
 */
export function exporterApi(kubeconfig: string | undefined): ListWatchApi & { readonly close: () => void } {
  const transport = new KubeTransport(loadKubeConfig(kubeconfig));
  return {
    list: async (path, params) => {
      const query = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
      const l = await transport.json<{ items?: unknown[] | null; metadata?: { resourceVersion?: string; continue?: string } }>("GET", `${path}?${query}`);
      return { items: l?.items ?? [], resourceVersion: l?.metadata?.resourceVersion ?? "", ...(l?.metadata?.continue ? { continue: l.metadata.continue } : {}) };
    },
    watch: (path, params, onEvent, onEnd) => transport.watch<unknown>(path, params, onEvent, onEnd),
    statusOf: (error) => (error instanceof ApiStatusError ? error.status : undefined),
    close: () => transport.close(),
  };
}
