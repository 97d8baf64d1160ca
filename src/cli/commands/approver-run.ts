import { hostname } from "node:os";
import type { CommandModule } from "yargs";
import type { ApproverController } from "../../approver/controller.js";
import { invalidInput } from "../../errors.js";
import { parseDuration } from "../../pki/duration.js";
import type { CliIo } from "../io.js";
import { policyFromArgs, withPolicyOptions, type PolicyArgs } from "../approver-options.js";

type Args = PolicyArgs & {
  readonly kubeconfig?: string | undefined;
  readonly "dry-run": boolean;
  readonly "leader-elect": boolean;
  readonly "leader-elect-namespace": string;
  readonly "leader-elect-name": string;
  readonly "lease-duration": string;
  readonly "renew-deadline": string;
  readonly "retry-period": string;
  readonly identity?: string | undefined;
  readonly "metrics-bind-address": string;
  readonly workers: number;
  readonly events: boolean;
  readonly discovery: boolean;
};

/** `kpki approver run`: the controller. Runs until SIGTERM/SIGINT (exit 0) or lost leadership (exit 1). */
export const approverRunCommand = (io: CliIo, setExitCode: (code: number) => void): CommandModule<object, Args> => ({
  command: "run",
  describe: "Run the kubelet-serving CSR approver controller",
  builder: (y) =>
    withPolicyOptions(y)
      .option("kubeconfig", { type: "string", describe: "Kubeconfig to use [default: $KUBECONFIG, ~/.kube/config, then in-cluster]" })
      .option("dry-run", { type: "boolean", default: false, describe: "Decide and log, but write no condition" })
      .option("leader-elect", { type: "boolean", default: true, describe: "Run only while holding a coordination.k8s.io/v1 Lease" })
      .option("leader-elect-namespace", { type: "string", default: "kube-system", describe: "The Lease's namespace" })
      .option("leader-elect-name", { type: "string", default: "kpki-approver", describe: "The Lease's name" })
      .option("lease-duration", { type: "string", default: "15s", describe: "How long a lease holds without renewal" })
      .option("renew-deadline", { type: "string", default: "10s", describe: "The leader gives up after failing to renew for this long" })
      .option("retry-period", { type: "string", default: "2s", describe: "How often to try to acquire or renew" })
      .option("identity", { type: "string", describe: "This replica's identity in the Lease [default: hostname_random]" })
      .option("workers", { type: "number", default: 16, describe: "CSRs decided and written at once" })
      .option("events", { type: "boolean", default: true, describe: "Record an Event on each decision (--no-events saves one API write per CSR)" })
      .option("discovery", { type: "boolean", default: true, describe: "Read the API server's addresses (the kubernetes Service and its endpoints) and kubeadm-config's subnets from the cluster, and refuse them as SANs" })
      .option("metrics-bind-address", { type: "string", default: "0.0.0.0:8080", describe: "Address for /metrics, /healthz and /readyz" })
      .example("$0 approver run", "In a cluster (see deploy/): what must be refused is discovered")
      .example("$0 approver run --apiserver-address api.example.com --pod-cidr 10.244.0.0/16", "Add to what is discovered (a load balancer's name, a CNI's own range)")
      .example("$0 approver run --kubeconfig approver.conf --dry-run --leader-elect=false", "Watch and log what would be decided")
      .epilogue("Logs are JSON lines on stderr. A replica that loses the lease stops deciding and stays a candidate. Exit codes: 0 stopped by SIGTERM/SIGINT, 1 error, 2 usage error.") as never,
  handler: async (args) => {
    const policy = policyFromArgs(args);
    const dur = (flag: "lease-duration" | "renew-deadline" | "retry-period"): number => {
      const ms = parseDuration(args[flag]);
      if (ms === undefined || ms <= 0) throw invalidInput(`invalid --${flag} "${args[flag]}": expected a duration such as 15s`);
      return ms;
    };
    const election = { leaseDurationMs: dur("lease-duration"), renewDeadlineMs: dur("renew-deadline"), retryPeriodMs: dur("retry-period") };
    if (election.renewDeadlineMs >= election.leaseDurationMs) throw invalidInput("--renew-deadline must be shorter than --lease-duration");
    const now = () => new Date();
    // Loaded here, not at start-up: @kubernetes/client-node and prom-client would slow every other command.
    const [{ approverTelemetry }, { kubeApproverApi, loadKubeConfig }, { ApproverController }, { runLeaderElection }] = await Promise.all([
      import("../../io/approver-http.js"),
      import("../../io/kube-api.js"),
      import("../../approver/controller.js"),
      import("../../approver/leader.js"),
    ]);
    const telemetry = approverTelemetry(io.stderr, now);
    let api;
    try {
      api = kubeApproverApi(loadKubeConfig(args.kubeconfig));
    } catch (error) {
      throw invalidInput(`cannot load a kubeconfig: ${(error as Error).message}`);
    }
    const server = await telemetry.serve(args["metrics-bind-address"]).catch((error: Error) => {
      throw invalidInput(`cannot listen on --metrics-bind-address ${args["metrics-bind-address"]}: ${error.message}`);
    });
    const identity = args.identity ?? `${hostname()}_${Buffer.from(io.crypto.getRandomValues(new Uint8Array(4))).toString("hex")}`;
    if (!Number.isInteger(args.workers) || args.workers < 1) throw invalidInput(`invalid --workers ${args.workers}: expected a positive integer`);
    const newController = () =>
      new ApproverController(api, telemetry.observer, { policy, discovery: args.discovery, dryRun: args["dry-run"], verify: io.verifySignature, now, workers: args.workers, events: args.events });
    let controller: ApproverController | undefined;
    telemetry.countsFrom(() => controller?.counts() ?? { pending: 0, approvedNotIssued: 0, approvedFailed: 0 });
    const abort = new AbortController();
    telemetry.log("info", "starting", { identity, dryRun: args["dry-run"], leaderElect: args["leader-elect"], policy });

    await new Promise<void>((resolve) => {
      const finish = (code: number, why: string): void => {
        if (abort.signal.aborted) return;
        abort.abort();
        controller?.stop();
        server.close();
        telemetry.log(code ? "error" : "info", `stopping: ${why}`, { identity });
        setExitCode(code);
        resolve();
      };
      process.once("SIGTERM", () => finish(0, "SIGTERM"));
      process.once("SIGINT", () => finish(0, "SIGINT"));
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
