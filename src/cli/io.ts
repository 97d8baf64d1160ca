import type { HostFacts } from "../kubeadm/config.js";
import type { PkiStore } from "../kubeadm/store.js";
import type { ScanEntry } from "../io/scan.js";
import type { ClusterInfoPort, RotatePort } from "../rotate/rotate.js";
import type { SignatureVerifier } from "../pki/signature.js";
import type { ApproverApi } from "../approver/ports.js";
import type { ApproverTelemetry } from "../io/approver-http.js";
import type { UserCsrApi } from "../kubeadm/kubeconfig-user.js";
import type { ListWatchApi } from "../exporter/reflector.js";
import type { TrustPort } from "../trust/apply.js";
import type { WarmUpApi } from "../approver/warm-up.js";
import type { ExporterHandler, ExporterServer } from "../io/exporter-http.js";

/** What `approver run` needs beyond files, loaded on first use (it pulls in the Kubernetes client and prom-client). */
export interface ApproverRuntime {
  /** The API from a kubeconfig ($KUBECONFIG, ~/.kube/config, then in-cluster when undefined). */
  readonly api: (kubeconfig: string | undefined) => ApproverApi;
  /** JSON logs written with `write`, Prometheus metrics and the /healthz, /readyz, /metrics server. */
  readonly telemetry: (write: (line: string) => void, now: () => Date) => ApproverTelemetry;
  /** The approver's signature check: the check itself off the main thread (src/io/node-signature.ts). */
  readonly verifySignature: SignatureVerifier;
  /** A stand-in API server for the warm-up, on 127.0.0.1 (src/io/warm-up-api.ts). */
  readonly warmUpApi: (nodeListJson: string, crypto: Crypto) => Promise<WarmUpApi>;
}

/** The signals a long-running command stops on. */
export type StopSignal = "SIGINT" | "SIGTERM";

/** Everything a command may touch. bin/kpki.ts wires the real one; tests pass a fake. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether stdout is a terminal (colour and progress only then). */
  readonly isTty: boolean;
  readonly crypto: Crypto;
  /** A signature check on the calling thread (node:crypto; see src/io/node-signature.ts): `certs check-expiration --verify`, `approver check`. */
  readonly verifySignature: SignatureVerifier;
  /** The process start time (kubeadm captures it once: StartTimeUTC). */
  readonly now: () => Date;
  /** The current time, for long-running commands (approver run). */
  readonly clock: () => Date;
  /** Calls `handler` once on the first SIGINT or SIGTERM; returns a function that stops listening. */
  readonly onStopSignal: (handler: (signal: StopSignal) => void) => () => void;
  readonly approverRuntime: () => Promise<ApproverRuntime>;
  /** `kpki exporter`: serves /metrics, /healthz and /readyz on `listen` ([HOST]:PORT; src/io/exporter-http.ts), loaded on first use. */
  readonly exporterServer: (listen: string, handler: ExporterHandler) => Promise<ExporterServer>;
  /** `kpki exporter`: calls `onChange` after a change in the folders of these paths (src/io/exporter-watch.ts); `recursive` for trees. */
  readonly watchPaths: (paths: readonly { readonly path: string; readonly recursive: boolean }[], onChange: () => void) => Promise<{ readonly close: () => void }>;
  /** `kubeconfig user --via-api`: the certificates API as the user of a kubeconfig ($KUBECONFIG, ~/.kube/config when undefined), loaded on first use. */
  readonly userCsrApi: (kubeconfig: string | undefined) => Promise<UserCsrApi>;
  /** `exporter --secrets/--configmaps/--csrs`: LIST and WATCH as a kubeconfig says ($KUBECONFIG, ~/.kube/config, then the in-cluster service account, when undefined), loaded on first use. */
  readonly exporterApi: (kubeconfig: string | undefined) => Promise<ListWatchApi & { readonly close: () => void }>;
  /** What `kpki version` reports of the runtime: Node's version and the platform (`linux/x64`). */
  readonly runtime: { readonly node: string; readonly platform: string };
  readonly store: PkiStore;
  /** A store for --dry-run that reports writes instead of making them. */
  readonly dryRunStore: (report: (line: string) => void) => PkiStore;
  readonly host: () => HostFacts;
  readonly readText: (path: string) => Promise<string | undefined>;
  readonly readBytes: (path: string) => Promise<Uint8Array<ArrayBuffer> | undefined>;
  /** Expands --scan arguments (files, directories, globs); see src/io/scan.ts. */
  readonly scan: (paths: readonly string[]) => Promise<ScanEntry[]>;
  /** kube-public/cluster-info through the API with this kubeconfig's credentials (`ca rotate --kubeconfig`; src/io/cluster-info-api.ts). */
  readonly clusterInfoApi: (kubeconfig: string) => Promise<ClusterInfoPort & { close(): void }>;
  /** File operations for `certs renew` and `ca rotate` (pair swaps, backups). */
  readonly renewPort: (now: Date) => RotatePort;
  /** The certificates a TLS server at host:port presents, leaf first, as DER, unverified (`kpki inspect HOST:PORT`; src/io/tls-peer.ts). */
  readonly tlsPeerChain: (host: string, port: number, client?: { readonly cert: Uint8Array; readonly key: Uint8Array }) => Promise<Uint8Array<ArrayBuffer>[]>;
  /** A fresh `mayExist` look-up (cached directory listings) for one command run. */
  readonly existenceCache: () => (path: string) => boolean;
  /** `kpki trust`: the host's trust stores (files, PATH, certutil/keytool/update-ca-certificates), loaded on first use (src/io/trust-store.ts). */
  readonly trustStores: () => Promise<TrustPort>;
}
