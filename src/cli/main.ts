import yargs from "yargs";
import { isPkiError } from "../errors.js";
import type { AnyCommand } from "./command.js";
import { defineGroup } from "./command.js";
import { approverCheckCommand } from "./commands/approver-check.js";
import { approverRunCommand } from "./commands/approver-run.js";
import { caCreateCommand } from "./commands/ca-create.js";
import { caRotateCommand } from "./commands/ca-rotate.js";
import { certsCertificateKeyCommand } from "./commands/certs-certificate-key.js";
import { certsCheckExpirationCommand, UNKNOWN_EXIT, usesThresholds } from "./commands/certs-check-expiration.js";
import { certsCheckServedCommand } from "./commands/certs-check-served.js";
import { certsGenerateCsrCommand } from "./commands/certs-generate-csr.js";
import { certsRenewCommand } from "./commands/certs-renew.js";
import { certsSignCommand } from "./commands/certs-sign.js";
import { certsCreateCommand } from "./commands/certs-create.js";
import { configCommand } from "./commands/config.js";
import { exporterCommand } from "./commands/exporter.js";
import { initCommand } from "./commands/init.js";
import { inspectCommand } from "./commands/inspect.js";
import { kubeconfigUserCommand } from "./commands/kubeconfig-user.js";
import { trustCommand } from "./commands/trust.js";
import { versionCommand } from "./commands/version.js";
import type { CliIo } from "./io.js";
import { commandPath, explainUnknown, word } from "./usage.js";

/** Exit codes every command shares (README, "Exit codes"); some commands add their own. */
export const EXIT = { ok: 0, error: 1, usage: 2 } as const;

class UsageError extends Error {
  override name = "UsageError";
}

/** kpki's command tree: one module per command, listed here. */
export const COMMANDS: readonly AnyCommand[] = [
  initCommand,
  defineGroup({ command: "ca", describe: "Certificate authorities: standalone ones for dev clusters, and staged rotation of a cluster's", subcommands: [caCreateCommand, caRotateCommand] }),
  defineGroup({
    command: "certs",
    describe: "Certificates of kubeadm clusters: expiry report, renewal, CSRs, signing",
    subcommands: [certsCheckExpirationCommand, certsCheckServedCommand, certsRenewCommand, certsGenerateCsrCommand, certsSignCommand, certsCreateCommand, certsCertificateKeyCommand],
  }),
  defineGroup({ command: "kubeconfig", describe: "Kubeconfig files for additional users", subcommands: [kubeconfigUserCommand] }),
  defineGroup({
    command: "approver",
    describe: "The kubelet-serving CSR approver: the controller (run) and its policy offline (check)",
    subcommands: [approverRunCommand, approverCheckCommand],
  }),
  exporterCommand,
  inspectCommand,
  trustCommand,
  configCommand,
  versionCommand,
];

const SHELLS = ["bash", "zsh", "fish"] as const;

const COMPLETION_HELP = `kpki completion [bash|zsh|fish]

Print a shell completion script (for $SHELL when no shell is named).

Examples:
  kpki completion bash >> ~/.bashrc                           Bash
  kpki completion zsh >> ~/.zshrc                             Zsh
  kpki completion fish > ~/.config/fish/completions/kpki.fish Fish

Exit codes: 0 printed, 2 usage error.
`;

/** What yargs says of the options of the command being run (its `getOptions()`), the part used here. */
interface DeclaredOptions {
  readonly string: readonly string[];
  readonly number: readonly string[];
  readonly array: readonly string[];
}

/**
 * Every flag's value is checked before a command runs: a flag given twice (yargs then hands over a
 * list, and cobra would silently keep the last), an empty value (`--dir` with its value
 * forgotten; an empty path would mean the current folder, or `/` once joined), and a number that
 * is not one are usage errors naming the flag.
 */
function checkFlagValues(argv: Record<string, unknown>, declared: DeclaredOptions): void {
  const lists = new Set(declared.array);
  for (const name of declared.string) {
    const value = argv[name];
    if (value === undefined || name.length === 1) continue; // one-letter names are aliases of long flags
    if (lists.has(name)) {
      if (Array.isArray(value) && value.some((v) => v === "")) throw new UsageError(`--${name} needs a value`);
      continue;
    }
    if (Array.isArray(value)) throw new UsageError(`--${name} was given ${value.length} times (${value.map((v) => JSON.stringify(v)).join(", ")}); give it once`);
    if (value === "") throw new UsageError(`--${name} needs a value`);
  }
  for (const name of declared.number) {
    const value = argv[name];
    if (value === undefined || name.length === 1 || lists.has(name)) continue;
    if (Array.isArray(value)) throw new UsageError(`--${name} was given ${value.length} times; give it once`);
    if (typeof value !== "number" || !Number.isFinite(value)) throw new UsageError(`--${name} needs a number`);
  }
}

