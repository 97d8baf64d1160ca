/**
 * The approver image (deploy/Containerfile, FROM scratch), built by scripts/build-image.sh with
 * Debian's buildah and run with Debian's podman, all storage under this test's folder (vfs, no
 * mounts) and with no network. It holds the single executable byte for byte, the libraries ldd
 * names, the CA bundle and passwd/group entries, nothing else (no shell); it runs as 65532:65532;
 * `version` and `approver check` on read-only mounted files give the host executable's answers.
 *
 * podman runs with --ulimit nofile=1024:1024 --ulimit nproc=1024:1024: this sandbox refuses the
 * raised limits podman sets by default ("error setting rlimit type 7").
 */
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { createCsr } from "../../src/pki/csr.js";
import { generateKeyPair } from "../../src/pki/keys.js";
import { parseIp } from "../../src/pki/ip.js";
import { crypto } from "../helpers/clock.js";
import { containerTools, isCi, kpkiBinary, missingBinaries, type ContainerTools } from "../helpers/testenv.js";
import { filesUnder } from "../helpers/files.js";

function unsupported(): string | undefined {
  const missing = missingBinaries("buildah", "podman", "ldd");
  if (missing) return missing;
  if (process.getuid?.() === 0) return undefined;
  const reason = "the image test runs buildah and podman as root (rootless storage is not set up here)";
  if (isCi()) throw new Error(`CI=true but ${reason}`);
  console.warn(`SKIP: ${reason}`);
  return reason;
}
const skip = unsupported();
const work = mkdtempSync(join(tmpdir(), "kpki-image-"));
const TAG = `localhost/kpki:test-${Math.random().toString(36).slice(2, 8)}`;
/** podman run, as the sandbox allows it: no network, lowered limits, removed after. */
const RUN = ["run", "--rm", "--network=none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

let tools: ContainerTools | undefined;
let binary = "";
let built: ReturnType<ContainerTools["buildImage"]> | undefined;

const sha256 = (file: string): string => createHash("sha256").update(readFileSync(file)).digest("hex");
/** The libraries `ldd` names for the executable (as build-image.sh stages them), relative to /. */
function lddLibraries(file: string): string[] {
  const out = spawnSync("ldd", [file], { encoding: "utf8" }).stdout;
  return [...out.matchAll(/(?:=> )?(\/\S+) \(0x/g)].map((m) => m[1]!.slice(1)).sort();
}

/** A kubelet-serving CSR object as `kubectl get csr NAME -o yaml` prints it, from node n1. */
async function csrYaml(name: string, ips: string[]): Promise<string> {
  const key = await generateKeyPair("ECDSA-P256", crypto);
  const csr = await createCsr({ subject: { commonName: "system:node:n1", organizations: ["system:nodes"] }, dnsNames: ["n1"], ips: ips.map((i) => parseIp(i)!) }, key, crypto);
  return stringify({ apiVersion: "certificates.k8s.io/v1", kind: "CertificateSigningRequest",
    metadata: { name, creationTimestamp: "2026-11-26T11:59:00Z", resourceVersion: "1", uid: "0b5c" },
    spec: { groups: ["system:nodes", "system:authenticated"], request: Buffer.from(csr.pem).toString("base64"), signerName: "kubernetes.io/kubelet-serving",
      usages: ["digital signature", "server auth"], username: "system:node:n1" }, status: {} });
}

describe.skipIf(skip)("the approver image: FROM scratch, built with buildah, run with podman", () => {
  beforeAll(() => {
    binary = kpkiBinary();
    tools = containerTools(join(work, "containers"));
    built = tools.buildImage({ tag: TAG, binary, tool: "buildah" });
    console.log(`image ${TAG}: ${built.imageBytes} bytes (executable ${built.binaryBytes} bytes), built with buildah in ${built.ms} ms`);
  }, 300_000);

  afterAll(() => {
    const problems = tools?.cleanup() ?? [];
    if (!process.env["KPKI_KEEP_WORK"]) rmSync(work, { recursive: true, force: true });
    if (problems.length) throw new Error(`cleanup failed: ${problems.join("; ")}`);
  }, 120_000);

  it("its configuration: user 65532:65532, the executable as entrypoint, `approver run` as command", () => {
    const r = tools!.podman(["image", "inspect", "--format", "{{json .Config}}", TAG]);
    expect(r.code, r.stderr).toBe(0);
    const config = JSON.parse(r.stdout) as { User?: string; Entrypoint?: string[]; Cmd?: string[] };
    expect([config.User, config.Entrypoint, config.Cmd]).toEqual(["65532:65532", ["/usr/local/bin/kpki"], ["approver", "run"]]);
  });

  it("its files: the executable byte for byte, the libraries ldd names, the CA bundle, passwd and group; no shell", () => {
    // vfs keeps each layer as a plain folder: `image mount` mounts nothing, it names that folder.
    const mounted = tools!.podman(["image", "mount", TAG]);
    expect(mounted.code, mounted.stderr).toBe(0);
    try {
      const rootfs = mounted.stdout.trim();
      expect(filesUnder(rootfs)).toEqual(["etc/group", "etc/passwd", "etc/ssl/certs/ca-certificates.crt", ...lddLibraries(binary), "usr/local/bin/kpki"].sort());
      expect(sha256(join(rootfs, "usr/local/bin/kpki"))).toBe(sha256(binary));
      expect(readFileSync(join(rootfs, "etc/passwd"), "utf8")).toContain("nonroot:x:65532:65532:");
      expect(readFileSync(join(rootfs, "etc/group"), "utf8")).toContain("nonroot:x:65532:");
    } finally {
      tools!.podman(["image", "unmount", TAG]);
    }
    for (const shell of ["/bin/sh", "/bin/bash", "/busybox"]) {
      const r = tools!.podman([...RUN, "--entrypoint", shell, TAG, "-c", "id"]);
      expect(r.code, `${shell}: ${r.stderr}`).toBe(127);
      expect(r.stderr).toMatch(/no such file or directory/);
    }
  });

  it("`--version` in the container prints what the executable prints on the host", () => {
    const host = spawnSync(binary, ["--version"], { encoding: "utf8" });
    const r = tools!.podman([...RUN, TAG, "--version"]);
    expect([r.code, r.stdout]).toEqual([0, host.stdout]);
    expect(r.stdout).toMatch(/^v\d+\.\d+\.\d+/);
  });

  it("runs as uid and gid 65532: the files it writes to a mounted folder are theirs", () => {
    const out = join(work, "out");
    mkdirSync(out);
    chmodSync(out, 0o777);
    const r = tools!.podman([...RUN, "-v", `${out}:/out`, TAG, "ca", "create", "--out-dir", "/out", "--algorithm", "ECDSA-P256"]);
    expect(r.code, r.stderr).toBe(0);
    for (const f of ["ca.crt", "ca.key"]) expect([statSync(join(out, f)).uid, statSync(join(out, f)).gid]).toEqual([65532, 65532]);
  });

  it("`approver check` on a CSR and Nodes mounted read-only: approve (exit 0) and deny (exit 5), as on the host", async () => {
    const input = join(work, "in");
    mkdirSync(input);
    writeFileSync(join(input, "ok.yaml"), await csrYaml("ok", ["10.0.0.11"]));
    writeFileSync(join(input, "steal.yaml"), await csrYaml("steal", ["10.0.0.12"]));
    writeFileSync(join(input, "nodes.yaml"), stringify({ apiVersion: "v1", kind: "List", items: ["n1", "n2"].map((n, i) => ({ apiVersion: "v1", kind: "Node",
      metadata: { name: n, creationTimestamp: "2026-11-01T00:00:00Z" }, status: { addresses: [{ type: "Hostname", address: n }, { type: "InternalIP", address: `10.0.0.1${i + 1}` }] } })) }));
    for (const f of readdirSync(input)) chmodSync(join(input, f), 0o644);
    const check = (csr: string): { code: number; stdout: string; host: { code: number | null; stdout: string } } => {
      const args = ["approver", "check", "--csr", `/in/${csr}`, "--nodes", "/in/nodes.yaml", "--now", "2026-11-26T12:00:00Z", "-o", "json"];
      const r = tools!.podman([...RUN, "-v", `${input}:/in:ro`, TAG, ...args]);
      const host = spawnSync(binary, args.map((a) => a.replace(/^\/in\//, `${input}/`)), { encoding: "utf8" });
      return { code: r.code, stdout: r.stdout, host: { code: host.status, stdout: host.stdout } };
    };
    const ok = check("ok.yaml");
    expect([ok.code, JSON.parse(ok.stdout)]).toEqual([0, { decision: "approve", reason: "NodeAddressesVerified",
      message: "every SAN (n1, 10.0.0.11) is an address of node n1 and of no other node", csr: "ok" }]);
    expect(ok.host).toEqual({ code: 0, stdout: ok.stdout });
    const steal = check("steal.yaml");
    expect([steal.code, JSON.parse(steal.stdout).reason]).toEqual([5, "SANNotOwnedByNode"]);
    expect(steal.host).toEqual({ code: 5, stdout: steal.stdout });
  });
});
