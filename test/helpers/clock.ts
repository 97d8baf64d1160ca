/** Fixed instants for deterministic tests. */
export const T0 = new Date(Date.UTC(2026, 7, 19, 9, 3, 12)); // 2026-08-19T09:03:12Z
export const crypto = globalThis.crypto;
