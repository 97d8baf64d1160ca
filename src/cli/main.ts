import yargs from "yargs";
import { isPkiError } from "../errors.js";
import { caCreateCommand } from "./commands/ca-create.js";
import { certsCheckExpirationCommand } from "./commands/certs-check-expiration.js";
import { certsRenewCommand } from "./commands/certs-renew.js";
import { certsGenerateCsrCommand } from "./commands/certs-generate-csr.js";
import { certsSignCommand } from "./commands/certs-sign.js";
import { certsCertificateKeyCommand } from "./commands/certs-certificate-key.js";
import { kubeconfigUserCommand } from "./commands/kubeconfig-user.js";
import { approverCheckCommand } from "./commands/approver-check.js";
import { approverRunCommand } from "./commands/approver-run.js";
import { initCommand } from "./commands/init.js";
import type { CliIo } from "./io.js";

/** Exit codes, documented in the README and in every command's help. */
export const EXIT = { ok: 0, error: 1, usage: 2 } as const;

class UsageError extends Error {
  override name = "UsageError";
}

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

/** kpki's command tree (buildCli below), for pointing a usage error at the right help. */
interface CommandTree {
  readonly [word: string]: CommandTree;
}
const COMMANDS: CommandTree = {
  init: { phase: { certs: {}, kubeconfig: {} } },
  ca: { create: {} },
  certs: { "check-expiration": {}, renew: {}, "generate-csr": {}, sign: {}, "certificate-key": {} },
  kubeconfig: { user: {} },
  approver: { run: {}, check: {} },
  completion: {},
};

/** The command typed (`kpki certs renew`), without its arguments and flags. */
function commandPath(args: readonly string[]): string {
  const words = ["kpki"];
  let node: CommandTree | undefined = COMMANDS;
  for (const a of args) {
    node = Object.hasOwn(node, a) ? node[a] : undefined;
    if (!node) break;
    words.push(a);
  }
  return words.join(" ");
}

/** Builds the yargs application. Commands are listed here explicitly, one module each. */
export function buildCli(io: CliIo, args: readonly string[], setExitCode: (code: number) => void = () => {}) {
  const cli = yargs([...args])
    .scriptName("kpki")
    .usage("$0 <command> [options]\n\nkpki: a kubeadm-compatible PKI toolkit for Kubernetes clusters.")
    .command(initCommand(io))
    .command({
      command: "ca",
      describe: "Standalone certificate authorities for dev clusters",
      builder: (y) => y.command(caCreateCommand(io)).demandCommand(1, "Specify a ca subcommand (create)"),
      handler: () => undefined,
    })
    .command({
      command: "certs",
      describe: "Certificates of kubeadm clusters: expiry report, renewal, CSRs, signing",
      builder: (y) =>
        y
          .command(certsCheckExpirationCommand(io, setExitCode))
          .command(certsRenewCommand(io))
          .command(certsGenerateCsrCommand(io))
          .command(certsSignCommand(io))
          .command(certsCertificateKeyCommand(io))
          .demandCommand(1, "Specify a certs subcommand (check-expiration, renew, generate-csr, sign, certificate-key)"),
      handler: () => undefined,
    })
    .command({
      command: "kubeconfig",
      describe: "Kubeconfig files for additional users",
      builder: (y) => y.command(kubeconfigUserCommand(io)).demandCommand(1, "Specify a kubeconfig subcommand (user)"),
      handler: () => undefined,
    })
    .command({
      command: "approver",
      describe: "The kubelet-serving CSR approver: the controller (run) and its policy offline (check)",
      builder: (y) =>
        y
          .command(approverRunCommand(io, setExitCode))
          .command(approverCheckCommand(io, setExitCode))
          .demandCommand(1, "Specify an approver subcommand (run, check)"),
      handler: () => undefined,
    })
    .completion("completion", "Print a shell completion script: kpki completion [bash|zsh|fish] >> ~/.bashrc")
    .example("$0 init --dir ./dev-cluster", "Make a dev-cluster PKI with kubeadm's defaults")
    .example("$0 completion fish > ~/.config/fish/completions/kpki.fish", "Install fish completion")
    .epilogue("Exit codes: 0 success, 1 error (bad input, a file that does not match, I/O), 2 usage error. certs check-expiration and approver check add their own; see their --help.")
    .demandCommand(1, "Specify a command")
    .alias("h", "help")
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

/**
 * Runs kpki with `args` and returns the exit code. The one place that turns
 * errors into messages: one line on stderr, no stack trace (KPKI_DEBUG=1 adds it).
 */
export async function run(args: readonly string[], io: CliIo): Promise<number> {
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
  try {
    await buildCli(io, argv, (code) => (exitCode = code)).parseAsync([...argv], {}, (_err, _parsed, output) => {
      helpOutput = output;
    });
    if (helpOutput) io.stdout(helpOutput.endsWith("\n") ? helpOutput : `${helpOutput}\n`);
    return exitCode;
  } catch (error) {
    if (error instanceof UsageError || (error as { name?: string }).name === "YError") {
      io.stderr(`error: ${(error as Error).message}\nRun '${commandPath(argv)} --help' for usage.\n`);
      return EXIT.usage;
    }
    const message = isPkiError(error) ? error.message : `${(error as Error).message ?? String(error)}`;
    io.stderr(`error: ${message}\n`);
    if (io.env["KPKI_DEBUG"]) io.stderr(`${(error as Error).stack ?? ""}\n`);
    return EXIT.error;
  } finally {
    if (completionShell) {
      if (savedShell === undefined) delete process.env["SHELL"];
      else process.env["SHELL"] = savedShell;
    }
  }
}
