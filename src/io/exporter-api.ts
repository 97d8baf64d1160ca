import { ApiStatusError } from "../approver/ports.js";
import type { ListWatchApi } from "../exporter/reflector.js";
import { lightKubeAuth } from "./kube-credentials.js";
import { KubeTransport } from "./kube-transport.js";

/**
 * The exporter's view of the API server: LISTs and WATCHes on KubeTransport (HTTP/2), nothing else.
 * Credentials come from kube-credentials.ts, or from client-node for the kubeconfigs only it reads
 * (exec plugins and the like): loaded only then.
 */
export async function exporterApi(kubeconfig: string | undefined): Promise<ListWatchApi & { readonly close: () => void }> {
  let auth = lightKubeAuth(kubeconfig);
  if (!auth) {
    const { clientNodeAuth, loadKubeConfig } = await import("./kube-api.js");
    auth = clientNodeAuth(loadKubeConfig(kubeconfig));
  }
  const transport = new KubeTransport(auth);
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
