import { defineCommand, defineGroup } from "../command.js";
import { clusterConfigFromArgs, CONFIG_OPTIONS } from "../options.js";

/** `kpki config print init-defaults`: the configuration `kubeadm config print init-defaults` prints. */
const printInitDefaults = defineCommand({
  command: "init-defaults",
  describe: "Print kubeadm's default InitConfiguration and ClusterConfiguration (v1beta4), to edit and pass to --config",
  options: {},
  examples: [["$0 config print init-defaults > kubeadm.yaml", "A starting point for --config"]],
  epilogue: "Exit codes: 0 printed, 2 usage error.",
  run: async (_args, io) => {
    const { initDefaultsYaml } = await import("../../kubeadm/config-defaults.js");
    io.stdout(initDefaultsYaml());
    return undefined;
  },
});

/** `kpki config validate --config F`: the file is read exactly as init reads it, and nothing is written. */
const validate = defineCommand({
  command: "validate",
  describe: "Check a kubeadm configuration file: every field known and in its place, every value valid",
  options: { config: { ...CONFIG_OPTIONS.config, demandOption: true }, "allow-unknown-fields": CONFIG_OPTIONS["allow-unknown-fields"] },
  examples: [["$0 config validate --config kubeadm.yaml", "Prints ok, or the first problem with its file and line"]],
  epilogue: "Values that come from this machine when the file does not set them (node name, advertise address) are checked too. Exit codes: 0 valid, 1 invalid, 2 usage error.",
  run: async (args, io) => {
    await clusterConfigFromArgs(args, io);
    io.stdout("ok\n");
    return undefined;
  },
});

export const configCommand = defineGroup({
  command: "config",
  describe: "kubeadm configuration files: print the defaults, validate one",
  subcommands: [defineGroup({ command: "print", describe: "Print a configuration", subcommands: [printInitDefaults] }), validate],
});
