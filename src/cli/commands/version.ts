import { VERSION } from "../../version.js";
import { defineCommand } from "../command.js";
import { renderData } from "../output.js";

/** `kpki version`: kubeadm's `version` command, with kubeadm's output names (text, short, json, yaml). */
export const versionCommand = defineCommand({
  command: "version",
  describe: "Print the version of kpki",
  options: {
    output: { alias: "o", type: "string", default: "text", choices: ["text", "short", "json", "yaml"], describe: "Output format" },
  },
  examples: [
    ["$0 version", "kpki version: v0.1.0 (node v20.20.2, linux/x64)"],
    ["$0 version -o json", "The same as a JSON object"],
  ],
  epilogue: "Exit codes: 0 printed, 2 usage error.",
  run: async (args, io) => {
    const info = { clientVersion: { version: `v${VERSION}`, nodeVersion: io.runtime.node, platform: io.runtime.platform } };
    if (args.output === "short") io.stdout(`${info.clientVersion.version}\n`);
    else if (args.output === "text") io.stdout(`kpki version: ${info.clientVersion.version} (node ${info.clientVersion.nodeVersion}, ${info.clientVersion.platform})\n`);
    else io.stdout(await renderData(info, args.output));
    return undefined;
  },
});
