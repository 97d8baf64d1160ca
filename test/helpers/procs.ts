import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, rmSync } from "node:fs";
import { createServer } from "node:net";

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts a server process with its output in `logFile`; returns it (stop it by PID with stopProcess). */
export function startProcess(command: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const fd = openSync(logFile, "a");
  const child = spawn(command, args, { stdio: ["ignore", fd, fd], env });
  closeSync(fd);
  child.on("error", () => undefined);
  return child;
}

/** Sends `signal` to a process we started, then SIGKILL after `graceMs`; resolves when it has exited. */
export async function stopProcess(pid: number | undefined, signal: NodeJS.Signals = "SIGTERM", graceMs = 5000): Promise<void> {
  if (!pid) return;
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (alive()) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
    while (alive()) await new Promise((r) => setTimeout(r, 20));
  }
}

/** Polls `check` every `intervalMs` until it returns true or `timeoutMs` passes. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      if (await check()) return;
      last = "check returned false";
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * A test file's teardown: `attempt` runs one step and records its failure instead of stopping, so
 * every step runs; `finish` then removes `work` (unless KPKI_KEEP_WORK is set) when all went well,
 * or throws naming each failure and keeps the folder to look at.
 */
export function teardown(work: string): { attempt(what: string, step: () => Promise<void> | void): Promise<void>; finish(): void } {
  const problems: string[] = [];
  return {
    attempt: async (what, step) => {
      try {
        await step();
      } catch (error) {
        problems.push(`${what}: ${(error as Error).message}`);
      }
    },
    finish: () => {
      if (!process.env["KPKI_KEEP_WORK"] && !problems.length) rmSync(work, { recursive: true, force: true });
      if (problems.length) throw new Error(`cleanup failed (work folder kept: ${work}): ${problems.join("; ")}`);
    },
  };
}
