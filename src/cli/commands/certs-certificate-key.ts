import type { CommandModule } from "yargs";
import { bytesToHex } from "../../pki/der.js";
import type { CliIo } from "../io.js";

/** `kpki certs certificate-key`: 32 random bytes as 64 lower-case hex characters (kubeadm's copycerts key). */
export const certsCertificateKeyCommand = (io: CliIo): CommandModule<object, object> => ({
  command: "certificate-key",
  describe: "Generate a certificate key for kubeadm's upload-certs (32 random bytes, hex)",
  builder: (y) =>
    y
      .example("$0 certs certificate-key", "Prints e.g. 9f2c...e1 (64 hex characters)")
      .epilogue("Exit codes: 0 printed, 2 usage error."),
  handler: () => {
    io.stdout(`${bytesToHex(io.crypto.getRandomValues(new Uint8Array(32)))}\n`);
  },
});
