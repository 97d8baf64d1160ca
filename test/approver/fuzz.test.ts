/**
 * The seeded slice of the differential fuzzer (test/fuzz/differential.ts) that runs with every
 * `npm test`: 20,000 mutants of kubelet requests made by kpki, openssl and Go's kubelet template,
 * each read by kpki and by Go. `npm run fuzz` runs the same for 1,000,000.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { goSeeds, runDifferential, summary } from "../fuzz/differential.js";
import { createRng } from "../fuzz/rng.js";
import { kpkiSeeds, opensslSeeds, type Seed } from "../fuzz/seeds.js";
import { startGoCsrTwin, type GoCsrTwin } from "../helpers/go-twin.js";
import { missingBinaries } from "../helpers/testenv.js";

const skip = missingBinaries("go", "openssl");
const MUTANTS = 20_000;

describe.skipIf(skip)("differential fuzzing against Go's crypto/x509 (seeded slice)", () => {
  let go: GoCsrTwin;
  let seeds: Seed[];
  const work = mkdtempSync(join(tmpdir(), "kpki-fuzz-"));
  beforeAll(async () => {
    go = await startGoCsrTwin();
    seeds = [...(await kpkiSeeds()), ...opensslSeeds(work), ...(await goSeeds(go))];
  }, 120_000);
  afterAll(async () => {
    await go?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it(`${MUTANTS} mutants: no request kpki approves is read differently by Go, no two readings differ, no crash`, async () => {
    const report = await runDifferential(seeds, go, createRng("kpki-ci-fuzz-1"), MUTANTS);
    console.log(`differential fuzzing (${seeds.map((s) => s.name).join(", ")}):\n${summary(report)}`);
    expect(report.findings.map((f) => `${f.kind} [${f.seed}] ${f.ops.join(" + ")}: ${f.detail}\n  request: ${f.request}`)).toEqual([]);
    expect(report.mutants).toBe(MUTANTS);
    // The run must exercise both sides: many approvals (mutants that keep the request valid) and many readings compared.
    expect(report.approved).toBeGreaterThan(MUTANTS / 50);
    expect(report.bothRead).toBeGreaterThan(MUTANTS / 10);
    // The slowest decision is printed above (target under 100 ms); timings are measured, not asserted.
  }, 300_000);
});
