/**
 * What every start of kpki evaluates: the modules the bundle's entry reaches through static
 * imports (scripts/bundle.ts keeps every `import()` lazy). A command's engine is loaded when the
 * command runs; the command tree itself needs only the flags' definitions.
 */
import * as esbuild from "esbuild";
import { describe, expect, it } from "vitest";
import { cliBuildOptions } from "../../scripts/bundle.js";

/** The source files evaluated at start-up, from esbuild's metafile of the main bundle. */
async function eagerModules(): Promise<Set<string>> {
  const result = await esbuild.build({ ...cliBuildOptions("kpki.cjs"), write: false, metafile: true, logLevel: "silent" });
  const inputs = result.metafile.inputs;
  const seen = new Set<string>();
  const stack = ["bin/kpki.ts"];
  for (let file = stack.pop(); file !== undefined; file = stack.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    for (const i of inputs[file]?.imports ?? []) if (i.kind === "import-statement" && !i.external) stack.push(i.path);
  }
  return seen;
}

describe("start-up", () => {
  it("evaluates no command's engine: init, create, signing, kubeconfigs, certificates, the approver's policy, trust stores", async () => {
    const eager = await eagerModules();
    expect(eager.has("src/cli/main.ts")).toBe(true);
    const engines = [
      "src/kubeadm/init.ts",
      "src/kubeadm/sign.ts",
      "src/kubeadm/files.ts",
      "src/kubeadm/kubeconfig.ts",
      "src/kubeadm/kubeconfig-user.ts",
      "src/kubeadm/generate-csr.ts",
      "src/kubeadm/create.ts",
      "src/kubeadm/sans.ts",
      "src/kubeadm/config-defaults.ts",
      "src/pki/cert.ts",
      "src/pki/csr.ts",
      "src/approver/policy.ts",
      "src/approver/request.ts",
      "src/approver/addresses.ts",
      "src/trust/plan.ts",
    ];
    expect(engines.filter((f) => eager.has(f))).toEqual([]);
  }, 30_000);
});
