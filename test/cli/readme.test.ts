/**
 * The README's command reference and exit-code table are the CLI's own: the reference block is
 * generated from the command tree (words, flags, the exit codes each --help states), and every exit
 * code any --help mentions is in the README's one table. When a command changes, this test prints the
 * block to paste.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { AnyCommand } from "../../src/cli/command.js";
import { COMMANDS, run } from "../../src/cli/main.js";
import { VERSION } from "../../src/version.js";
import { fakeIo } from "../helpers/fake-io.js";

const readme = readFileSync("README.md", "utf8");

/** Every runnable command: its full words (with positionals), flags and exit-code sentence. */
function leaves(level: readonly AnyCommand[], prefix: string): { line: string; flags: readonly string[]; exits: string }[] {
  return level.flatMap((c) => {
    const words = `${prefix} ${c.command}`;
    const own = c.epilogue !== undefined ? [{ line: words, flags: c.optionNames, exits: /Exit codes: (.*)$/s.exec(c.epilogue)?.[1]?.trim() ?? "" }] : [];
    return [...own, ...leaves(c.subcommands ?? [], `${prefix} ${c.command.split(" ")[0] ?? c.command}`)];
  });
}

/** The README block between the markers, as the CLI says it should be. */
function reference(): string {
  const rows = leaves(COMMANDS, "kpki");
  return rows.map((r) => `${r.line}\n  flags: ${r.flags.map((f) => `--${f}`).join(" ") || "(none)"}\n  exit: ${r.exits}`).join("\n");
}

describe("README", () => {
  it("the command reference is the command tree's (flags and exit codes as each --help states them)", () => {
    const block = /<!-- commands:begin -->\n```\n([\s\S]*?)\n```\n<!-- commands:end -->/.exec(readme)?.[1];
    expect(block, `paste between the markers:\n${reference()}`).toBe(reference());
  });

  it("every exit code a --help mentions is in the README's exit-code table", () => {
    const table = /## Exit codes\n\n([\s\S]*?)\n\n/.exec(readme)?.[1] ?? "";
    const codes = new Set(table.split("\n").map((l) => /^\| (\d+(?:\/\d+)?) \|/.exec(l)?.[1]).filter((c): c is string => c !== undefined).flatMap((c) => c.split("/")));
    const mentioned = new Set(leaves(COMMANDS, "kpki").flatMap((r) => [...r.exits.matchAll(/(?:^|[,;(] ?|: )(\d+(?:\/\d+)?) /g)].flatMap((m) => (m[1] ?? "").split("/"))));
    expect(mentioned.size).toBeGreaterThan(4);
    for (const code of mentioned) expect(codes, `exit code ${code}`).toContain(code);
  });

  it("every command's --help has an example, its exit codes, and exactly its own flags", async () => {
    for (const leaf of leaves(COMMANDS, "kpki")) {
      const words = leaf.line.split(" ").slice(1).filter((w) => !w.startsWith("<"));
      const f = fakeIo();
      expect(await run([...words, "--help"], f.io), leaf.line).toBe(0);
      const help = f.stdout();
      expect(help, leaf.line).toMatch(/\nExamples:\n[\s\S]*\bkpki /);
      expect(help.replace(/\s+/g, " "), leaf.line).toContain(`Exit codes: ${leaf.exits}`);
      const options = /\nOptions:\n([\s\S]*?)\n\n/.exec(help)?.[1] ?? "";
      const listed = [...options.matchAll(/^ +(?:-\w, )?--([a-z0-9-]+)/gm)].map((m) => m[1]).filter((n) => n !== "help");
      expect(listed.sort(), leaf.line).toEqual([...leaf.flags].sort());
    }
  });

  it("kpki version is package.json's", async () => {
    expect(VERSION).toBe((JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version);
    const f = fakeIo();
    expect(await run(["version", "-o", "short"], f.io)).toBe(0);
    expect(f.stdout()).toBe(`v${VERSION}\n`);
  });
});
