import type { ApproverController, ApproverObserver } from "../../approver/controller.js";
import type { PolicyConfig } from "../../approver/policy.js";
import { APPROVER_EVENTS, DEFAULT_WORKERS, type ApproverApi } from "../../approver/ports.js";
import { invalidInput, usageError } from "../../errors.js";
import { defineCommand } from "../command.js";
import { HISTORY_OPTIONS, policyFromArgs, POLICY_OPTIONS } from "../approver-options.js";
import { durationFlag, integerFlag } from "../options.js";

/** `kpki approver run`: the controller. Runs until SIGTERM/SIGINT (exit 0) or a failure (exit 1). */
export const approverRunCommand = defineCommand({
  command: "run",
  describe: "Run the kubelet-serving CSR approver controller",
  options: {
    ...POLICY_OPTIONS,
    ...HISTORY_OPTIONS,
    kubeconfig: { type: "string", describe: "Kubeconfig to use [default: $KUBECONFIG, ~/.kube/config, then in-cluster]" },
    "dry-run": { type: "boolean", default: false, describe: "Decide and log, but write no condition" },
    "leader-elect": { type: "boolean", default: true, describe: "Run only while holding a coordination.k8s.io/v1 Lease" },
    "leader-elect-namespace": { type: "string", default: "kube-system", describe: "The Lease's namespace" },
    "leader-elect-name": { type: "string", default: "kpki-approver", describe: "The Lease's name" },
    "lease-duration": { type: "string", default: "15s", describe: "How long a lease holds without renewal" },
    "renew-deadline": { type: "string", default: "10s", describe: "The leader gives up after failing to renew for this long" },
    "retry-period": { type: "string", default: "2s", describe: "How often to try to acquire or renew" },
    identity: { type: "string", describe: "This replica's identity in the Lease [default: hostname_random]" },
    workers: { type: "number", default: DEFAULT_WORKERS, describe: "CSRs decided and written at once" },
    events: { type: "string", default: "denials", choices: APPROVER_EVENTS, describe: "Which decisions get an Event: denials (a Warning each), all (approvals too: one more API write per CSR) or none" },
    discovery: { type: "boolean", default: true, describe: "Read the API server's addresses (the kubernetes Service and its endpoints) and kubeadm-config's subnets from the cluster, and refuse them as SANs" },
    "metrics-bind-address": { type: "string", default: "0.0.0.0:8080", describe: "Address for /metrics, /healthz and /readyz" },
  },
  examples: [
    ["$0 approver run", "In a cluster (see deploy/): what must be refused is discovered"],
    ["$0 approver run --apiserver-address api.example.com --pod-cidr 10.244.0.0/16", "Add to what is discovered (a load balancer's name, a CNI's own range)"],
    ["$0 approver run --kubeconfig approver.conf --dry-run --leader-elect=false", "Watch and log what would be decided"],
  ],
  epilogue:
    "Logs are JSON lines on stderr. A replica that loses the lease stops deciding and stays a candidate. " +
    "Exit codes: 0 stopped by SIGTERM/SIGINT, 1 error, 2 usage error.",
  run: async (args, io) => {
    // Every flag is checked before anything connects or listens.
    const policy = policyFromArgs(args);
    const election = {
      leaseDurationMs: durationFlag("lease-duration", args["lease-duration"]),
      renewDeadlineMs: durationFlag("renew-deadline", args["renew-deadline"]),
      retryPeriodMs: durationFlag("retry-period", args["retry-period"]),
    };
    if (election.renewDeadlineMs >= election.leaseDurationMs) throw usageError("--renew-deadline must be shorter than --lease-duration");
    const workers = integerFlag("workers", args.workers, 1);
    const now = io.clock;
    // Loaded here, not at start-up: @kubernetes/client-node and prom-client would slow every other command.
    const [runtime, { ApproverController }, { runLeaderElection }, { warmUp, WARM_UP_ROUNDS, warmUpController, warmUpPolicy, WARM_UP_CSR_RUNS, WARM_UP_NODE_LIST }] = await Promise.all([
      io.approverRuntime(),
      import("../../approver/controller.js"),
      import("../../approver/leader.js"),
      import("../../approver/warm-up.js"),
    ]);
    const telemetry = runtime.telemetry(io.stderr, now);
    let api: ApproverApi;
    try {
      api = runtime.api(args.kubeconfig);
    } catch (error) {
      throw invalidInput(`cannot load a kubeconfig: ${(error as Error).message}`);
    }
    const server = await telemetry.serve(args["metrics-bind-address"]).catch((error: Error) => {
      throw invalidInput(`cannot listen on --metrics-bind-address ${args["metrics-bind-address"]}: ${error.message}`);
    });
    const identity = args.identity ?? `${io.host().hostname}_${Buffer.from(io.crypto.getRandomValues(new Uint8Array(4))).toString("hex")}`;
    // The warm-up's controller and the real one are built here alike (V8 optimises for the shapes it has seen).
    const controllerFor = (to: ApproverApi, observer: ApproverObserver, withPolicy: PolicyConfig, discovery: boolean) =>
      new ApproverController(to, observer, { policy: withPolicy, discovery, dryRun: args["dry-run"], verify: runtime.verifySignature, now, workers, events: args.events });
    const newController = () => controllerFor(api, telemetry.observer, policy, args.discovery);
    let controller: ApproverController | undefined;
    telemetry.countsFrom(() => controller?.counts() ?? { pending: 0, approvedNotIssued: 0, approvedFailed: 0 });
    const abort = new AbortController();
    telemetry.log("info", "starting", { identity, dryRun: args["dry-run"], leaderElect: args["leader-elect"], policy });
    const warmFrom = now().getTime();
    // The warm-up reports to telemetries of its own that write nowhere (see warm-up.ts).
    const warmed = await warmUp(policy, runtime.verifySignature, WARM_UP_ROUNDS, now(), runtime.telemetry(() => undefined, now).observer);
    // Then the whole path, HTTP/2 and JSON included, against a stand-in API server, in two runs (see
    // WARM_UP_CSR_RUNS); a dry run writes nothing, so it is not warmed.
    const runs = args["dry-run"] ? [] : WARM_UP_CSR_RUNS;
    for (const count of runs) {
      const stand = await runtime.warmUpApi(WARM_UP_NODE_LIST, io.crypto);
      try {
        await warmUpController(stand, controllerFor(stand.api, runtime.telemetry(() => undefined, now).observer, warmUpPolicy(policy, args.discovery), false), count, now);
      } catch (error) {
        telemetry.log("warn", "the warm-up did not finish; starting anyway", { error: (error as Error).message });
      } finally {
        await stand.close();
      }
    }
    telemetry.log("info", "warmed up", { rounds: WARM_UP_ROUNDS, approved: warmed, csrs: runs.reduce((a, b) => a + b, 0), ms: now().getTime() - warmFrom });

    return new Promise<number>((resolve) => {
      const finish = (code: number, why: string): void => {
        if (abort.signal.aborted) return;
        abort.abort();
        stopListening();
        controller?.stop();
        server.close();
        telemetry.log(code ? "error" : "info", `stopping: ${why}`, { identity });
        telemetry.flush();
        resolve(code);
      };
      const stopListening = io.onStopSignal((signal) => finish(0, signal));
      const startController = (): void => {
        controller = newController();
        controller.start().catch((error: unknown) => finish(1, `controller failed: ${(error as Error).message}`));
      };
      if (!args["leader-elect"]) {
        startController();
        return;
      }
      void runLeaderElection(
        api,
        { namespace: args["leader-elect-namespace"], name: args["leader-elect-name"], identity, ...election },
        {
          onStartedLeading: () => {
            telemetry.setLeader(true);
            startController();
          },
          // Stop acting at once; stay a candidate (a new controller starts if the lease is won again).
          onStoppedLeading: () => {
            telemetry.setLeader(false);
            controller?.stop();
            controller = undefined;
          },
          log: (msg, fields) => telemetry.log("info", msg, fields),
        },
        now,
        abort.signal,
      );
    });
  },
});
