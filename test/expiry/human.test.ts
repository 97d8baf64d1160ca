import { describe, expect, it } from "vitest";
import { humanDuration, kubeadmDate, shortHumanDuration } from "../../src/expiry/human.js";
import { tabwrite } from "../../src/expiry/tabwriter.js";

const D = 86_400;

describe("HumanDuration (apimachinery, kubeadm v1.31+)", () => {
  it.each([
    [-2, "<invalid>"], [-1, "0s"], [0, "0s"], [119, "119s"], [120, "2m"], [150, "2m30s"], [9 * 60 + 59, "9m59s"],
    [10 * 60, "10m"], [179 * 60, "179m"], [3 * 3600, "3h"], [7 * 3600 + 59 * 60, "7h59m"], [8 * 3600, "8h"], [47 * 3600, "47h"],
    [2 * D, "2d"], [7 * D + 23 * 3600, "7d23h"], [8 * D, "8d"], [364 * D, "364d"], [2 * 365 * D - 1, "729d"],
    [2 * 365 * D, "2y"], [2 * 365 * D + 327 * D, "2y327d"], [8 * 365 * D, "8y"], [3650 * D - 300, "9y"],
  ])("%i s → %s", (s, text) => expect(humanDuration(s)).toBe(text));

  it("ShortHumanDuration (kubeadm ≤ 1.30) for comparison", () => {
    expect(shortHumanDuration(364 * D)).toBe("364d");
    expect(shortHumanDuration(2 * 365 * D + 327 * D)).toBe("2y");
    expect(shortHumanDuration(-5)).toBe("<invalid>");
  });

  it("formats EXPIRES as Go's `Jan 02, 2006 15:04 MST` in UTC", () => {
    expect(kubeadmDate(new Date(Date.UTC(2026, 7, 19, 9, 3, 59)))).toBe("Aug 19, 2026 09:03 UTC");
    expect(kubeadmDate(new Date(Date.UTC(2035, 0, 2, 23, 0)))).toBe("Jan 02, 2035 23:00 UTC");
  });
});

describe("Go text/tabwriter (minwidth 10, padding 3)", () => {
  const tw = (s: string) => tabwrite(s, { minwidth: 10, padding: 3 });

  it("reproduces kubeadm's sample rows", () => {
    const out = tw(
      "CERTIFICATE\tEXPIRES\tRESIDUAL TIME\tCERTIFICATE AUTHORITY\tEXTERNALLY MANAGED\n" +
        "admin.conf\tAug 19, 2026 09:03 UTC\t360d\tca\tno      \n" +
        "apiserver-kubelet-client\tAug 19, 2026 09:03 UTC\t360d\tca\tno      \n" +
        "\n" +
        "CERTIFICATE AUTHORITY\tEXPIRES\tRESIDUAL TIME\tEXTERNALLY MANAGED\n" +
        "ca\tAug 17, 2035 09:03 UTC\t9y\tno      \n",
    );
    expect(out.split("\n")).toEqual([
      "CERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED",
      "admin.conf                 Aug 19, 2026 09:03 UTC   360d            ca                      no      ",
      "apiserver-kubelet-client   Aug 19, 2026 09:03 UTC   360d            ca                      no      ",
      "",
      "CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED",
      "ca                      Aug 17, 2035 09:03 UTC   9y              no      ",
      "",
    ]);
  });

  it("pads empty tab-terminated cells and widens a column for a long `!MISSING!` row", () => {
    const out = tw("A\tB\tC\n!MISSING! super-admin.conf\t\t\nx\ty\tz\n");
    expect(out.split("\n")).toEqual([
      "A                            B         C",
      "!MISSING! super-admin.conf             ",
      "x                            y         z",
      "",
    ]);
  });

  it("a line with fewer cells ends the column blocks to its right", () => {
    expect(tw("a\tb\tc\nd\te\nfff\tg\th\n").split("\n")).toEqual([
      "a         b         c",
      "d         e",
      "fff       g         h",
      "",
    ]);
  });
});
