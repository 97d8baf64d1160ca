import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { fakeIo } from "../helpers/fake-io.js";
import { isCi } from "../helpers/testenv.js";

const work = mkdtempSync(join(tmpdir(), "kpki-ro-"));
const etcdDir = join(work, "cluster/pki/etcd");
const files = (dir: string): Record<string, string> =>
  Object.fromEntries(readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => /\.(crt|key|conf)$/.test(f)).map((f) => [f, readFileSync(join(dir, f), "utf8")]));

/** root ignores file modes, so the folder is made immutable (chattr +i), which stops root too. Probed once here. */
const skip = ((): string | undefined => {
  const probe = mkdtempSync(join(work, "probe-"));
  try {
    execFileSync("chattr", ["+i", probe], { stdio: "pipe" });
    execFileSync("chattr", ["-i", probe], { stdio: "pipe" });
    return undefined;
  } catch (error) {
    const reason = `chattr +i is not available here (${(error as Error).message.split("\n")[0]})`;
    if (isCi()) throw new Error(`CI=true but ${reason}`);
    console.warn(`SKIP: ${reason}`);
    return reason;
  }
})();

afterAll(() => {
  try {
    execFileSync("chattr", ["-i", etcdDir], { stdio: "ignore" });
  } catch {
    /* never made immutable */
  }
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(skip)("renew with a folder it cannot write", () => {
  it("one clear line, exit 1, no file changed, no backup", async () => {
    const f0 = fakeIo();
    await run(["init", "--dir", join(work, "cluster"), "--encryption-algorithm", "ECDSA-P256"], f0.io);
    const before = files(join(work, "cluster"));
    execFileSync("chattr", ["+i", etcdDir]);
    const f = fakeIo();
    const code = await run(["certs", "renew", "all", "--dir", join(work, "cluster")], f.io);
    expect(code).toBe(1);
    expect(f.stderr()).toBe(`error: cannot write in ${etcdDir}: operation not permitted (EPERM); nothing was changed\n`);
    expect(files(join(work, "cluster"))).toEqual(before);
    expect(readdirSync(work).filter((n) => n.includes("backup"))).toEqual([]);
    expect(existsSync(join(work, "cluster/pki/.kpki"))).toBe(false);
  });
});
