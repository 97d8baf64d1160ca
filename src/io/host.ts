import { hostname, networkInterfaces } from "node:os";
import type { HostFacts } from "../kubeadm/config.js";

/**
 * The machine's name and first non-loopback address, used as kubeadm does when
 * neither flags nor config say otherwise (node name from the hostname,
 * advertise address from the host's network). IPv4 is preferred, like
 * kubeadm's ChooseHostInterface; link-local addresses are skipped.
 */
export function hostFacts(): HostFacts {
  const candidates: { address: string; family: string }[] = [];
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.internal) continue;
      if (a.family === "IPv6" && a.address.toLowerCase().startsWith("fe80")) continue;
      candidates.push({ address: a.address, family: a.family });
    }
  }
  const v4 = candidates.find((c) => c.family === "IPv4");
  return { hostname: hostname(), defaultAddress: (v4 ?? candidates[0])?.address };
}
