import type { SignatureVerifier } from "../pki/signature.js";
import { indexNodes } from "./addresses.js";
import type { ApproverController, ApproverObserver } from "./controller.js";
import { NO_FACTS, withClusterFacts } from "./discovery.js";
import { assessCsr, BAD_SIGNATURE, checkSignature, KUBELET_SERVING, type NodeObject, type PolicyConfig } from "./policy.js";
import type { ApiCsr, ApproverApi } from "./ports.js";

/**
 * Kubelets' serving CSRs as the API server sends them (in a watch event's object), for node
 * `kpki-warm-up` (192.0.2.1, TEST-NET-1: RFC 5737, never a real node): P-256 keys, the usages
 * and SANs a kubelet asks for, each signed by its own key. They never reach a cluster. Their
 * ECDSA signatures cover the four ways r and s are written (each 32 bytes, or 33 with a leading
 * zero when its top bit is set), so that no branch a real signature takes is new to the
 * optimised code (V8 drops optimised code that meets a branch it has never seen run).
 */
const SAMPLE_REQUESTS = [
  // r 32 bytes, s 32
  "MIIBJDCBzAIBADA6MRUwEwYDVQQKEwxzeXN0ZW06bm9kZXMxITAfBgNVBAMTGHN5\n" +
    "c3RlbTpub2RlOmtwa2ktd2FybS11cDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IA\n" +
    "BGsfg3/2IIJrhCGXNUDkUEJmH2SaDlUymKSzgStEbqBvg46iqkPqyKrjY0CNLyF1\n" +
    "73WsVphTBrB+vUVVokxoOT+gMDAuBgkqhkiG9w0BCQ4xITAfMB0GA1UdEQQWMBSC\n" +
    "DGtwa2ktd2FybS11cIcEwAACATAKBggqhkjOPQQDAgNHADBEAiBaeZOrDkg0rDxr\n" +
    "MHBiSpL82m2RAO33zwRG6PuJxGsL6QIgVMJbl+nWqDsZQFUz8pdt1WOy/hCp4/oq\n" +
    "8+ZKJxQbvdA=\n",
  // r 33, s 32
  "MIIBJTCBzAIBADA6MRUwEwYDVQQKEwxzeXN0ZW06bm9kZXMxITAfBgNVBAMTGHN5\n" +
    "c3RlbTpub2RlOmtwa2ktd2FybS11cDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IA\n" +
    "BOqtJQSleGWoByyaN7M0IYNCuvWNTualSFZM7g9Xeue0jczFY4KqmwO3KrOtur3Y\n" +
    "aKP3b/xiz2zeClWr37gHbSagMDAuBgkqhkiG9w0BCQ4xITAfMB0GA1UdEQQWMBSC\n" +
    "DGtwa2ktd2FybS11cIcEwAACATAKBggqhkjOPQQDAgNIADBFAiEAtTjLJFTLZ/AK\n" +
    "h+h9r2H1MGyYfshrqOSxn9cohOZFmHMCIEfhFH556EW8ygjo9rQVqDNhf5Kzpqyz\n" +
    "s02IKyKxbksZ\n",
  // r 32, s 33
  "MIIBJTCBzAIBADA6MRUwEwYDVQQKEwxzeXN0ZW06bm9kZXMxITAfBgNVBAMTGHN5\n" +
    "c3RlbTpub2RlOmtwa2ktd2FybS11cDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IA\n" +
    "BLfZZUBjortFOWT8UtmRlpO9pfnzTSkIK4e41FpNh2VwbFWvS1Rc1IWEJRdU9TEv\n" +
    "xkEJYw1X+9PiZvIuwXYst66gMDAuBgkqhkiG9w0BCQ4xITAfMB0GA1UdEQQWMBSC\n" +
    "DGtwa2ktd2FybS11cIcEwAACATAKBggqhkjOPQQDAgNIADBFAiAHvxipnYXPaDkn\n" +
    "w55BOfnBhhCndnkcdeyfQTSD8ep5sQIhAMPOBJ5QvqJZdvDl1+pml+9VGVRC7k4v\n" +
    "WRkmczWw/0/P\n",
  // r 33, s 33
  "MIIBJjCBzAIBADA6MRUwEwYDVQQKEwxzeXN0ZW06bm9kZXMxITAfBgNVBAMTGHN5\n" +
    "c3RlbTpub2RlOmtwa2ktd2FybS11cDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IA\n" +
    "BLrm3yRh2KexxcQhFGclbPKUaVo0kITz3GNhqM5gOBBIF/qn73TVZD7hmq1dEyw1\n" +
    "JwbbSxuqW9VbSw9+GCVW0IOgMDAuBgkqhkiG9w0BCQ4xITAfMB0GA1UdEQQWMBSC\n" +
    "DGtwa2ktd2FybS11cIcEwAACATAKBggqhkjOPQQDAgNJADBGAiEAvebCDD2znEil\n" +
    "UIV8xra83l7DPtQg7ehKe32b6CY5QBsCIQDWWyO0Xrr+29WR9eMx/n4UZz110DzP\n" +
    "bCBbxSSP3Hsn+A==\n",
].map((body) => btoa(`-----BEGIN CERTIFICATE REQUEST-----\n${body}-----END CERTIFICATE REQUEST-----\n`));

