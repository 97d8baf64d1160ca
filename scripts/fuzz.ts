/**
 * `npm run fuzz`: the approver's differential fuzzer at full size (1,000,000 mutants by default),
 * against Go's crypto/x509 (testdata/go-csr-twin). The same run as test/approver/fuzz.test.ts,
 * which runs a seeded slice of 20,000 with every `npm test`.
 *
 *   FUZZ_MUTANTS=1000000   how many mutants
 *   FUZZ_SEED=<text>       the mutation stream's seed (default: random, printed)
 *   FUZZ_OUT=fuzz-out      where the seeds (keys included, to replay) and any findings are written
 *
 * Exits 1 if kpki approves anything Go reads differently, if the two readings of any request
 * differ, or if kpki crashes; every finding is written with its request (base64) for a
 * regression test.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { goSeeds, runDifferential, summary } from "../test/fuzz/differential.js";
import { createRng } from "../test/fuzz/rng.js";
import { kpkiSeeds, opensslSeeds, seedsToJson } from "../test/fuzz/seeds.js";
import { startGoCsrTwin } from "../test/helpers/go-twin.js";

const count = Number(process.env["FUZZ_MUTANTS"] ?? 1_000_000);
if (!Number.isSafeInteger(count) || count <= 0) {
  console.error(`error: FUZZ_MUTANTS must be a positive integer, not ${process.env["FUZZ_MUTANTS"]}`);
  process.exit(2);
}
const seedText = process.env["FUZZ_SEED"] || randomBytes(6).toString("hex");
const out = resolve(process.env["FUZZ_OUT"] || "fuzz-out", seedText);
mkdirSync(out, { recursive: true });

const go = await startGoCsrTwin();
const work = mkdtempSync(join(tmpdir(), "kpki-fuzz-"));
try {
  const seeds = [...(await kpkiSeeds()), ...opensslSeeds(work), ...(await goSeeds(go))];
  writeFileSync(join(out, "seeds.json"), seedsToJson(seeds), { mode: 0o600 });
  console.log(`fuzz: ${count} mutants, seed ${seedText}, seeds ${seeds.map((s) => s.name).join(", ")}; output in ${out}`);
  let lastPrint = 0;
  const report = await runDifferential(seeds, go, createRng(seedText), count, {
    batch: 5000,
    maxFindings: 200,
    onBatch: (r) => {
      if (r.mutants - lastPrint >= 50_000 || r.mutants === count) {
        lastPrint = r.mutants;
        console.log(`  ${r.mutants}/${count}: ${Math.round((r.mutants / r.durationMs) * 1000)}/s, approved ${r.approved}, disagreements ${r.disagreements}, crashes ${r.crashes}, slowest ${r.slowestDecisionMs.toFixed(1)} ms`);
      }
    },
  });
  console.log(summary(report));
  writeFileSync(join(out, "report.json"), JSON.stringify(report, null, 2));
  if (report.findings.length) {
    for (const [i, f] of report.findings.entries()) {
      console.log(`\n#${i} ${f.kind} [${f.seed}] ${f.ops.join(" + ")}\n  ${f.detail.slice(0, 600)}`);
    }
    console.log(`\n${report.findings.length} findings written to ${join(out, "report.json")} (requests in base64)`);
  }
  process.exitCode = report.disagreements || report.crashes ? 1 : 0;
} finally {
  await go.close();
  rmSync(work, { recursive: true, force: true });
}
