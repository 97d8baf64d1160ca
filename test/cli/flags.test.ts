/**
 * Flag values are checked before any command runs (src/cli/main.ts checkFlagValues): a forgotten
 * value, an empty one or a flag given twice is a usage error that names the flag and points at the
 * command's help, and nothing is written.
 */
import { describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { fakeIo } from "../helpers/fake-io.js";
import { memoryStore } from "../helpers/memory-store.js";

async function kpki(args: string[]) {
  const mem = memoryStore();
  const f = fakeIo({ store: mem.store });
  const code = await run(args, f.io);
  return { code, stdout: f.stdout(), stderr: f.stderr(), writes: mem.writes };
}

describe("flag values", () => {
  it.each([
    [["init", "--dir"], "--dir needs a value", "kpki init"],
    [["init", "--dir", ""], "--dir needs a value", "kpki init"],
    [["init", "--dir="], "--dir needs a value", "kpki init"],
    [["init", "--cert-dir", "", "--kubeconfig-dir", "/k"], "--cert-dir needs a value", "kpki init"],
    [["init", "--dir", "/k", "--node-name", "a", "--node-name", "b"], '--node-name was given 2 times ("a", "b"); give it once', "kpki init"],
    [["init", "--dir", "/k", "--apiserver-bind-port", "abc"], "--apiserver-bind-port needs a number", "kpki init"],
    [["init", "phase", "certs", "ca", "--dir", ""], "--dir needs a value", "kpki init phase certs"],
    [["certs", "check-expiration", "--cert-dir", ""], "--cert-dir needs a value", "kpki certs check-expiration"],
    [["certs", "renew", "all", "--dir", "/k", "--dir", "/j"], '--dir was given 2 times ("/k", "/j"); give it once', "kpki certs renew"],
    [["kubeconfig", "user", "--client-name", "", "--dir", "/k"], "--client-name needs a value", "kpki kubeconfig user"],
    [["approver", "check", "--csr", "a.yaml", "--csr", "b.yaml", "--nodes", "n.yaml"], '--csr was given 2 times ("a.yaml", "b.yaml"); give it once', "kpki approver check"],
    [["approver", "check", "--csr", "a.yaml", "--nodes", "n.yaml", "--apiserver-address", ""], "--apiserver-address needs a value", "kpki approver check"],
  ] as const)("%j → usage error", async (args, message, help) => {
    const r = await kpki([...args]);
    expect([r.code, r.stderr, r.stdout]).toEqual([2, `error: ${message}\nRun '${help} --help' for usage.\n`, ""]);
    expect(r.writes).toEqual([]);
  });

  it("a value given once is taken as it is", async () => {
    const r = await kpki(["init", "--dir", "/k", "--node-name", "cp-1", "--apiserver-advertise-address", "192.0.2.10", "--dry-run"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toContain('[certs] Using certificateDir folder "/k/pki"');
  });

  it("every subcommand's usage error points at that subcommand's help", async () => {
    const groups = [["init", "phase"], ["ca"], ["certs"], ["kubeconfig"], ["approver"]];
    let checked = 0;
    for (const group of groups) {
      const help = await kpki([...group, "--help"]);
      const subs = [...help.stdout.matchAll(new RegExp(`^  kpki ${group.join(" ")} ([a-z-]+)`, "gm"))].map((m) => m[1]!);
      expect(subs.length, group.join(" ")).toBeGreaterThan(0);
      for (const sub of subs) {
        const r = await kpki([...group, sub, "--frobnicate"]);
        expect([r.code, r.stderr.split("\n")[1]], `${group.join(" ")} ${sub}`).toEqual([2, `Run 'kpki ${[...group, sub].join(" ")} --help' for usage.`]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(11);
  });

  it("-h is --help, for every command", async () => {
    for (const args of [["-h"], ["init", "-h"], ["certs", "renew", "-h"], ["approver", "check", "-h"]]) {
      const r = await kpki(args);
      expect([r.code, r.stderr], args.join(" ")).toEqual([0, ""]);
      expect(r.stdout).toMatch(/Options:\n/);
    }
  });

  it.each(["0.0.0.0", "::"])("--apiserver-advertise-address %s is resolved to this machine's address, as kubeadm does, never written as it is", async (unspecified) => {
    const r = await kpki(["init", "--dir", "/k", "--node-name", "cp", "--apiserver-advertise-address", unspecified, "--dry-run"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toContain("apiserver serving cert is signed for DNS names [cp kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local] and IPs [10.96.0.1 192.0.2.10]");
    expect(r.stdout).not.toContain("0.0.0.0");
  });

  it("an unspecified advertise address on a machine without an address is refused", async () => {
    const mem = memoryStore();
    const f = fakeIo({ store: mem.store, host: () => ({ hostname: "cp", defaultAddress: undefined }) });
    const code = await run(["init", "--dir", "/k", "--apiserver-advertise-address", "0.0.0.0"], f.io);
    expect([code, f.stderr()]).toEqual([1, "error: advertise address 0.0.0.0 is unspecified and this machine has no non-loopback address to use instead; set --apiserver-advertise-address\n"]);
    expect(mem.writes).toEqual([]);
  });

  it("completion --help is help, not the script", async () => {
    for (const args of [["completion", "--help"], ["completion", "bash", "-h"]]) {
      const r = await kpki(args);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(r.stdout).toMatch(/^kpki completion \[bash\|zsh\|fish\]\n/);
      expect(r.stdout).not.toContain("###-begin-kpki-completions-###");
    }
  });
});
