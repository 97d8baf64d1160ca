
export const OUTPUT_FORMATS = ["text", "json", "yaml"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** JSON with 4-space indent and a newline (kubectl/kubeadm printers), or YAML. */
export async function renderData(value: unknown, format: "json" | "yaml"): Promise<string> {
  if (format === "json") return `${JSON.stringify(value, null, 4)}\n`;
  const { stringify } = await import("yaml"); // loaded only when YAML is asked for
  return stringify(value, { lineWidth: 0 });
}
