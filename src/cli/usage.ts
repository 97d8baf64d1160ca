import { closestName } from "../suggest.js";
import type { AnyCommand } from "./command.js";

/*
 * Usage errors in one line: yargs' messages (some several lines long) rewritten to name the flag or
 * command, with the closest known one, and the help of the command that was typed.
 */

export const word = (c: AnyCommand): string => c.command.split(" ")[0] ?? c.command;

/** The commands typed (`kpki certs renew`), without arguments and flags, and the last one's flags. */
export function commandPath(commands: readonly AnyCommand[], args: readonly string[]): { path: string; options: readonly string[]; usage: string } {
  const words = ["kpki"];
  let level: readonly AnyCommand[] = commands;
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
export function explainUnknown(message: string, args: readonly string[], options: readonly string[], subcommands: readonly string[], usage: string): string {
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
