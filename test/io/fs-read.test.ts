import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { directoryListingCache, readBytesIfExists } from "../../src/io/fs-store.js";

const work = mkdtempSync(join(tmpdir(), "kpki-fs-read-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("readBytesIfExists", () => {
  it("a file's bytes in an array of their own; undefined when missing; an error naming the path otherwise", async () => {
    const small = join(work, "small.pem");
    const big = join(work, "big.bin");
    const empty = join(work, "empty");
    writeFileSync(small, "-----BEGIN CERTIFICATE-----\n");
    writeFileSync(big, Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff));
    writeFileSync(empty, "");
    const s = await readBytesIfExists(small);
    expect(s && Buffer.from(s).toString()).toBe("-----BEGIN CERTIFICATE-----\n");
    expect(s!.byteOffset).toBe(0);
    expect(s!.buffer.byteLength).toBe(s!.length);
    expect(Buffer.from((await readBytesIfExists(big))!).equals(readFileSync(big))).toBe(true);
    expect((await readBytesIfExists(empty))!.length).toBe(0);
    expect(await readBytesIfExists(join(work, "nothing-here"))).toBeUndefined();
    await expect(readBytesIfExists(work)).rejects.toThrow(`cannot read ${work}`);
  });

  it("a file whose size stat does not give (/proc) is read to its end", async () => {
    const status = await readBytesIfExists("/proc/self/status");
    expect(Buffer.from(status!).toString()).toMatch(/^Name:.*\n[\s\S]*VmRSS/);
  });
});

describe("directoryListingCache", () => {
  it("answers from listings: present names yes, absent names and missing folders no, over more folders than it keeps", () => {
    const folders = Array.from({ length: 150 }, (_, i) => join(work, "tree", `d${i}`));
    for (const [i, dir] of folders.entries()) {
      mkdirSync(dir, { recursive: true });
      for (let j = 0; j < 20; j++) writeFileSync(join(dir, `f${i}-${j}.crt`), "");
    }
    const mayExist = directoryListingCache();
    for (let round = 0; round < 2; round++) {
      for (const [i, dir] of folders.entries()) {
        expect(mayExist(join(dir, `f${i}-${i % 20}.crt`))).toBe(true);
        expect(mayExist(join(dir, `f${i}-${i % 20}.key`))).toBe(false);
        expect(mayExist(join(dir, "private", `f${i}.key`))).toBe(false);
      }
    }
    expect(mayExist(join(work, "tree"))).toBe(true);
    expect(mayExist(join(work, "no-such-folder"))).toBe(false);
  });
});
