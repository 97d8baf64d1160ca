/**
 * The TrustPort of `kpki trust` (src/trust/apply.ts) on the real host: existence checks for the
 * paths src/trust/plan.ts asks about, PATH look-ups, file writes and removals, and the store
 * programs (update-ca-certificates, certutil, keytool, ...) run without a shell.
 */
import { execFile } from "node:child_process";
import { access, chmod, constants, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { delimiter, join } from "node:path";
import type { RunResult, TrustPort } from "../trust/apply.js";

const exists = async (path: string, mode: number = constants.F_OK): Promise<boolean> => {
  try {
    await access(path, mode);
    return true;
  } catch {
    return false;
  }
};

// Debian installs update-ca-certificates in /usr/sbin, which a non-root user's PATH often lacks.
const EXTRA_PATH = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

async function which(name: string): Promise<string | undefined> {
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter).filter(Boolean), ...EXTRA_PATH];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (await exists(candidate, constants.X_OK)) return candidate;
  }
  return undefined;
}

function run(argv: readonly string[]): Promise<RunResult> {
  const [program, ...args] = argv;
  if (!program) return Promise.resolve({ code: 127, stdout: "", stderr: "empty command" });
  return new Promise((resolve) => {
    execFile(program, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return resolve({ code: 0, stdout, stderr });
      const code = typeof error.code === "number" ? error.code : 127;
      resolve({ code, stdout, stderr: stderr || error.message });
    });
  });
}

/** The real host's trust stores. */
export function nodeTrustPort(): TrustPort {
  return {
    facts: async (probe, home, javaHome) => {
      const existing = new Set<string>();
      for (const p of probe.paths) if (await exists(p)) existing.add(p);
      for (const root of probe.profileRoots) {
        let subs: string[] = [];
        try {
          subs = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
        } catch {
          continue;
        }
        for (const sub of subs) {
          for (const db of ["cert9.db", "cert8.db"]) {
            const p = `${root}/${sub}/${db}`;
            if (await exists(p)) existing.add(p);
          }
        }
      }
      const commands = new Map<string, string>();
      for (const c of probe.commands) {
        const found = await which(c);
        if (found) commands.set(c, found);
      }
      return { home, javaHome, existing, commands };
    },
    read: async (path) => {
      try {
        return await readFile(path, "utf8");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw error;
      }
    },
    write: async (path, text, mode) => {
      await writeFile(path, text, { mode });
      await chmod(path, mode); // writeFile's mode is masked by the umask
    },
    remove: (path) => rm(path, { force: true }),
    run,
  };
}