/** The node the samples are for, as kube-apiserver writes a Node (the fields the policy reads). */
const WARM_UP_NODE = {
  metadata: { name: "kpki-warm-up", uid: "00000000-0000-0000-0000-000000000001", resourceVersion: "1", creationTimestamp: "2000-01-01T00:00:00Z" },
  status: { addresses: [{ type: "InternalIP", address: "192.0.2.1" }, { type: "Hostname", address: "kpki-warm-up" }] },
};

/** How many times `approver run` decides a sample at start (124–136 ms in three starts on a 2-core machine). */
export const WARM_UP_ROUNDS = 200;

/**
 * Decides the sample requests in turn, `rounds` decisions in all, each from fresh JSON as a watch
 * delivers it, with the policy and the signature check the controller uses. V8 compiles and
 * optimises code only once it has run: without this, the first burst of CSRs after a start (a new
 * leader, a cluster coming up) is decided by cold code, at about 1.4x the CPU of later bursts.
 * Resolves to the number of rounds that approved, which is `rounds` unless the policy refuses the
 * samples (an --allowed-ip-ranges or --dns-suffix that excludes them): then only the rules up to
 * the one that refused them are warmed, and the signature check is not.
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
  const created = rfc3339Seconds(new Date(now.getTime() - 1000));
  const nodeText = JSON.stringify(WARM_UP_NODE);
  const csrTexts = SAMPLE_REQUESTS.map((_, i) => csrText(i, created));
  let approved = 0;
  for (let i = 0; i < rounds; i++) {
    const index = indexNodes([JSON.parse(nodeText) as NodeObject]);
    const csr = JSON.parse(csrTexts[i % csrTexts.length]!) as ApiCsr;
    const a = assessCsr(csr, index, policy, now);
    const decision = a.kind === "final" ? a.decision : (await checkSignature(a.request, verify)) ? a.approval : BAD_SIGNATURE;
    if (decision.decision === "approve") approved++;
    observer?.decision(decision, csr, 0.5); // a latency that is not a whole number, as real ones are
  }
  return approved;
}

/**
 * A stand-in API server for the warm-up (src/io/warm-up-api.ts): `api` talks to it as to a
 * cluster; it lists the warm-up node (WARM_UP_NODE_LIST) and no CSRs.
 */
export interface WarmUpApi {
  readonly api: ApproverApi;
  /** Where it listens: https://127.0.0.1 and a free port. */
  readonly url: string;
  /**
   * Sends CSRs (each one's name and JSON) as ADDED events on the CSR watch, once a controller has
   * opened it; resolves once each of them has been written to (Approved or Denied through /approval).
   */
  send(csrs: readonly WarmUpCsr[]): Promise<void>;
  close(): Promise<void>;
}

/** A warm-up CSR: its name, and its JSON as a watch event carries it. */
export interface WarmUpCsr {
  readonly name: string;
  readonly json: string;
}

/** The warm-up node as kube-apiserver lists it. */
export const WARM_UP_NODE_LIST = JSON.stringify({ kind: "NodeList", apiVersion: "v1", metadata: { resourceVersion: "1" }, items: [WARM_UP_NODE] });

