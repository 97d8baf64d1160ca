import type { SignatureVerifier } from "../pki/signature.js";
import { indexNodes } from "./addresses.js";
import type { ApproverObserver } from "./controller.js";
import { assessCsr, BAD_SIGNATURE, checkSignature, KUBELET_SERVING, type NodeObject, type PolicyConfig } from "./policy.js";
import type { ApiCsr } from "./ports.js";

/**
 * A kubelet's serving CSR as the API server sends it (a watch event's object), for node
 * `kpki-warm-up` (192.0.2.1, TEST-NET-1: RFC 5737, never a real node): a P-256 key, the usages
 * and SANs a kubelet asks for, signed by its own key. It never reaches a cluster.
 */
const SAMPLE_REQUEST = btoa(
  "-----BEGIN CERTIFICATE REQUEST-----\n" +
    "MIIBJDCBzAIBADA6MRUwEwYDVQQKEwxzeXN0ZW06bm9kZXMxITAfBgNVBAMTGHN5\n" +
    "c3RlbTpub2RlOmtwa2ktd2FybS11cDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IA\n" +
    "BGsfg3/2IIJrhCGXNUDkUEJmH2SaDlUymKSzgStEbqBvg46iqkPqyKrjY0CNLyF1\n" +
    "73WsVphTBrB+vUVVokxoOT+gMDAuBgkqhkiG9w0BCQ4xITAfMB0GA1UdEQQWMBSC\n" +
    "DGtwa2ktd2FybS11cIcEwAACATAKBggqhkjOPQQDAgNHADBEAiBaeZOrDkg0rDxr\n" +
    "MHBiSpL82m2RAO33zwRG6PuJxGsL6QIgVMJbl+nWqDsZQFUz8pdt1WOy/hCp4/oq\n" +
    "8+ZKJxQbvdA=\n" +
    "-----END CERTIFICATE REQUEST-----\n",
);

/** How many times `approver run` decides the sample at start (131–189 ms in the bench's runs on a 2-core machine). */
export const WARM_UP_ROUNDS = 200;

/**
 * Decides the sample request `rounds` times, each from fresh JSON as a watch delivers it, with the
 * policy and the signature check the controller uses. V8 compiles and optimises code only once it
 * has run: without this, the first burst of CSRs after a start (a new leader, a cluster coming
 * up) is decided by cold code, at about 1.4x the CPU of later bursts. Resolves to the number of
 * rounds that approved, which is `rounds` unless the policy refuses the sample (an
 * --allowed-ip-ranges or --dns-suffix that excludes it): then only the rules up to the one that
 * refused it are warmed, and the signature check is not.
 *
 * Each decision is also reported to `observer`: `approver run` passes the observer of a telemetry
 * that writes nowhere and whose metrics nobody reads, built by the same code as its own. That
 * warms the metrics code, and it matters more than that: prom-client's second increment of a
 * series turns a field of its entries from constant to mutable in V8's eyes, on an object shape
 * that much of the policy's optimised code depends on, and V8 then drops all of that code at once
 * (`node --trace-deopt --trace-generalization` shows it). Done in the warm-up, that happens before
 * the policy's code is optimised; done by the first real decisions, it threw away what the warm-up
 * had optimised, and the first burst ran on code being compiled again.
 */
export async function warmUp(policy: PolicyConfig, verify: SignatureVerifier, rounds: number, now: Date, observer?: Pick<ApproverObserver, "decision">): Promise<number> {
  const created = new Date(now.getTime() - 1000).toISOString().replace(/\.\d+Z$/, "Z");
  const nodeText = JSON.stringify({
    metadata: { name: "kpki-warm-up", creationTimestamp: "2000-01-01T00:00:00Z" },
    status: { addresses: [{ type: "InternalIP", address: "192.0.2.1" }, { type: "Hostname", address: "kpki-warm-up" }] },
  });
  const csrText = JSON.stringify({
    apiVersion: "certificates.k8s.io/v1",
    kind: "CertificateSigningRequest",
    metadata: { name: "csr-kpki-warm-up", uid: "00000000-0000-0000-0000-000000000000", resourceVersion: "1", creationTimestamp: created },
    spec: { request: SAMPLE_REQUEST, signerName: KUBELET_SERVING, usages: ["digital signature", "server auth"], username: "system:node:kpki-warm-up", groups: ["system:nodes", "system:authenticated"] },
    status: {},
  });
  let approved = 0;
  for (let i = 0; i < rounds; i++) {
    const index = indexNodes([JSON.parse(nodeText) as NodeObject]);
    const csr = JSON.parse(csrText) as ApiCsr;
    const a = assessCsr(csr, index, policy, now);
    const decision = a.kind === "final" ? a.decision : (await checkSignature(a.request, verify)) ? a.approval : BAD_SIGNATURE;
    if (decision.decision === "approve") approved++;
    observer?.decision(decision, csr, 0.5); // a latency that is not a whole number, as real ones are
  }
  return approved;
}
