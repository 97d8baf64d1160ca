import { execFile } from "node:child_process";
import { findBinary } from "./testenv.js";

export interface KubectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the real kubectl (from the testenv cache or PATH, or `binary`) with a 20 s request timeout;
 * `input` goes to its stdin (`create -f -`). Never throws: a failure is a non-zero code with its stderr.
 */
export function kubectl(args: readonly string[], input?: string, binary = findBinary("kubectl")): Promise<KubectlResult> {
  return new Promise((done) => {
    if (binary === undefined) {
      done({ code: 127, stdout: "", stderr: "kubectl: not found" });
      return;
    }
    const child = execFile(binary, ["--request-timeout=20s", ...args], { timeout: 60_000, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      done({ code: error ? (typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : 1) : 0, stdout, stderr }));
    if (input !== undefined) child.stdin?.end(input);
  });
}
