import { stringify } from "yaml";

export const OUTPUT_FORMATS = ["text", "json", "yaml"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** JSON with 4-space indent and a newline (kubectl/kubeadm printers), or YAML. */
export function renderData(value: unknown, format: "json" | "yaml"): string {
  return format === "json" ? `${JSON.stringify(value, null, 4)}\n` : stringify(value, { lineWidth: 0 });
}
