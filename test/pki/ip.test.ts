import { describe, expect, it } from "vitest";
import { formatIp, indexedIp, parseCidr, parseIp } from "../../src/pki/ip.js";

describe("IP addresses as Go's net package prints them", () => {
  it.each([
    ["10.96.0.1", "10.96.0.1"],
    ["010.001.0.1", "10.1.0.1"], // ParseIPSloppy reads leading zeros as decimal
    ["::1", "::1"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["FD00:0:0:0:0:0:0:10", "fd00::10"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // the first longest zero run is compressed
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group is not
    ["::ffff:192.0.2.1", "192.0.2.1"],
  ])("%s → %s", (input, expected) => {
    expect(formatIp(parseIp(input)!)).toBe(expected);
  });

  it.each(["10.0.0.256", "10.0.0", "1:2:3:4:5:6:7:8:9", "1::2::3", "fe80::1%eth0", "host", ""])("rejects %j", (bad) => {
    expect(parseIp(bad)).toBeUndefined();
  });

  it("strict parsing refuses leading zeros", () => {
    expect(parseIp("010.0.0.1", { sloppy: false })).toBeUndefined();
  });

  it("takes the first address of a service CIDR, masking host bits", () => {
    expect(formatIp(indexedIp(parseCidr("10.96.0.0/12")!, 1)!)).toBe("10.96.0.1");
    expect(formatIp(indexedIp(parseCidr("10.100.7.9/16")!, 1)!)).toBe("10.100.0.1");
    expect(formatIp(indexedIp(parseCidr("fd00:10:96::/112")!, 1)!)).toBe("fd00:10:96::1");
    expect(indexedIp(parseCidr("10.0.0.0/32")!, 1)).toBeUndefined();
    expect(parseCidr("10.0.0.0/33")).toBeUndefined();
    expect(parseCidr("10.0.0.0")).toBeUndefined();
  });
});
