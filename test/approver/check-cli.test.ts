import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { run } from "../../src/cli/main.js";
import { createCsr } from "../../src/pki/csr.js";
import { generateKeyPair } from "../../src/pki/keys.js";
import { parseIp } from "../../src/pki/ip.js";
import { fakeIo } from "../helpers/fake-io.js";
import { crypto } from "../helpers/clock.js";

const work = mkdtempSync(join(tmpdir(), "kpki-check-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function csrFile(name: string, dns: string[], ips: string[], extra: Record<string, unknown> = {}): Promise<string> {
  const key = await generateKeyPair("ECDSA-P256", crypto);
  const csr = await createCsr({ subject: { commonName: "system:node:n1", organizations: ["system:nodes"] }, dnsNames: dns, ips: ips.map((i) => parseIp(i)!) }, key, crypto);
  // The shape `kubectl get csr NAME -o yaml` prints.
  const obj = {
    apiVersion: "certificates.k8s.io/v1", kind: "CertificateSigningRequest",
    metadata: { name, creationTimestamp: "2026-11-26T11:59:00Z", resourceVersion: "1234", uid: "0b5c" },
    spec: { groups: ["system:nodes", "system:authenticated"], request: Buffer.from(csr.pem).toString("base64"), signerName: "kubernetes.io/kubelet-serving",
      usages: ["digital signature", "server auth"], username: "system:node:n1", ...extra },
    status: {},
  };
  const path = join(work, `${name}.yaml`);
  writeFileSync(path, stringify(obj));
  return path;
}
const nodesFile = join(work, "nodes.yaml");
writeFileSync(nodesFile, stringify({ apiVersion: "v1", kind: "List", items: [
  { apiVersion: "v1", kind: "Node", metadata: { name: "n1", creationTimestamp: "2026-11-01T00:00:00Z" }, status: { addresses: [{ type: "Hostname", address: "n1" }, { type: "InternalIP", address: "10.0.0.11" }] } },
  { apiVersion: "v1", kind: "Node", metadata: { name: "n2", creationTimestamp: "2026-11-01T00:00:00Z" }, status: { addresses: [{ type: "Hostname", address: "n2" }, { type: "InternalIP", address: "10.0.0.12" }] } },
] }));

async function kpki(args: string[]) {
  const f = fakeIo();
  const code = await run(args, f.io);
  return { code, stdout: f.stdout(), stderr: f.stderr() };
}
const NOW = ["--now", "2026-11-26T12:00:00Z"];

describe("kpki approver check", () => {
  it("approve: exit 0 and exactly one JSON object", async () => {
    const r = await kpki(["approver", "check", "--csr", await csrFile("ok", ["n1"], ["10.0.0.11"]), "--nodes", nodesFile, "-o", "json", ...NOW]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ decision: "approve", reason: "NodeAddressesVerified", message: "every SAN (n1, 10.0.0.11) is an address of node n1 and of no other node", csr: "ok" });
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
  });

  it("deny: exit 5 with the reason and the offending values", async () => {
    const r = await kpki(["approver", "check", "--csr", await csrFile("steal", ["n1"], ["10.0.0.12"]), "--nodes", nodesFile, ...NOW]);
    expect(r.code).toBe(5);
    expect(r.stdout).toBe("deny: SANNotOwnedByNode: not addresses of node n1: 10.0.0.12\n");
  });

  it("policy flags restrict: --allowed-ip-ranges", async () => {
    const r = await kpki(["approver", "check", "--csr", await csrFile("ok2", ["n1"], ["10.0.0.11"]), "--nodes", nodesFile, "--allowed-ip-ranges", "192.168.0.0/16", "-o", "json", ...NOW]);
    expect([r.code, JSON.parse(r.stdout).reason]).toEqual([5, "IPNotAllowed"]);
  });

  it("ignore (3) and requeue (4)", async () => {
    const other = await kpki(["approver", "check", "--csr", await csrFile("client", ["n1"], [], { signerName: "kubernetes.io/kube-apiserver-client" }), "--nodes", nodesFile, ...NOW]);
    expect([other.code, other.stdout]).toEqual([3, 'ignore: NotKubeletServing: signerName is "kubernetes.io/kube-apiserver-client", not kubernetes.io/kubelet-serving\n']);
    const noNodes = join(work, "none.yaml");
    writeFileSync(noNodes, "apiVersion: v1\nkind: NodeList\nitems: []\n");
    const wait = await kpki(["approver", "check", "--csr", await csrFile("early", ["n1"], ["10.0.0.11"]), "--nodes", noNodes, ...NOW]);
    expect([wait.code, wait.stdout]).toEqual([4, "requeue: NodeNotFound: node n1 does not exist yet (waited 60s of 300s)\n"]);
  });

  it("input that cannot be read: one line, exit 1 (not a decision); a bad flag value: exit 2", async () => {
    const notCsr = join(work, "notcsr.yaml");
    writeFileSync(notCsr, "kind: ConfigMap\n");
    const r = await kpki(["approver", "check", "--csr", notCsr, "--nodes", nodesFile]);
    expect([r.code, r.stderr]).toEqual([1, `error: ${notCsr} must hold exactly one CertificateSigningRequest (found 0)\n`]);
    const badCidr = await kpki(["approver", "check", "--csr", notCsr, "--nodes", nodesFile, "--allowed-ip-ranges", "10.0.0.0/40"]);
    expect([badCidr.code, badCidr.stderr]).toEqual([2, 'error: invalid --allowed-ip-ranges "10.0.0.0/40": expected a CIDR such as 10.0.0.0/8\nRun \'kpki approver check --help\' for usage.\n']);
    const missing = await kpki(["approver", "check", "--csr", join(work, "nowhere.yaml"), "--nodes", nodesFile]);
    expect([missing.code, missing.stdout, missing.stderr]).toEqual([1, "", `error: --csr ${join(work, "nowhere.yaml")}: no such file\n`]);
  });

  it("a CSR object with fields of the wrong type: one decision line naming the field, never a JavaScript error", async () => {
    const path = await csrFile("typed", ["n1"], ["10.0.0.11"], { groups: "xsystem:nodesx" });
    const r = await kpki(["approver", "check", "--csr", path, "--nodes", nodesFile, ...NOW]);
    expect([r.code, r.stdout, r.stderr]).toEqual([5, 'deny: InvalidObject: spec.groups must be an array of strings, not "xsystem:nodesx"\n', ""]);
    const listSpec = join(work, "list-spec.yaml");
    writeFileSync(listSpec, "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata: {name: x}\nspec: [1, 2]\n");
    const odd = await kpki(["approver", "check", "--csr", listSpec, "--nodes", nodesFile, ...NOW]);
    expect([odd.code, odd.stdout, odd.stderr]).toEqual([5, "deny: InvalidObject: spec must be an object\n", ""]);
  });

  it("--cluster-config: kubeadm's ClusterConfiguration is read as the controller discovers it", async () => {
    const cc = join(work, "cluster.yaml");
    writeFileSync(cc, "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nnetworking: {podSubnet: 10.0.0.0/24}\n");
    const r = await kpki(["approver", "check", "--csr", await csrFile("pods", ["n1"], ["10.0.0.11"]), "--nodes", nodesFile, "--cluster-config", cc, ...NOW]);
    expect([r.code, r.stdout]).toEqual([5, "deny: ReservedIP: reserved IP addresses: 10.0.0.11 (in a pod CIDR)\n"]);
    const notKubeadm = join(work, "not-kubeadm.yaml");
    writeFileSync(notKubeadm, "kind: ConfigMap\n");
    const bad = await kpki(["approver", "check", "--csr", await csrFile("pods2", ["n1"], ["10.0.0.11"]), "--nodes", nodesFile, "--cluster-config", notKubeadm, ...NOW]);
    expect([bad.code, bad.stderr]).toEqual([1, `error: ${notKubeadm} has no kubeadm ClusterConfiguration document\n`]);
  });

  it("odd shapes anywhere in the CSR or the Nodes never surface a JavaScript error", async () => {
    const csrs = [
      "kind: CertificateSigningRequest\nspec: null\n",
      "kind: CertificateSigningRequest\nmetadata: 5\nspec: {signerName: kubernetes.io/kubelet-serving}\n",
      "kind: CertificateSigningRequest\nmetadata: {creationTimestamp: '2026-11-26T11:59:00Z'}\nspec: {signerName: kubernetes.io/kubelet-serving, username: system:node:n1, groups: [system:nodes], usages: [digital signature, server auth], request: 12}\n",
      "kind: CertificateSigningRequest\nmetadata: {creationTimestamp: '2026-11-26T11:59:00Z'}\nspec: {signerName: kubernetes.io/kubelet-serving, username: system:node:n1, groups: [system:nodes], usages: [digital signature, server auth], request: '!!notbase64'}\nstatus: []\n",
      "kind: CertificateSigningRequest\nmetadata: {creationTimestamp: '2026-11-26T11:59:00Z'}\nspec: {signerName: kubernetes.io/kubelet-serving, username: system:node:n1, groups: [system:nodes], usages: [digital signature, server auth], request: 'aGVsbG8='}\nstatus: {conditions: [null]}\n",
      "kind: CertificateSigningRequest\nmetadata: {creationTimestamp: 2026-11-26}\nspec: {signerName: kubernetes.io/kubelet-serving, username: [a]}\n",
    ];
    const nodes = ["kind: NodeList\nitems: 5\n", "kind: Node\nmetadata: {name: n1}\nstatus: x\n", "kind: Node\nmetadata: {name: n1}\nstatus: {addresses: {a: 1}}\nspec: {podCIDRs: 7}\n", "kind: List\nitems: [null, 3, {kind: Node}]\n"];
    const good = await csrFile("shapes", ["n1"], ["10.0.0.11"]);
    let i = 0;
    const pairs: [string | undefined, string][] = [...csrs.map((c): [string, string] => [c, "kind: NodeList\nitems: []\n"]), ...nodes.map((n): [undefined, string] => [undefined, n])];
    for (const [csrText, nodesText] of pairs) {
      const csrPath = join(work, `shape-csr-${i}.yaml`);
      const nodesPath = join(work, `shape-nodes-${i++}.yaml`);
      if (csrText !== undefined) writeFileSync(csrPath, csrText);
      writeFileSync(nodesPath, nodesText);
      const r = await kpki(["approver", "check", "--csr", csrText === undefined ? good : csrPath, "--nodes", nodesPath, ...NOW]);
      expect([0, 1, 3, 4, 5], `${r.stdout}${r.stderr}`).toContain(r.code);
      expect(r.stdout + r.stderr).not.toMatch(/TypeError|is not a function|Cannot read|is not iterable|undefined|\[object/);
      expect((r.stdout + r.stderr).trim().split("\n")).toHaveLength(1);
    }
  });
});
