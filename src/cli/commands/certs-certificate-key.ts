import { bytesToHex } from "../../pki/der.js";
import { defineCommand } from "../command.js";

/** `kpki certs certificate-key`: 32 random bytes as 64 lower-case hex characters (kubeadm's copycerts key). */
export const certsCertificateKeyCommand = defineCommand({
  command: "certificate-key",
  describe: "Generate a certificate key for kubeadm's upload-certs (32 random bytes, hex)",
  options: {},
  examples: [["$0 certs certificate-key", "Prints e.g. 9f2c...e1 (64 hex characters)"]],
  epilogue: "Exit codes: 0 printed, 2 usage error.",
  run: (_args, io) => {
    io.stdout(`${bytesToHex(io.crypto.getRandomValues(new Uint8Array(32)))}\n`);
    return undefined;
  },
});
