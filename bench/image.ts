/**
 * The approver image's size: scripts/build-image.sh builds it (FROM scratch, buildah, storage in
 * a temporary folder) around the single executable dist/kpki (built by `npm run build:binary` if
 * missing; $KPKI_BINARY to measure another), and this prints
 *   - the executable's size,
 *   - the image's size (its one layer, uncompressed, as buildah's manifest lists it),
 *   - the OCI archive's size (the layer gzip-compressed, as `buildah push` writes it: what a
 *     registry push or `ctr images import` moves),
 *   - how long the build and the save took (median of the runs),
 *   - how long `podman run IMAGE --version` takes next to the executable on the host (median).
 *
 * Run: `node --import tsx bench/image.ts` (root, with buildah and podman: scripts/setup-testenv.sh).
 * KPKI_BENCH_QUICK=1 runs everything once.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { containerTools, findBinary, kpkiBinary } from "../test/helpers/testenv.js";

const QUICK = process.env["KPKI_BENCH_QUICK"] === "1";
const BUILDS = QUICK ? 1 : 3;
const STARTS = QUICK ? 1 : 11;
const TAG = "localhost/kpki:bench";
const ROOT = resolve(import.meta.dirname, "..");

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};
const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;

function main(): number {
  for (const tool of ["buildah", "podman"]) {
    if (!findBinary(tool)) {
      console.error(`bench/image: no ${tool} (run scripts/setup-testenv.sh)`);
      return 1;
    }
  }
  const binary = kpkiBinary();
  const work = mkdtempSync(join(tmpdir(), "kpki-bench-image-"));
  const tools = containerTools(join(work, "containers"));
  try {
    const builds: number[] = [];
    let imageBytes = 0;
    let archiveBytes = 0;
    for (let i = 0; i < BUILDS; i++) {
      const archive = join(work, "kpki.oci.tar");
      const built = tools.buildImage({ tag: TAG, binary, tool: "buildah", archive });
      builds.push(built.ms);
      imageBytes = built.imageBytes;
      archiveBytes = statSync(archive).size;
      rmSync(archive);
    }
    const binaryBytes = statSync(binary).size;
    // podman as the sandbox allows it (see test/interop/image.test.ts), against the host run, interleaved.
    const inImage: number[] = [];
    const onHost: number[] = [];
    for (let i = 0; i < STARTS; i++) {
      let t = performance.now();
      const r = tools.podman(["run", "--rm", "--network=none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", TAG, "--version"]);
      inImage.push(performance.now() - t);
      if (r.code !== 0) throw new Error(`podman run ${TAG} --version exited ${r.code}: ${r.stderr}`);
      t = performance.now();
      spawnSync(binary, ["--version"]);
      onHost.push(performance.now() - t);
    }
    console.log("approver image (deploy/Containerfile, FROM scratch)");
    console.log(`  executable                    ${binaryBytes} bytes (${mb(binaryBytes)}: ${relative(ROOT, binary)})`);
    console.log(`  image, uncompressed           ${imageBytes} bytes (${mb(imageBytes)}; ${mb(imageBytes - binaryBytes)} besides the executable)`);
    console.log(`  OCI archive, gzip layer       ${archiveBytes} bytes (${mb(archiveBytes)})`);
    console.log(`  build + save (buildah, vfs)   median ${Math.round(median(builds))} ms of ${BUILDS}`);
    console.log(`  --version: podman run         median ${Math.round(median(inImage))} ms of ${STARTS}; on the host ${Math.round(median(onHost))} ms`);
    return 0;
  } finally {
    const problems = tools.cleanup();
    rmSync(work, { recursive: true, force: true });
    if (problems.length) console.error(`bench/image: cleanup: ${problems.join("; ")}`);
  }
}

process.exitCode = main();
