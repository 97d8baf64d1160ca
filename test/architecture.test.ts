import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The pure engine may not reach the file system, the process, the network, the clock or the CLI
 * (I/O at the edges). For the approver this also proves it never resolves DNS: a SAN
 * is judged only against the Node objects, never against what a name resolves to.
 */
const PURE = ["src/pki", "src/kubeadm", "src/expiry", "src/renew", "src/approver", "src/trust", "src/exporter"];
const FORBIDDEN = [
  /from "node:(fs|fs\/promises|process|child_process|os|net|http|https|path|dns|tls)"/,
  /\bprocess\.(env|argv|exit|stdout|stderr)/,
  /\bDate\.now\(\)/,
  /new Date\(\)/,
  /\bconsole\./,
  /from "\.\.\/(io|cli)\//,
  // a dynamic import is an import too
  /import\(\s*["'`]\.\.\/(io|cli)\//,
  // the Kubernetes client, the metrics library and the CLI parser belong to the edges
  /(from |import\(\s*)["'`](@kubernetes\/client-node|prom-client|yargs)["'`/]/,
];

const files = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts")).map((f) => join(dir, f));

describe("architecture", () => {
  it.each(PURE)("%s has no I/O, clock or CLI dependencies", (dir) => {
    const offenders: string[] = [];
    for (const file of files(dir)) {
      const text = readFileSync(file, "utf8");
      for (const rule of FORBIDDEN) if (rule.test(text)) offenders.push(`${file}: ${rule}`);
    }
    expect(offenders).toEqual([]);
  });

  it("only src/pki/x509.ts imports @peculiar/x509", () => {
    const importers = files("src").filter((f) => /from "@peculiar\/x509"/.test(readFileSync(f, "utf8")));
    expect(importers).toEqual(["src/pki/x509.ts"]);
  });

  it("no `any` in src without a comment saying why", () => {
    const offenders = files("src").flatMap((f) =>
      readFileSync(f, "utf8").split("\n").map((line, i) => ({ line, at: `${f}:${i + 1}` }))
        .filter(({ line }) => /(:\s*any\b|as any\b|<any>)/.test(line) && !/\/\/.*why|\/\*.*why/i.test(line))
        .map(({ at }) => at),
    );
    expect(offenders).toEqual([]);
  });
});