/** Builds the yargs application from COMMANDS; `setExitCode` receives the handler's exit code. */
export function buildCli(io: CliIo, args: readonly string[], setExitCode: (code: number) => void = () => {}) {
  const cli = yargs([...args])
    .scriptName("kpki")
    .usage("$0 <command> [options]\n\nkpki: a kubeadm-compatible PKI toolkit for Kubernetes clusters.");
  for (const c of COMMANDS) cli.command(c.toYargs(io, setExitCode));
  cli
    .completion("completion", "Print a shell completion script: kpki completion [bash|zsh|fish] >> ~/.bashrc")
    .example("$0 init --dir ./dev-cluster", "Make a dev-cluster PKI with kubeadm's defaults")
    .example("$0 completion fish > ~/.config/fish/completions/kpki.fish", "Install fish completion")
    .epilogue("Exit codes: 0 success, 1 error (bad input, a file that does not match, I/O; nothing changed), 2 usage error, 130/143 interrupted. certs check-expiration and approver check add their own; see their --help.")
    .demandCommand(1, "Specify a command")
    .alias("h", "help")
    .version(false)
    .strict()
    .recommendCommands()
    .exitProcess(false)
    .wrap(Math.min(120, Number(io.env["COLUMNS"]) || 100))
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
  // getOptions() is yargs' own (lib/yargs-factory.js) but missing from @types/yargs: the options
  // declared by the command being run, which global middleware sees after its builder ran.
  const declared = cli as unknown as { getOptions(): DeclaredOptions };
  return cli.middleware((argv) => checkFlagValues(argv, declared.getOptions()));
}

/** The exit code of an error that stopped a command, and its one line. */
function failure(error: unknown, io: CliIo): number {
  const message = isPkiError(error) ? error.message : `${(error as Error | undefined)?.message ?? String(error)}`;
  io.stderr(`error: ${message}\n`);
  if (io.env["KPKI_DEBUG"]) io.stderr(`${(error as Error | undefined)?.stack ?? ""}\n`);
  return isPkiError(error) ? error.exitCode : EXIT.error;
}

/**
 * Runs kpki with `args` and returns the exit code. The one place that turns
 * errors into messages: one line on stderr, no stack trace (KPKI_DEBUG=1 adds it).
 */
export async function run(given: readonly string[], io: CliIo): Promise<number> {
  // `kpki --version` alone, as most CLIs accept it: the line of `kpki version -o short`.
  const args = given.length === 1 && given[0] === "--version" ? ["version", "-o", "short"] : given;
  // yargs picks the completion template from $SHELL; `kpki completion fish` names the shell instead.
  const [first, second] = args;
  // yargs' completion command prints its script even when asked for help.
  if (first === "completion" && args.some((a) => a === "--help" || a === "-h")) {
    io.stdout(COMPLETION_HELP);
    return EXIT.ok;
  }
  const completionShell = first === "completion" && SHELLS.includes(second as (typeof SHELLS)[number]) ? second : undefined;
  const argv = completionShell ? ["completion"] : args;
  const savedShell = process.env["SHELL"];
  if (completionShell) process.env["SHELL"] = `/bin/${completionShell}`;
  let helpOutput = "";
  let exitCode: number = EXIT.ok;
  // A monitoring check (check-expiration with thresholds) answers every failure with 3 UNKNOWN.
  const monitoring = usesThresholds(argv);
  try {
    await buildCli(io, argv, (code) => (exitCode = code)).parseAsync([...argv], {}, (_err, _parsed, output) => {
      helpOutput = output;
    });
    if (helpOutput) io.stdout(helpOutput.endsWith("\n") ? helpOutput : `${helpOutput}\n`);
    return exitCode;
  } catch (error) {
    const usage = error instanceof UsageError || (error as { name?: string }).name === "YError" || (isPkiError(error) && error.code === "usage");
    if (usage) {
      const { path, options, usage: line } = commandPath(COMMANDS, argv);
      const level = path.split(" ").slice(1).reduce<readonly AnyCommand[]>((l, w) => l.find((c) => word(c) === w)?.subcommands ?? [], COMMANDS);
      const text = explainUnknown((error as Error).message, argv, options, level.map(word), line);
      io.stderr(`error: ${text}\nRun '${path} --help' for usage.\n`);
      return monitoring ? UNKNOWN_EXIT : EXIT.usage;
    }
    const code = failure(error, io);
    return monitoring && code === EXIT.error ? UNKNOWN_EXIT : code;
  } finally {
    if (completionShell) {
      if (savedShell === undefined) delete process.env["SHELL"];
      else process.env["SHELL"] = savedShell;
    }
  }
}