/**
 * How many CSRs `approver run` passes through a controller and a stand-in API server at start, in
 * two runs, each with a new controller, API client and telemetry (3,500 in all). Optimised code that
 * calls a function it has always seen as one object (a method of the API client, the observer, a
 * watch's callback: closures, new in each instance) checks for that very object, and V8 drops it
 * when another one comes: the real controller's, at its first CSR. Once a call has seen two closures
 * of the same code, V8 checks for the code instead, so the second run's optimised code also serves
 * the real controller. Measured with `node --trace-deopt` and `npm run bench` (approver part, 5
 * rounds, 2 cores, CPU per burst): one run of 2,000 left "wrong call target" deoptimisations at the
 * first real CSR and 260 ms in the second burst, two runs of 2,000 in all 240 ms. Small functions
 * that run once per CSR reach TurboFan only after a few thousand calls, and until they do, each
 * burst pays for their compiling: 3,500 in all gave 190 and 200 ms against 220 and 230 with 2,000
 * (first and second burst, one run), at 3.4 s before ready (4.6 s for two replicas starting
 * together) and 160 MB of peak resident memory, against 2.1 s and 146 MB. 5,000 took 4.6 s and
 * 172 MB for no clear further gain.
 */
export const WARM_UP_CSR_RUNS: readonly number[] = [200, 3300];

/**
 * The policy a warm-up controller decides with: the approver's, in the form its controller will
 * hold (with discovery, the configured policy merged with what was discovered), without a per-node
 * budget that one node's samples would use up. The budget is a small integer, as a flag's is: a
 * larger number would change how V8 stores the field, and drop the code optimised for it.
 */
export function warmUpPolicy(policy: PolicyConfig, discovery: boolean): PolicyConfig {
  return { ...(discovery ? withClusterFacts(policy, NO_FACTS) : policy), maxApprovalsPerNode: 1_000_000_000 };
}

/**
 * Passes `count` sample CSRs, in bursts of BURST, through `controller` (built as the real one is,
 * on the stand-in's API, with warmUpPolicy and without discovery) and stops it once each has been
 * written. One in 25 is denied (its requester is another node), so that the denial path is not
 * new to the optimised code either.
 */
export async function warmUpController(server: WarmUpApi, controller: ApproverController, count: number, now: () => Date): Promise<void> {
  await controller.start();
  try {
    const created = rfc3339Seconds(new Date(now().getTime() - 1000));
    for (let sent = 0; sent < count; sent += BURST) {
      await server.send(Array.from({ length: Math.min(BURST, count - sent) }, (_, i) => ({ name: csrName(sent + i), json: csrText(sent + i, created) })));
    }
  } finally {
    controller.stop();
  }
}

/**
 * The i-th warm-up CSR as kube-apiserver writes a kubelet's (its field order, generateName,
 * managedFields): the objects parsed from it get the shapes that real ones get.
 */
function csrText(i: number, created: string): string {
  return JSON.stringify({
    kind: "CertificateSigningRequest",
    apiVersion: "certificates.k8s.io/v1",
    // Every other one named by its client rather than by generateName (a kubelet's way), as kubeadm and kubectl name theirs.
    metadata: {
      name: csrName(i), ...(i % 2 ? {} : { generateName: "csr-" }), uid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`, resourceVersion: String(i + 10), creationTimestamp: created,
      managedFields: [{ manager: "kubelet", operation: "Update", apiVersion: "certificates.k8s.io/v1", time: created, fieldsType: "FieldsV1", fieldsV1: { "f:spec": { "f:request": {}, "f:signerName": {}, "f:usages": {} } } }],
    },
    spec: {
      request: SAMPLE_REQUESTS[i % SAMPLE_REQUESTS.length],
      signerName: KUBELET_SERVING,
      usages: ["digital signature", "server auth"],
      username: i % 25 === 24 ? "system:node:kpki-warm-up-2" : "system:node:kpki-warm-up",
      groups: ["system:nodes", "system:authenticated"],
    },
    status: {},
  });
}

/** How many CSRs the warm-up sends at once, as a bench burst (`npm run bench`) brings them. */
const BURST = 200;

const csrName = (i: number): string => `csr-kpki-warm-up-${i}`;

const rfc3339Seconds = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, "Z");
