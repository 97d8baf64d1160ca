// Builds the Go programs under testdata/ once per content and drives
// testdata/go-csr-twin, Go's crypto/x509 reading a CSR's spec.request exactly as
// kube-apiserver does. Used by vitest tests and by standalone scripts, so it
// imports nothing from vitest.
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { findBinary, testenvDir } from "./testenv.js";

const TESTDATA = resolve(import.meta.dirname, "../../testdata");

/** The environment every Go build here runs in: standard library only, no network, no cgo. */
function goEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GOCACHE: join(testenvDir(), "go-cache"),
    GO111MODULE: "off",
    GOPROXY: "off",
    GOFLAGS: "",
    CGO_ENABLED: "0",
    GOTOOLCHAIN: "local",
  };
}

/**
 * Builds testdata/<name>/main.go with `go build -trimpath` into
 * <testenv>/go-tools/<name>-<first 16 hex digits of sha256(main.go)> unless that
 * file exists, and returns its path. An edit of main.go changes the name, so it
 * rebuilds; the build goes to a temporary name and is renamed into place, so
 * concurrent builders never see a partial file.
 */
export function buildGoTool(name: string): string {
  const source = join(TESTDATA, name, "main.go");
  const digest = createHash("sha256").update(readFileSync(source)).digest("hex").slice(0, 16);
  const dir = join(testenvDir(), "go-tools");
  const out = join(dir, `${name}-${digest}`);
  if (existsSync(out)) return out;
  const go = findBinary("go");
  if (!go) throw new Error("buildGoTool: no `go` on PATH or in the testenv cache (run scripts/setup-testenv.sh)");
  mkdirSync(dir, { recursive: true });
  const tmp = `${out}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    execFileSync(go, ["build", "-trimpath", "-o", tmp, "main.go"], {
      cwd: join(TESTDATA, name), env: goEnv(), stdio: ["ignore", "pipe", "pipe"], timeout: 300_000,
    });
    renameSync(tmp, out);
  } catch (error) {
    rmSync(tmp, { force: true });
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? "";
    throw new Error(`buildGoTool(${name}): ${(error as Error).message}\n${stderr}`);
  }
  return out;
}

// ---- go-csr-twin's JSON (testdata/go-csr-twin/main.go) ----

/** One attribute of csr.RawSubject, read both as encoding/asn1 decodes an ANY value and as a raw TLV. */
export interface GoRdnAttribute {
  oid: string;
  /** The value's ASN.1 class, tag number and constructed bit. */
  class: number;
  tag: number;
  compound: boolean;
  /** The value's content octets. */
  rawHex: string;
  kind: GoValueKind;
  /** string: as is; int64: decimal; bytes: hex; oid: dotted; time: RFC 3339 (fractions kept); bitstring: "<hex of bytes>:<bit length>"; nil: "". */
  value: string;
  /** Hex of the Go string's bytes when kind is "string" (JSON turns invalid UTF-8 into U+FFFD), else "". */
  valueHex: string;
}

/** The Go type encoding/asn1 gives an ANY (interface{}) value: pkix.AttributeTypeAndValue.Value. */
export type GoValueKind = "string" | "int64" | "bytes" | "oid" | "time" | "bitstring" | "nil" | "other";

/** One entry of csr.Subject.Names. */
export interface GoName {
  oid: string;
  kind: GoValueKind;
  value: string;
  valueHex: string;
}

/** One entry of csr.Extensions (every requested extension, in order). */
export interface GoExtension {
  oid: string;
  critical: boolean;
  valueHex: string;
}

export type GoPublicKey =
  | { type: "rsa"; nHex: string; e: number }
  | { type: "ecdsa"; curve: "P-224" | "P-256" | "P-384" | "P-521"; xHex: string; yHex: string }
  | { type: "ed25519"; keyHex: string }
  | { type: "dsa" }
  | { type: "none" };

/** What x509.ParseCertificateRequest returned, and csr.CheckSignature(). */
export interface GoParseResult {
  /** pkix.RDNSequence of csr.RawSubject, one array per RDN (SET). */
  rdns: GoRdnAttribute[][];
  /** Set when the raw re-read of RawSubject disagreed with the decoded one; class/tag/compound/rawHex are then zero. */
  rdnsError: string;
  names: GoName[];
  commonName: string;
  commonNameHex: string;
  organization: string[];
  organizationHex: string[];
  extensions: GoExtension[];
  dnsNames: string[];
  emails: string[];
  /** url.URL.String() of each URI SAN. */
  uris: string[];
  /** Each net.IP's bytes as Go holds them: 4 or 16 bytes. */
  ipsHex: string[];
  publicKeyAlgorithm: "RSA" | "DSA" | "ECDSA" | "Ed25519" | "Unknown";
  publicKey: GoPublicKey;
  /** x509.SignatureAlgorithm.String(): e.g. "ECDSA-SHA256", "SHA256-RSA", "Ed25519", or a number when unknown. */
  signatureAlgorithm: string;
  signatureHex: string;
  rawTbsHex: string;
  rawSpkiHex: string;
  rawSubjectHex: string;
  /** len(csr.Attributes). */
  attributesCount: number;
  /** csr.CheckSignature() error text, "" when the signature verifies. */
  checkSignature: string;
}

/** The first block pem.Decode returned (all "" / {} when there was none) and its `rest`. */
interface GoPemFields {
  id: number;
  pemType: string;
  pemHeaders: Record<string, string>;
  derHex: string;
  restHex: string;
}

export interface GoCsrViewOk extends GoPemFields {
  stage: "ok";
  error: "";
  view: GoParseResult;
}

export interface GoCsrViewFailed extends GoPemFields {
  /** "pem": no block, or its type is not CERTIFICATE REQUEST; "parse": ParseCertificateRequest failed. */
  stage: "pem" | "parse";
  error: string;
  view: null;
}

/** Go panicked while handling the request; the process carries on. */
export interface GoPanic {
  id: number;
  stage: "panic";
  error: string;
  /** The panic value and the goroutine's stack. */
  panic: string;
}

/** What go-csr-twin reports for one spec.request. */
export type GoCsrView = GoCsrViewOk | GoCsrViewFailed | GoPanic;

/** A malformed input line. */
export interface GoInputError {
  id: number;
  stage: "input";
  error: string;
}

export interface GoCreateResult {
  id: number;
  pem: string;
  error: string;
}

/** Any line go-csr-twin writes. */
export type GoTwinLine = GoCsrView | GoInputError | GoCreateResult;

/** A CSR the way the kubelet builds one (client-go util/cert MakeCSRFromTemplate). */
export interface GoCsrTemplate {
  /** PKCS#8 PEM private key: RSA, ECDSA or Ed25519. */
  keyPem: string;
  commonName: string;
  organization?: readonly string[];
  dnsNames?: readonly string[];
  /** Parsed with net.ParseIP. */
  ips?: readonly string[];
}

export interface GoCsrTwin {
  /** Go's reading of each spec.request (the raw bytes, i.e. the PEM text), in input order. */
  parse(requests: readonly Uint8Array[]): Promise<GoCsrView[]>;
  /** One PEM CSR per template. Rejects if Go reports an error for any of them. */
  create(templates: readonly GoCsrTemplate[]): Promise<string[]>;
  /** Ends stdin and waits for the process to exit (SIGKILL after the grace period). */
  close(): Promise<void>;
  /** The child's PID, undefined once it has exited. */
  readonly pid: number | undefined;
}

export interface GoCsrTwinOptions {
  /** How long close() waits for a clean exit before SIGKILL. Default 10 s. */
  closeTimeoutMs?: number;
}

const STDERR_TAIL = 8192;
/** Lines per stdin write: big enough to amortise write() calls, small enough to keep memory flat. */
const LINES_PER_WRITE = 256;

/** Starts one long-lived go-csr-twin process; batches of any size share it. */
export async function startGoCsrTwin(options: GoCsrTwinOptions = {}): Promise<GoCsrTwin> {
  const binary = buildGoTool("go-csr-twin");
  const child: ChildProcessWithoutNullStreams = spawn(binary, [], { stdio: ["pipe", "pipe", "pipe"] });
  await new Promise<void>((resolveSpawn, rejectSpawn) => {
    child.once("spawn", resolveSpawn);
    child.once("error", rejectSpawn);
  });

  let stderrTail = "";
  let exited: string | undefined;
  let nextId = 1;
  const pending = new Map<number, { resolve: (line: GoTwinLine) => void; reject: (error: Error) => void }>();
  const exitWaiters: (() => void)[] = [];

  const fail = (reason: string): void => {
    if (exited === undefined) exited = reason;
    const error = new Error(`go-csr-twin ${exited}; stderr tail:\n${stderrTail}`);
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };

  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL);
  });

  // Pieces of a line not yet ended by "\n" (a line can span many chunks).
  const partial: string[] = [];
  const onLine = (text: string): boolean => {
    let line: GoTwinLine;
    try {
      line = JSON.parse(text) as GoTwinLine;
    } catch (error) {
      fail(`wrote a line that is not JSON (${(error as Error).message}): ${text.slice(0, 200)}`);
      child.kill("SIGKILL");
      return false;
    }
    const waiter = pending.get(line.id);
    if (!waiter) {
      fail(`answered unknown id ${line.id}: ${text.slice(0, 200)}`);
      child.kill("SIGKILL");
      return false;
    }
    pending.delete(line.id);
    waiter.resolve(line);
    return true;
  };
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    let nl = chunk.indexOf("\n");
    if (nl < 0) {
      partial.push(chunk);
      return;
    }
    partial.push(chunk.slice(0, nl));
    const first = partial.join("");
    partial.length = 0;
    if (!onLine(first)) return;
    let start = nl + 1;
    for (nl = chunk.indexOf("\n", start); nl >= 0; nl = chunk.indexOf("\n", start)) {
      if (!onLine(chunk.slice(start, nl))) return;
      start = nl + 1;
    }
    if (start < chunk.length) partial.push(chunk.slice(start));
  });

  // EPIPE after the child died is reported through "close" below.
  child.stdin.on("error", () => undefined);
  child.on("error", (error) => fail(`failed: ${error.message}`));
  const killOnExit = (): void => {
    child.kill("SIGKILL");
  };
  process.once("exit", killOnExit);
  child.once("close", (code, signal) => {
    process.removeListener("exit", killOnExit);
    fail(`exited (code ${code}, signal ${signal})`);
    for (const w of exitWaiters.splice(0)) w();
  });

  /** Writes the lines (whole lines per write, so concurrent batches interleave safely) honouring backpressure. */
  async function send(lines: readonly string[]): Promise<void> {
    for (let i = 0; i < lines.length; i += LINES_PER_WRITE) {
      if (exited !== undefined) return;
      const chunk = lines.slice(i, i + LINES_PER_WRITE).join("\n") + "\n";
      if (!child.stdin.write(chunk)) {
        await new Promise<void>((resolveDrain) => {
          const done = (): void => {
            child.stdin.off("drain", done);
            child.off("close", done);
            resolveDrain();
          };
          child.stdin.on("drain", done);
          child.once("close", done);
        });
      }
    }
  }

  /** Registers one id per request, sends them and resolves with the answers in request order. */
  async function roundTrip(build: (id: number, index: number) => string, count: number): Promise<GoTwinLine[]> {
    if (exited !== undefined) throw new Error(`go-csr-twin ${exited}; stderr tail:\n${stderrTail}`);
    const base = nextId;
    nextId += count;
    const answers: Promise<GoTwinLine>[] = [];
    const lines: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = base + i;
      const answer = new Promise<GoTwinLine>((resolveLine, rejectLine) => pending.set(id, { resolve: resolveLine, reject: rejectLine }));
      // The child may die while send() awaits 'drain', before Promise.all below attaches its handler.
      answer.catch(() => undefined);
      answers.push(answer);
      lines.push(build(id, i));
    }
    // A dead child is reported through `answers`; send() returns early and does not throw.
    await send(lines);
    return Promise.all(answers);
  }

  return {
    get pid() {
      return exited === undefined ? child.pid : undefined;
    },

    async parse(requests) {
      const lines = await roundTrip(
        (id, i) => JSON.stringify({ id, op: "parse", request: Buffer.from(requests[i]!).toString("base64") }),
        requests.length,
      );
      return lines.map((line) => {
        if ("stage" in line && line.stage !== "input") return line;
        throw new Error(`go-csr-twin rejected a parse request: ${JSON.stringify(line)}`);
      });
    },

    async create(templates) {
      const lines = await roundTrip(
        (id, i) => {
          const t = templates[i]!;
          return JSON.stringify({
            id, op: "create", keyPem: t.keyPem, commonName: t.commonName,
            organization: t.organization ?? [], dnsNames: t.dnsNames ?? [], ips: t.ips ?? [],
          });
        },
        templates.length,
      );
      return lines.map((line, i) => {
        if ("pem" in line && !line.error) return line.pem;
        throw new Error(`go-csr-twin create #${i}: ${line.error}`);
      });
    },

    async close() {
      if (exited === undefined) {
        const gone = new Promise<void>((resolveExit) => exitWaiters.push(resolveExit));
        child.stdin.end();
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<"timeout">((resolveTimeout) => {
          timer = setTimeout(() => resolveTimeout("timeout"), options.closeTimeoutMs ?? 10_000);
        });
        const outcome = await Promise.race([gone, timeout]);
        clearTimeout(timer);
        if (outcome === "timeout") {
          child.kill("SIGKILL");
          await gone;
        }
      }
    },
  };
}
