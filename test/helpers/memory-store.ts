import type { PkiStore } from "../../src/kubeadm/store.js";

/** An in-memory PkiStore that records modes and write order. */
export function memoryStore(initial: Record<string, string> = {}) {
  const files = new Map<string, { data: string; mode: number }>(
    Object.entries(initial).map(([k, v]) => [k, { data: v, mode: 0o644 }]),
  );
  const writes: string[] = [];
  const store: PkiStore = {
    read: async (path) => files.get(path)?.data,
    write: async (path, data, mode) => {
      files.set(path, { data, mode });
      writes.push(path);
    },
    checkWritable: async () => undefined,
  };
  return { store, files, writes };
}
