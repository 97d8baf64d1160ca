import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decideCsr, DEFAULT_POLICY, type CsrObject, type NodeObject, type PolicyConfig } from "../../src/approver/policy.js";
import { factsFromCluster, readClusterConfiguration, withClusterFacts } from "../../src/approver/discovery.js";
import { createCsr } from "../../src/pki/csr.js";
import { generateKeyPair, type KeyAlgorithm } from "../../src/pki/keys.js";
import { parseIp } from "../../src/pki/ip.js";
import { missingBinaries } from "../helpers/testenv.js";
import { nodeSignatureVerifier as verify } from "../../src/io/node-signature.js";
import { crypto } from "../helpers/clock.js";

const NOW = new Date(Date.UTC(2026, 10, 26, 12, 0, 0));
const work = mkdtempSync(join(tmpdir(), "kpki-approver-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const noOpenssl = missingBinaries("openssl");

const NODES: NodeObject[] = [
  { metadata: { name: "n1", creationTimestamp: "2026-11-01T00:00:00Z" }, status: { addresses: [
    { type: "Hostname", address: "n1" }, { type: "InternalIP", address: "10.0.0.11" }, { type: "ExternalIP", address: "203.0.113.11" },
    { type: "InternalDNS", address: "n1.int.example.com" }, { type: "InternalIP", address: "fd00::11" }] } },
  { metadata: { name: "n2", creationTimestamp: "2026-11-01T00:00:00Z" }, status: { addresses: [{ type: "Hostname", address: "n2" }, { type: "InternalIP", address: "10.0.0.12" }] } },
  { metadata: { name: "node1", creationTimestamp: "2026-11-01T00:00:00Z" }, status: { addresses: [{ type: "Hostname", address: "node1" }, { type: "InternalIP", address: "10.0.1.1" }, { type: "InternalDNS", address: "node10.example.com" }] } },
  { metadata: { name: "node10", creationTimestamp: "2026-11-01T00:00:00Z" }, status: { addresses: [{ type: "Hostname", address: "node10" }, { type: "InternalDNS", address: "node10.example.com" }, { type: "InternalIP", address: "10.0.1.10" }] } },
  { metadata: { name: "fresh", creationTimestamp: "2026-11-26T11:00:00Z" }, status: { addresses: [{ type: "Hostname", address: "fresh" }, { type: "InternalIP", address: "10.0.0.30" }] } },
  { metadata: { name: "bare", creationTimestamp: "2026-11-01T00:00:00Z" }, status: {} },
  { metadata: { name: "self-lo", creationTimestamp: "2026-11-01T00:00:00Z" }, status: { addresses: [{ type: "Hostname", address: "localhost" }, { type: "InternalIP", address: "127.0.0.1" }] } },
];

interface CsrShape { cn?: string; o?: string[]; dns?: string[]; ips?: string[]; alg?: KeyAlgorithm }
async function kpkiCsr({ cn = "system:node:n1", o = ["system:nodes"], dns = ["n1"], ips = ["10.0.0.11"], alg = "ECDSA-P256" }: CsrShape = {}): Promise<string> {
  const key = await generateKeyPair(alg, crypto);
  return (await createCsr({ subject: { commonName: cn, organizations: o }, dnsNames: dns, ips: ips.map((i) => parseIp(i)!) }, key, crypto)).pem;
}
/** A CSR made by openssl: `subj` as openssl's -subj, extra `req` arguments. */
function opensslCsr(keyArgs: string[], subj: string, extra: string[] = []): string {
  const key = join(work, `k${Math.random().toString(36).slice(2)}.key`);
  writeFileSync(key, execFileSync("openssl", keyArgs));
  return execFileSync("openssl", ["req", "-new", "-key", key, "-subj", subj, ...extra], { encoding: "utf8" });
}
const P256 = ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
const RSA2048 = ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];

function object(pem: string, over: Partial<{ signerName: string; usages: string[]; username: string; groups: string[]; created: string; expirationSeconds: number; status: CsrObject["status"] }> = {}): CsrObject {
  return {
    metadata: { name: "csr-x", creationTimestamp: over.created ?? "2026-11-26T11:59:00Z" },
    spec: {
      request: Buffer.from(pem).toString("base64"),
      signerName: over.signerName ?? "kubernetes.io/kubelet-serving",
      usages: over.usages ?? ["digital signature", "server auth"],
      username: over.username ?? "system:node:n1",
      groups: over.groups ?? ["system:nodes", "system:authenticated"],
      ...(over.expirationSeconds !== undefined ? { expirationSeconds: over.expirationSeconds } : {}),
    },
    ...(over.status ? { status: over.status } : {}),
  };
}
const check = (csr: CsrObject, cfg: Partial<PolicyConfig> = {}, nodes = NODES) => decideCsr(csr, nodes, { ...DEFAULT_POLICY, apiServerAddresses: ["192.0.2.100", "api.example.com"], podCidrs: ["10.244.0.0/16"], ...cfg }, NOW, verify);

describe("approver policy: the adversarial catalogue", () => {
  it("approves a normal ECDSA kubelet (2 usages) and an RSA kubelet (3 usages), from kpki and from openssl", async () => {
    const ec = await check(object(await kpkiCsr({ dns: ["n1", "n1.int.example.com"], ips: ["10.0.0.11", "203.0.113.11", "fd00::11"] })));
    expect(ec).toMatchObject({ decision: "approve", reason: "NodeAddressesVerified" });
    expect(ec.message).toContain("n1.int.example.com, 10.0.0.11, 203.0.113.11, fd00::11");
    const rsa = await check(object(await kpkiCsr({ alg: "RSA-2048" }), { usages: ["digital signature", "key encipherment", "server auth"] }));
    expect(rsa.decision).toBe("approve");
    if (!noOpenssl) {
      for (const keyArgs of [P256, RSA2048]) {
        const pem = opensslCsr(keyArgs, "/O=system:nodes/CN=system:node:n1", ["-addext", "subjectAltName=DNS:n1,IP:10.0.0.11"]);
        expect((await check(object(pem))).decision).toBe("approve");
      }
    }
  });

  const cases: [string, () => Promise<CsrObject>, string, string, Partial<PolicyConfig>?][] = [
    ["#1 another signer", async () => object(await kpkiCsr(), { signerName: "kubernetes.io/kube-apiserver-client" }), "ignore", "NotKubeletServing"],
    ["#2 a custom signer", async () => object(await kpkiCsr(), { signerName: "example.com/anything" }), "ignore", "NotKubeletServing"],
    ["#3 a non-node requester", async () => object(await kpkiCsr(), { username: "alice" }), "ignore", "NotANode"],
    ["#3 a non-node requester, deny configured", async () => object(await kpkiCsr(), { username: "system:serviceaccount:x:y" }), "deny", "NotANode", { denyNonNodeRequestors: true }],
    ["#4 empty node name", async () => object(await kpkiCsr({ cn: "system:node:" }), { username: "system:node:" }), "deny", "InvalidNodeName"],
    ["#5 groups without system:nodes", async () => object(await kpkiCsr(), { groups: ["system:authenticated"] }), "deny", "NotInNodesGroup"],
    ["#6 CN of another node", async () => object(await kpkiCsr({ cn: "system:node:n2", dns: ["n2"], ips: ["10.0.0.12"] })), "deny", "SubjectMismatch"],
    ["#8 O missing", async () => object(await kpkiCsr({ o: [] })), "deny", "OrganizationMismatch"],
    ["#8 O with system:masters", async () => object(await kpkiCsr({ o: ["system:nodes", "system:masters"] })), "deny", "OrganizationMismatch"],
    ["#10 client auth added", async () => object(await kpkiCsr(), { usages: ["digital signature", "key encipherment", "server auth", "client auth"] }), "deny", "UsagesMismatch"],
    ["#11 no server auth", async () => object(await kpkiCsr(), { usages: ["digital signature"] }), "deny", "UsagesMismatch"],
    ["#13 cert sign", async () => object(await kpkiCsr(), { usages: ["digital signature", "server auth", "cert sign"] }), "deny", "UsagesMismatch"],
    ["#13 duplicated usage", async () => object(await kpkiCsr(), { usages: ["digital signature", "server auth", "server auth"] }), "deny", "UsagesMismatch"],
    ["#14 no SAN", async () => object(await kpkiCsr({ dns: [], ips: [] })), "deny", "NoSANs"],
    ["#16 a DNS name of another node", async () => object(await kpkiCsr({ dns: ["n2"] })), "deny", "SANNotOwnedByNode"],
    ["#16 a made-up DNS name", async () => object(await kpkiCsr({ dns: ["n1.attacker.example"] })), "deny", "SANNotOwnedByNode"],
    ["#17 the IP of another node", async () => object(await kpkiCsr({ ips: ["10.0.0.12"] })), "deny", "SANNotOwnedByNode"],
    ["#18 prefix trick: node1 asks for node10's name", async () =>
      object(await kpkiCsr({ cn: "system:node:node1", dns: ["node10.example.com"], ips: ["10.0.1.1"] }), { username: "system:node:node1" }), "deny", "SANClaimedByOtherNode"],
    ["#19 kubernetes.default.svc", async () => object(await kpkiCsr({ dns: ["n1", "kubernetes.default.svc"] })), "deny", "ReservedDNSName"],
    ["#19 a service name under the cluster domain", async () => object(await kpkiCsr({ dns: ["web.prod.svc.cluster.local"] })), "deny", "ReservedDNSName"],
    ["#19 the API server's name", async () => object(await kpkiCsr({ dns: ["api.example.com"] })), "deny", "ReservedDNSName"],
    ["#20 the kubernetes service IP", async () => object(await kpkiCsr({ ips: ["10.96.0.1"] })), "deny", "ReservedIP"],
    ["#20 a pod IP", async () => object(await kpkiCsr({ ips: ["10.244.3.7"] })), "deny", "ReservedIP"],
    ["#21 the API server's address", async () => object(await kpkiCsr({ ips: ["192.0.2.100"] })), "deny", "ReservedIP"],
    ["#22 a wildcard", async () => object(await kpkiCsr({ dns: ["*.int.example.com"] })), "deny", "WildcardDNSName"],
    ["#23 loopback, even when the node lists it", async () =>
      object(await kpkiCsr({ cn: "system:node:self-lo", dns: ["localhost"], ips: ["127.0.0.1"] }), { username: "system:node:self-lo" }), "deny", "ReservedDNSName"],
    ["#23 cloud metadata IP", async () => object(await kpkiCsr({ ips: ["169.254.169.254"] })), "deny", "ReservedIP"],
    ["#23 unspecified IPv6", async () => object(await kpkiCsr({ ips: ["::"] })), "deny", "ReservedIP"],
    ["#25 an unanchored regex cannot be bypassed", async () => object(await kpkiCsr({ dns: ["n1.int.example.com"] })), "deny", "DNSNameNotAllowed", { dnsRegex: "n1\\.int" }],
    ["#26 upper case and a trailing dot match after normalisation", async () => object(await kpkiCsr({ dns: ["N1.INT.EXAMPLE.COM."] })), "approve", "NodeAddressesVerified"],
    ["#26 an empty label is malformed", async () => object(await kpkiCsr({ dns: ["n1..example.com"] })), "deny", "MalformedDNSName"],
    ["#28 too many SANs", async () => object(await kpkiCsr({ dns: Array.from({ length: 80 }, (_, i) => `n${i}.example.com`) })), "deny", "TooManySANs"],
    ["#35 ten-year expirationSeconds", async () => object(await kpkiCsr(), { expirationSeconds: 315_360_000 }), "deny", "ExpirationTooLong"],
    ["#36 already approved", async () => object(await kpkiCsr(), { status: { conditions: [{ type: "Approved", status: "True" }] } }), "ignore", "AlreadyDecided"],
    ["#36 already failed", async () => object(await kpkiCsr(), { status: { conditions: [{ type: "Failed", status: "True" }] } }), "ignore", "AlreadyDecided"],
    ["#37 no such node yet: requeue", async () => object(await kpkiCsr({ cn: "system:node:ghost", dns: ["ghost"] }), { username: "system:node:ghost" }), "requeue", "NodeNotFound"],
    ["#37 no such node after the grace period: deny", async () =>
      object(await kpkiCsr({ cn: "system:node:ghost", dns: ["ghost"] }), { username: "system:node:ghost", created: "2026-11-26T11:00:00Z" }), "deny", "NodeNotFound"],
    ["#38 CSR older than its node", async () =>
      object(await kpkiCsr({ cn: "system:node:fresh", dns: ["fresh"], ips: ["10.0.0.30"] }), { username: "system:node:fresh", created: "2026-11-26T10:00:00Z" }), "deny", "StaleRequest"],
    ["#43 node without addresses: requeue", async () => object(await kpkiCsr({ cn: "system:node:bare", dns: ["bare"], ips: [] }), { username: "system:node:bare" }), "requeue", "NodeHasNoAddresses"],
    ["allow-lists restrict: IP outside --allowed-ip-ranges", async () => object(await kpkiCsr({ ips: ["203.0.113.11"] })), "deny", "IPNotAllowed", { allowedIpRanges: ["10.0.0.0/16"] }],
    ["allow-lists restrict: DNS name outside --dns-suffix", async () => object(await kpkiCsr({ dns: ["n1"] })), "deny", "DNSNameNotAllowed", { dnsSuffixes: ["int.example.com"] }],
    ["allow-lists never widen: an allowed range does not admit another node's IP", async () => object(await kpkiCsr({ ips: ["10.0.0.12"] })), "deny", "SANNotOwnedByNode", { allowedIpRanges: ["10.0.0.0/8"] }],
    ["a huge request", async () => object(await kpkiCsr()), "deny", "RequestTooLarge", { maxRequestBytes: 100 }],
    ["weak key: RSA-1024 (openssl)", async () => object(noOpenssl ? "" : opensslCsr(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"], "/O=system:nodes/CN=system:node:n1", ["-addext", "subjectAltName=DNS:n1"])), "deny", "WeakKey"],
    ["P-521 is accepted: Go's signer takes it (openssl)", async () => object(noOpenssl ? "" : opensslCsr(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"], "/O=system:nodes/CN=system:node:n1", ["-addext", "subjectAltName=DNS:n1"])), "approve", "NodeAddressesVerified"],
    ["weak key: P-224 (openssl)", async () => object(noOpenssl ? "" : opensslCsr(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-224"], "/O=system:nodes/CN=system:node:n1", ["-addext", "subjectAltName=DNS:n1"])), "deny", "WeakKey"],
    ["unsupported key: secp256k1, which Go does not read, is a key reason, not BadSignature (openssl)", async () => object(noOpenssl ? "" : opensslCsr(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"], "/O=system:nodes/CN=system:node:n1", ["-addext", "subjectAltName=DNS:n1"])), "deny", "UnsupportedKey"],
    ["#15 an e-mail SAN (openssl)", async () => object(noOpenssl ? "" : opensslCsr(P256, "/O=system:nodes/CN=system:node:n1", ["-addext", "subjectAltName=DNS:n1,email:a@example.com"])), "deny", "ForbiddenSANType"],
    ["#15 a URI SAN (openssl)", async () => object(noOpenssl ? "" : opensslCsr(P256, "/O=system:nodes/CN=system:node:n1", ["-addext", "subjectAltName=DNS:n1,URI:spiffe://x/y"])), "deny", "ForbiddenSANType"],
    ["a second CN (openssl)", async () => object(noOpenssl ? "" : opensslCsr(P256, "/O=system:nodes/CN=system:node:n1/CN=system:node:n2", ["-addext", "subjectAltName=DNS:n1"])), "deny", "SubjectMismatch"],
    ["an extra subject attribute (openssl)", async () => object(noOpenssl ? "" : opensslCsr(P256, "/C=US/O=system:nodes/CN=system:node:n1", ["-addext", "subjectAltName=DNS:n1"])), "deny", "UnexpectedSubjectAttribute"],
    ["a multi-valued RDN (openssl)", async () => object(noOpenssl ? "" : opensslCsr(P256, "/O=system:nodes+CN=system:node:n1", ["-multivalue-rdn", "-addext", "subjectAltName=DNS:n1"])), "deny", "UnexpectedSubjectAttribute"],
    ["an extra requested extension (openssl)", async () => object(noOpenssl ? "" : opensslCsr(P256, "/O=system:nodes/CN=system:node:n1", ["-addext", "subjectAltName=DNS:n1", "-addext", "basicConstraints=critical,CA:TRUE"])), "deny", "UnexpectedExtension"],
    ["two PEM blocks", async () => object((await kpkiCsr()) + (await kpkiCsr())), "deny", "MalformedRequest"],
    ["not PEM at all", async () => object("hello"), "deny", "MalformedRequest"],
  ];

  const table = (rows: typeof cases) => rows.map(([name, make, decision, reason, cfg]) => [`${name} → ${decision} ${reason}`, make, decision, reason, cfg] as const);
  const run = async (make: () => Promise<CsrObject>, decision: string, reason: string, cfg: Partial<PolicyConfig> | undefined) => {
    const d = await check(await make(), cfg ?? {});
    expect([d.decision, d.reason], d.message).toEqual([decision, reason]);
    expect(d.message.length).toBeGreaterThan(10);
  };
  it.each(table(cases.filter(([name]) => !name.includes("(openssl)"))))("%s", (_name, make, decision, reason, cfg) => run(make, decision, reason, cfg));
  describe.skipIf(noOpenssl)("requests made by openssl", () => {
    it.each(table(cases.filter(([name]) => name.includes("(openssl)"))))("%s", (_name, make, decision, reason, cfg) => run(make, decision, reason, cfg));
  });

  it("#32 a request whose self-signature does not verify", async () => {
    const pem = await kpkiCsr();
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\n/g, ""), "base64");
    der[der.length - 2] = der[der.length - 2]! ^ 0x01;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64").replace(/(.{64})/g, "$1\n")}\n-----END CERTIFICATE REQUEST-----\n`;
    const d = await check(object(tampered));
    expect(d.decision).toBe("deny");
    expect(["BadSignature", "MalformedRequest"]).toContain(d.reason);
  });

  it("messages name the offending values", async () => {
    const d = await check(object(await kpkiCsr({ dns: ["n1", "n2"], ips: ["10.0.0.11", "10.0.0.99"] })));
    expect(d).toEqual({ decision: "deny", reason: "SANNotOwnedByNode", message: "not addresses of node n1: n2, 10.0.0.99" });
  });

  it("#34 a public key already approved for another node is denied; #39 a node over its approval budget is ignored", async () => {
    const { readRequest } = await import("../../src/approver/request.js");
    const pem = await kpkiCsr();
    const spki = readRequest(new TextEncoder().encode(pem)).spkiHex;
    const cfg = { ...DEFAULT_POLICY, apiServerAddresses: ["192.0.2.100"] };
    const reused = await decideCsr(object(pem), NODES, cfg, NOW, verify, { keys: new Map([[spki, "n2"]]), approvals: new Map() });
    expect([reused.decision, reused.reason, reused.message]).toEqual(["deny", "KeyReused", "this public key was already approved for node n2"]);
    // The same node renewing with the same key is not reuse across nodes.
    expect((await decideCsr(object(pem), NODES, cfg, NOW, verify, { keys: new Map([[spki, "n1"]]), approvals: new Map() })).decision).toBe("approve");
    const minutesAgo = (m: number) => NOW.getTime() - m * 60_000;
    const flooded = await decideCsr(object(pem), NODES, cfg, NOW, verify, { keys: new Map(), approvals: new Map([["n1", [minutesAgo(1), minutesAgo(2), minutesAgo(3)]]]) });
    expect([flooded.decision, flooded.reason]).toEqual(["ignore", "RateLimited"]);
    const later = await decideCsr(object(pem), NODES, cfg, NOW, verify, { keys: new Map(), approvals: new Map([["n1", [minutesAgo(11), minutesAgo(12), minutesAgo(13)]]]) });
    expect(later).toMatchObject({ decision: "approve", node: "n1", spki });
  });

  it("#42 a renewal that adds a SAN the node does not own is denied: every request is validated in full", async () => {
    // The node's current certificate had {n1, 10.0.0.11}; the renewal adds 10.0.0.99. The policy keeps no
    // record of served certificates, so a renewal passes only if all its SANs pass the node-address rules.
    const d = await check(object(await kpkiCsr({ dns: ["n1"], ips: ["10.0.0.11", "10.0.0.99"] })));
    expect([d.decision, d.reason, d.message]).toEqual(["deny", "SANNotOwnedByNode", "not addresses of node n1: 10.0.0.99"]);
  });

  it("a SAN claimed by two nodes is denied to both", async () => {
    const nodes: NodeObject[] = [
      { metadata: { name: "a" }, status: { addresses: [{ type: "InternalIP", address: "10.1.0.1" }] } },
      { metadata: { name: "b" }, status: { addresses: [{ type: "InternalIP", address: "10.1.0.1" }] } },
    ];
    const d = await check(object(await kpkiCsr({ cn: "system:node:a", dns: [], ips: ["10.1.0.1"] }), { username: "system:node:a" }), {}, nodes);
    expect([d.decision, d.reason, d.message]).toEqual(["deny", "SANClaimedByOtherNode", "also addresses of other nodes: 10.1.0.1 (node b)"]);
  });
});

describe("the CSR object is read by type before any rule", () => {
  const base = async () => object(await kpkiCsr());
  const withSpec = async (spec: Record<string, unknown>): Promise<CsrObject> => {
    const o = await base();
    return { ...o, spec: { ...o.spec, ...spec } } as CsrObject;
  };
  it.each([
    ["spec.groups as a string is not matched as a substring", { groups: "xsystem:nodesx" }, "InvalidObject", /spec\.groups must be an array of strings, not "xsystem:nodesx"/],
    ["spec.usages as an object", { usages: { a: 1 } }, "InvalidObject", /spec\.usages must be an array of strings/],
    ["expirationSeconds NaN", { expirationSeconds: Number.NaN }, "InvalidObject", /spec\.expirationSeconds must be an integer/],
    ["expirationSeconds 1.5", { expirationSeconds: 1.5 }, "InvalidObject", /spec\.expirationSeconds must be an integer/],
    ["expirationSeconds as text", { expirationSeconds: "3600" }, "InvalidObject", /spec\.expirationSeconds must be an integer, not "3600"/],
    ["expirationSeconds negative", { expirationSeconds: -1 }, "InvalidExpiration", /below the minimum of 600/],
    ["expirationSeconds 599", { expirationSeconds: 599 }, "InvalidExpiration", /below the minimum of 600/],
    ["spec.username as a number", { username: 7 }, "InvalidObject", /spec\.username must be a string/],
  ] as const)("%s → %s", async (_name, spec, reason, message) => {
    const d = await check(await withSpec(spec));
    expect([d.decision, d.reason]).toEqual(["deny", reason]);
    expect(d.message).toMatch(message);
  });

  it("expirationSeconds 600 (the API's minimum) is accepted", async () => {
    expect((await check(await withSpec({ expirationSeconds: 600 }))).decision).toBe("approve");
  });

  it("an unparsable or missing creationTimestamp is a clear decision, not a skipped staleness check", async () => {
    const o = await base();
    for (const created of ["yesterday", "2026-13-45T99:00:00Z", undefined]) {
      const d = await check({ ...o, metadata: { name: "x", ...(created === undefined ? {} : { creationTimestamp: created }) } });
      expect([d.decision, d.reason, d.message]).toEqual(["deny", "InvalidObject", `metadata.creationTimestamp must be an RFC 3339 time, not ${created === undefined ? "missing" : JSON.stringify(created)}`]);
    }
  });

  it("status.conditions that are not a list, and a spec that is not an object, are decisions too", async () => {
    const o = await base();
    expect((await check({ ...o, status: { conditions: "Approved" } } as unknown as CsrObject)).reason).toBe("InvalidObject");
    expect((await check({ ...o, spec: ["x"] } as unknown as CsrObject)).reason).toBe("InvalidObject");
    expect((await check("csr" as unknown as CsrObject)).reason).toBe("InvalidObject");
  });

  it("a CSR for another signer is left alone whatever else it holds", async () => {
    const d = await check(await withSpec({ signerName: "example.com/x", groups: "junk" }));
    expect([d.decision, d.reason]).toEqual(["ignore", "NotKubeletServing"]);
  });
});

describe("names and addresses are judged as TLS clients use them", () => {
  const node = (name: string, addresses: [string, string][], extra: Partial<NodeObject> = {}): NodeObject =>
    ({ metadata: { name, creationTimestamp: "2026-11-01T00:00:00Z", ...extra.metadata }, ...(extra.spec ? { spec: extra.spec } : {}), status: { addresses: addresses.map(([type, address]) => ({ type, address })) } });

  it("a node address that case-folds into ASCII (U+212A KELVIN SIGN) does not make the ASCII name the node's", async () => {
    const nodes = [node("n1", [["Hostname", "n1"], ["InternalIP", "10.0.0.11"], ["InternalDNS", "n\u212a1.example.com"]])];
    const d = await check(object(await kpkiCsr({ dns: ["nk1.example.com"] })), {}, nodes);
    expect([d.decision, d.reason, d.message]).toEqual(["deny", "SANNotOwnedByNode", "not addresses of node n1: nk1.example.com"]);
  });

  it("a Node DNS address that is an IP literal is not a DNS name, so it cannot bypass the other-node check", async () => {
    // n1 writes n2's IP as its own InternalDNS and asks for it as a DNS SAN.
    const nodes = [node("n1", [["Hostname", "n1"], ["InternalIP", "10.0.0.11"], ["InternalDNS", "10.0.0.12"]]), node("n2", [["InternalIP", "10.0.0.12"]])];
    const d = await check(object(await kpkiCsr({ dns: ["n1", "10.0.0.12"] })), {}, nodes);
    expect([d.decision, d.reason]).toEqual(["deny", "DNSNameIsIPAddress"]);
  });

  it("Node entries of the wrong type are skipped, not thrown on", async () => {
    const odd = { metadata: { name: "n1", creationTimestamp: "2026-11-01T00:00:00Z" }, status: { addresses: [{ type: "InternalIP", address: 5 }, "x", null, { type: "Hostname", address: "n1" }, { type: "InternalIP", address: "10.0.0.11" }] } } as unknown as NodeObject;
    expect((await check(object(await kpkiCsr()), {}, [odd, { metadata: "bad" } as unknown as NodeObject])).decision).toBe("approve");
  });

  it("pod CIDRs are read from every Node's spec.podCIDRs", async () => {
    const nodes = [node("n1", [["Hostname", "n1"], ["InternalIP", "10.245.0.7"]]), node("n2", [["InternalIP", "10.0.0.12"]], { spec: { podCIDRs: ["10.245.0.0/24", "fd10::/64"] } })];
    const d = await check(object(await kpkiCsr({ ips: ["10.245.0.7"] })), { podCidrs: [] }, nodes);
    expect([d.decision, d.reason, d.message]).toEqual(["deny", "ReservedIP", "reserved IP addresses: 10.245.0.7 (in a pod CIDR)"]);
  });

  it("an API server address is refused to a worker that lists it, and allowed to a control-plane node (kubeadm advertises the node's own IP)", async () => {
    const cp = node("cp", [["Hostname", "cp"], ["InternalIP", "10.0.0.5"]], { metadata: { name: "cp", labels: { "node-role.kubernetes.io/control-plane": "" } } });
    const worker = node("w", [["Hostname", "w"], ["InternalIP", "10.0.0.6"]]);
    const cfg = { apiServerAddresses: ["10.0.0.5", "10.0.0.6", "cp"] };
    const forCp = await check(object(await kpkiCsr({ cn: "system:node:cp", dns: ["cp"], ips: ["10.0.0.5"] }), { username: "system:node:cp" }), cfg, [cp, worker]);
    expect(forCp.decision).toBe("approve");
    const forWorker = await check(object(await kpkiCsr({ cn: "system:node:w", dns: ["w"], ips: ["10.0.0.6"] }), { username: "system:node:w" }), cfg, [cp, worker]);
    expect([forWorker.decision, forWorker.reason, forWorker.message]).toEqual(["deny", "ReservedIP", "reserved IP addresses: 10.0.0.6 (an API server address)"]);
  });

  it("the assumed service CIDR (10.96.0.0/12) applies only while no service subnet is known", async () => {
    const nodes = [node("n1", [["Hostname", "n1"], ["InternalIP", "10.100.0.1"]])];
    const csr = object(await kpkiCsr({ ips: ["10.100.0.1"] }));
    expect((await check(csr, { serviceCidrs: [] }, nodes)).reason).toBe("ReservedIP");
    expect((await check(csr, { serviceCidrs: ["10.200.0.0/16"] }, nodes)).decision).toBe("approve");
    // the kubernetes Service's own IP (a /32 from discovery) is not a subnet: the assumption stays
    expect((await check(csr, { serviceCidrs: ["10.96.0.1/32"] }, nodes)).reason).toBe("ReservedIP");
  });
});

describe("what is reserved is discovered from the cluster's own objects", () => {
  const clusterConfiguration = `apiVersion: kubeadm.k8s.io/v1beta2
kind: ClusterConfiguration
controlPlaneEndpoint: api.corp.example:6443
networking:
  serviceSubnet: 10.200.0.0/16,fd00:200::/112
  podSubnet: 10.244.0.0/16
  dnsDomain: corp.local
apiServer:
  certSANs: ["*.lb.example", "203.0.113.50"]
`;
  it("kubeadm-config, the kubernetes Service and its endpoints: each source's addresses are refused", async () => {
    const facts = factsFromCluster({
      service: { spec: { clusterIP: "10.200.0.1", clusterIPs: ["10.200.0.1", "fd00:200::1"] } },
      endpoints: { subsets: [{ addresses: [{ ip: "192.0.2.21" }], notReadyAddresses: [{ ip: "192.0.2.22" }] }] },
      endpointSlices: [{ endpoints: [{ addresses: ["192.0.2.23"] }] }],
      serviceCidrs: [{ spec: { cidrs: ["10.201.0.0/16"] } }],
      clusterConfiguration: await readClusterConfiguration(clusterConfiguration, "kubeadm-config"),
    });
    expect(facts).toEqual({
      apiServerAddresses: ["192.0.2.21", "192.0.2.22", "192.0.2.23", "api.corp.example", "*.lb.example", "203.0.113.50"],
      serviceCidrs: ["10.200.0.1/32", "fd00:200::1/128", "10.201.0.0/16", "10.200.0.0/16", "fd00:200::/112"],
      podCidrs: ["10.244.0.0/16"],
      clusterDomains: ["corp.local"],
    });
    const cfg = withClusterFacts({ ...DEFAULT_POLICY }, facts);
    const nodes: NodeObject[] = [{ metadata: { name: "n1", creationTimestamp: "2026-11-01T00:00:00Z" }, status: { addresses: [
      { type: "Hostname", address: "n1" }, { type: "InternalIP", address: "10.0.0.11" }, { type: "InternalIP", address: "192.0.2.22" }, { type: "InternalIP", address: "203.0.113.50" },
      { type: "InternalIP", address: "10.201.3.3" }, { type: "InternalDNS", address: "api.corp.example" }, { type: "InternalDNS", address: "x.lb.example" },
      { type: "InternalDNS", address: "web.corp.local" }, { type: "InternalIP", address: "10.100.0.1" }] } }];
    const expectations: [CsrShape, string, string][] = [
      [{ ips: ["192.0.2.22"] }, "ReservedIP", "192.0.2.22 (an API server address)"],
      [{ ips: ["203.0.113.50"] }, "ReservedIP", "203.0.113.50 (an API server address)"],
      [{ ips: ["10.201.3.3"] }, "ReservedIP", "10.201.3.3 (in the service CIDR)"],
      [{ dns: ["api.corp.example"], ips: [] }, "ReservedDNSName", "api.corp.example (an API server name)"],
      [{ dns: ["x.lb.example"], ips: [] }, "ReservedDNSName", "x.lb.example (an API server name)"],
      [{ dns: ["web.corp.local"], ips: [] }, "ReservedDNSName", "web.corp.local (a cluster service name)"],
    ];
    for (const [shape, reason, detail] of expectations) {
      const d = await decideCsr(object(await kpkiCsr(shape)), nodes, cfg, NOW, verify);
      expect([d.decision, d.reason], d.message).toEqual(["deny", reason]);
      expect(d.message).toContain(detail);
    }
    // 10.100.0.1 is inside the default 10.96.0.0/12, which no longer applies: a service subnet is known.
    expect((await decideCsr(object(await kpkiCsr({ ips: ["10.100.0.1"] })), nodes, cfg, NOW, verify)).decision).toBe("approve");
  });
});
