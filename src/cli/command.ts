import type { Argv, CommandModule, InferredOptionTypes, Options, PositionalOptions } from "yargs";
import type { CliIo } from "./io.js";

export type OptionSet = { readonly [name: string]: Options };
export type PositionalSet = { readonly [name: string]: PositionalOptions };

/** The values a command's handler receives: exactly what its options and positionals declare. */
export type ArgsOf<O extends OptionSet, P extends PositionalSet> = InferredOptionTypes<O> & InferredOptionTypes<P>;

/**
 * One kpki command: its words, its flags, its help, and a handler whose argument type is inferred
 * from those flags (a flag the handler reads but the command does not declare is a type error).
 * The handler returns the exit code (undefined for 0) or throws; see exitCodeOf in ./main.ts.
 */
export interface CommandSpec<O extends OptionSet = OptionSet, P extends PositionalSet = PositionalSet> {
  /** yargs' command string: `renew <name>`. */
  readonly command: string;
  readonly describe: string;
  readonly positionals?: P;
  readonly options: O;
  /** At least one: every --help shows an example. */
  readonly examples: readonly (readonly [command: string, meaning: string])[];
  /** The last paragraph of --help; it states the exit codes. */
  readonly epilogue: string;
  readonly run: (args: ArgsOf<O, P>, io: CliIo) => Promise<number | undefined> | number | undefined;
}

/** A command that only groups others (`kpki certs`). */
export interface GroupSpec {
  readonly command: string;
  readonly describe: string;
  readonly subcommands: readonly AnyCommand[];
}

/** A command whose own handler also has subcommands (`kpki init` and `kpki init phase ...`). */
export interface CommandWithSubcommands<O extends OptionSet, P extends PositionalSet> extends CommandSpec<O, P> {
  readonly subcommands: readonly AnyCommand[];
}

/** Any command of the tree, its option types erased (they only matter inside its own handler). */
export interface AnyCommand {
  readonly command: string;
  readonly describe: string;
  readonly subcommands?: readonly AnyCommand[];
  /** Its flags' long names (for suggestions on a misspelt flag, and the README's command reference). */
  readonly optionNames: readonly string[];
  /** The last paragraph of its --help, with the exit codes; absent for a group. */
  readonly epilogue?: string;
  /** Builds the yargs module; `exit` receives the handler's exit code. */
  readonly toYargs: (io: CliIo, exit: (code: number) => void) => CommandModule;
}

/**
 * Declares a command. `const` keeps option literals (`type: "string"`, `choices: [...]`) exact, so
 * `args.output` is `"text" | "json"`, not `string`.
 */
export function defineCommand<const O extends OptionSet, const P extends PositionalSet = Record<never, PositionalOptions>>(
  spec: CommandSpec<O, P> & { readonly subcommands?: readonly AnyCommand[] },
): AnyCommand & { readonly spec: CommandSpec<O, P> } {
  return {
    command: spec.command,
    describe: spec.describe,
    ...(spec.subcommands ? { subcommands: spec.subcommands } : {}),
    optionNames: Object.keys(spec.options),
    epilogue: spec.epilogue,
    spec,
    toYargs: (io, exit) => ({
      command: spec.command,
      describe: spec.describe,
      // yargs' builder methods change the instance and return it; their typed results are not needed here.
      builder: (y: Argv) => {
        y.options(spec.options);
        for (const [name, opt] of Object.entries(spec.positionals ?? {})) y.positional(name, opt);
        for (const sub of spec.subcommands ?? []) y.command(sub.toYargs(io, exit));
        for (const [cmd, meaning] of spec.examples) y.example(cmd, meaning);
        return y.epilogue(spec.epilogue);
      },
      handler: async (argv) => {
        // yargs has checked argv against spec.options and spec.positionals (types, choices,
        // demandOption, strict mode), the very objects ArgsOf<O, P> is inferred from; this is the
        // one place where its untyped result meets that type.
        exit((await spec.run(argv as unknown as ArgsOf<O, P>, io)) ?? 0);
      },
    }),
  };
}

/** Declares a group of subcommands; run without one, it is a usage error. */
export function defineGroup(spec: GroupSpec): AnyCommand {
  const names = spec.subcommands.map((s) => s.command.split(" ")[0]).join(", ");
  return {
    command: spec.command,
    describe: spec.describe,
    subcommands: spec.subcommands,
    optionNames: [],
    toYargs: (io, exit) => ({
      command: spec.command,
      describe: spec.describe,
      builder: (y: Argv) => {
        for (const sub of spec.subcommands) y.command(sub.toYargs(io, exit));
        return y.demandCommand(1, `Specify a ${spec.command} subcommand (${names})`);
      },
      handler: () => undefined,
    }),
  };
}
