import yargs from "yargs";
import { isPkiError } from "../errors.js";
import { closestName } from "../suggest.js";
import type { AnyCommand } from "./command.js";
import { defineGroup } from "./command.js";
import { approverCheckCommand } from "./commands/approver-check.js";
import { approverRunCommand } from "./commands/approver-run.js";
import { caCreateCommand } from "./commands/ca-create.js";
import { certsCertificateKeyCommand } from "./commands/certs-certificate-key.js";
import { certsCheckExpirationCommand, UNKNOWN_EXIT, usesThresholds } from "./commands/certs-check-expiration.js";
import { certsGenerateCsrCommand } from "./commands/certs-generate-csr.js";
import { certsRenewCommand } from "./commands/certs-renew.js";
import { certsSignCommand } from "./commands/certs-sign.js";
import { configCommand } from "./commands/config.js";
import { initCommand } from "./commands/init.js";
import { kubeconfigUserCommand } from "./commands/kubeconfig-user.js";
import { versionCommand } from "./commands/version.js";
import type { CliIo } from "./io.js";

/** Exit codes every command shares (README, "Exit codes"); some commands add their own. */
export const EXIT = { ok: 0, error: 1, usage: 2 } as const;

class UsageError extends Error {
  override name = "UsageError";
}

/** kpki's command tree: one module per command, listed here. */
export const COMMANDS: readonly AnyCommand[] = [
  initCommand,
  defineGroup({ command: "ca", describe: "Standalone certificate authorities for dev clusters", subcommands: [caCreateCommand] }),
  defineGroup({
    command: "certs",
    describe: "Certificates of kubeadm clusters: expiry report, renewal, CSRs, signing",
    subcommands: [certsCheckExpirationCommand, certsRenewCommand, certsGenerateCsrCommand, certsSignCommand, certsCertificateKeyCommand],
  }),
  defineGroup({ command: "kubeconfig", describe: "Kubeconfig files for additional users", subcommands: [kubeconfigUserCommand] }),
  defineGroup({
    command: "approver",
    describe: "The kubelet-serving CSR approver: the controller (run) and its policy offline (check)",
    subcommands: [approverRunCommand, approverCheckCommand],
  }),
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

const word = (c: AnyCommand): string => c.command.split(" ")[0] ?? c.command;

/** The commands typed (`kpki certs renew`), without arguments and flags, and the last one's flags. */
function commandPath(args: readonly string[]): { path: string; options: readonly string[]; usage: string } {
  const words = ["kpki"];
  let level: readonly AnyCommand[] = COMMANDS;
  let options: readonly string[] = [];
  let usage = "kpki <command>";
  for (const a of args) {
    const next = level.find((c) => word(c) === a);
    if (!next) break;
    words.push(a);
    options = next.optionNames;
    level = next.subcommands ?? [];
    usage = `${words.slice(0, -1).join(" ")} ${next.command}`;
  }
  return { path: words.join(" "), options, usage };
}

/**
 * The closest of `names` to `typed`, when it is close enough to be a typo (src/suggest.ts), or the
 * one that is `typed` without a prefix (`--certificate-validity-period` → `--validity-period`).
 */
function closest(typed: string, names: readonly string[]): string | undefined {
  return names.find((n) => n.length >= 6 && typed.endsWith(`-${n}`)) ?? closestName(typed, names);
}

const camel = (kebab: string): string => kebab.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

/**
 * yargs' "Unknown argument(s): a, b" and "Did you mean x?" made into one line: each unknown flag or
 * command with the closest known one.
 */
function explainUnknown(message: string, args: readonly string[], options: readonly string[], subcommands: readonly string[], usage: string): string {
  if (/^Not enough non-option arguments/.test(message)) return `missing an argument: ${usage}${subcommands.length ? ` (${subcommands.join(", ")})` : ""}`;
  const flagNames = args.filter((a) => a.startsWith("-")).map((a) => a.replace(/^-+/, "").split("=")[0] ?? "");
  const suggest = /^Did you mean (.+)\?$/.exec(message);
  if (suggest) {
    const typed = args.find((a) => !a.startsWith("-") && !subcommands.includes(a) && closest(a, subcommands) === suggest[1]);
    return `unknown command${typed ? ` "${typed}"` : ""} (did you mean ${suggest[1]}?)`;
  }
  // "Invalid values:\n  Argument: name, Given: "al", Choices: "a", "b"" (one line per argument).
  const invalid = [...message.matchAll(/Argument: ([^,]+), Given: (.*?), Choices: (.*)/g)];
  if (message.startsWith("Invalid values:") && invalid.length) {
    return invalid
      .map(([, arg = "", given = "", choices = ""]) => {
        const list = [...choices.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((c) => c[1] ?? "");
        const typed = given.replace(/^"|"$/g, "");
        const near = closest(typed, list);
        const what = options.includes(arg) ? `--${arg}` : `<${arg}>`;
        return `invalid ${what} ${given}: choose one of ${list.join(", ")}${near ? ` (did you mean ${near}?)` : ""}`;
      })
      .join("; ");
  }
  const missing = /^Missing required arguments?: (.*)$/.exec(message);
  if (missing?.[1]) {
    const names = missing[1].split(", ").map((n) => (options.includes(n) ? `--${n}` : `<${n}>`));
    return `missing ${names.length > 1 ? "required flags" : "required flag"} ${names.join(", ")}`;
  }
  const m = /^Unknown arguments?: (.*)$/.exec(message);
  if (!m?.[1]) return message.split("\n").join(" ");
  const names = m[1].split(", ");
  // yargs also lists the camelCase form of an unknown --kebab-flag; name each flag once.
  const parts = names
    .filter((name) => !names.some((other) => other !== name && other.includes("-") && camel(other) === name))
    .map((name) => {
      if (flagNames.includes(name)) {
        const near = closest(name, options);
        return `unknown flag --${name}${near ? ` (did you mean --${near}?)` : ""}`;
      }
      const near = closest(name, subcommands);
      return `unknown command or argument "${name}"${near ? ` (did you mean ${near}?)` : ""}`;
    });
  return parts.join("; ");
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
      const { path, options, usage: line } = commandPath(argv);
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
