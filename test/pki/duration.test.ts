import { describe, expect, it } from "vitest";
import { formatGoDuration, parseDuration } from "../../src/pki/duration.js";

describe("Go durations", () => {
  it.each([
    ["8760h", 8760 * 3_600_000],
    ["87600h0m0s", 87600 * 3_600_000],
    ["1h30m", 5_400_000],
    ["1.5h", 5_400_000],
    ["300ms", 300],
    ["0", 0],
  ])("parses %s", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it("accepts days and years only when asked (CLI flags, not kubeadm config)", () => {
    expect(parseDuration("30d")).toBeUndefined();
    expect(parseDuration("30d", { extendedUnits: true })).toBe(30 * 86_400_000);
    expect(parseDuration("10y", { extendedUnits: true })).toBe(3650 * 86_400_000);
  });

  it.each(["", "h", "1 h", "1x", "-1h", "1h-"])("rejects %j", (bad) => expect(parseDuration(bad)).toBeUndefined());

  it("formats like Go's Duration.String()", () => {
    expect(formatGoDuration(8760 * 3_600_000)).toBe("8760h0m0s");
    expect(formatGoDuration(90_000)).toBe("1m30s");
    expect(formatGoDuration(0)).toBe("0s");
  });
});
