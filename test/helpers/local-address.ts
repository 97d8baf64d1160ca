// A private IPv4 address that exists on this machine only for one test run: the host end of a veth
// pair the test creates (and deletes). Servers may advertise it without any traffic leaving the
// machine. Needs root and iproute2; elsewhere the caller skips, except under CI=true.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { isCi } from "./testenv.js";

export interface LocalAddress {
  readonly address: string;
  /** Deletes the veth pair (idempotent). */
  remove(): void;
}

export function createLocalAddress(): LocalAddress | { readonly skip: string } {
  const id = randomBytes(3).toString("hex");
  const [a, b] = [`kpki-${id}`, `kpkp-${id}`];
  const r = randomBytes(2);
  const address = `10.254.${r[0]!}.${((r[1]! % 63) * 4) + 1}`;
  const ip = (...args: string[]): void => void execFileSync("ip", args, { stdio: "pipe" });
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    try {
      ip("link", "del", a);
    } catch {
      // already gone
    }
  };
  try {
    ip("link", "add", a, "type", "veth", "peer", "name", b);
    process.once("exit", remove);
    ip("addr", "add", `${address}/30`, "dev", a);
    ip("link", "set", a, "up");
    ip("link", "set", b, "up");
  } catch (error) {
    remove();
    const reason = `cannot create a veth pair for a local test address (root and iproute2 needed): ${((error as { stderr?: Buffer }).stderr?.toString() || (error as Error).message).trim()}`;
    if (isCi()) throw new Error(`CI=true but ${reason}`);
    console.warn(`SKIP: ${reason}`);
    return { skip: reason };
  }
  return { address, remove };
}
