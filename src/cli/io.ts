import type { HostFacts } from "../kubeadm/config.js";
import type { PkiStore } from "../kubeadm/store.js";
import type { ScanEntry } from "../io/scan.js";
import type { RenewPort } from "../renew/renew.js";
import type { SignatureVerifier } from "../pki/signature.js";

/** Everything a command may touch. bin/kpki.ts wires the real one; tests pass a fake. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether stdout is a terminal (colour and progress only then). */
  readonly isTty: boolean;
  readonly crypto: Crypto;
  /** The approver's per-request signature check (node:crypto; see src/io/node-signature.ts). */
  readonly verifySignature: SignatureVerifier;
  /** The process start time (kubeadm captures it once: StartTimeUTC). */
  readonly now: () => Date;
  readonly store: PkiStore;
  /** A store for --dry-run that reports writes instead of making them. */
  readonly dryRunStore: (report: (line: string) => void) => PkiStore;
  readonly host: () => HostFacts;
  readonly readText: (path: string) => Promise<string | undefined>;
  readonly readBytes: (path: string) => Promise<Uint8Array<ArrayBuffer> | undefined>;
  /** Expands --scan arguments (files, directories, globs); see src/io/scan.ts. */
  readonly scan: (paths: readonly string[]) => Promise<ScanEntry[]>;
  /** File operations for `certs renew` (pair swaps, backups). */
  readonly renewPort: (now: Date) => RenewPort;
  /** A fresh `mayExist` look-up (cached directory listings) for one command run. */
  readonly existenceCache: () => (path: string) => boolean;
}
