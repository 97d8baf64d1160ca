import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // One real control plane (etcd x3 + kube-apiserver + kube-controller-manager) per run, shared by the interop tests.
    globalSetup: ["test/setup/control-plane.ts"],
    reporters: ["default", "./test/setup/summary-reporter.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
