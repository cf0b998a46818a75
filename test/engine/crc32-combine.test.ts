import { describe, expect, it } from "bun:test";
import { crc32Combine } from "../../src/engine/crc32-combine.ts";
import { seededValue } from "../helpers.ts";

describe("crc32Combine", () => {
  it("gives the CRC-32 of a concatenation, for every split of values of many lengths", () => {
    for (const length of [0, 1, 2, 3, 7, 8, 100, 1023, 4096, 65_537]) {
      const whole = seededValue(length + 1, length);
      const splits = new Set([0, 1, Math.floor(length / 3), Math.floor(length / 2), length - 1, length]);
      for (const split of splits) {
        if (split < 0 || split > length) continue;
        const a = whole.subarray(0, split);
        const b = whole.subarray(split);
        expect(crc32Combine(Bun.hash.crc32(a), Bun.hash.crc32(b), b.length)).toBe(Bun.hash.crc32(whole));
      }
    }
  });

  it("handles a second part longer than 2^31 bytes (a length that 32-bit shifts would break)", () => {
    // Appending zeros: the CRC of n zero bytes continued from a seed, by chaining 1 GiB pieces
    // would take too long; instead, check the law combine(combine(a, b, m), c, n) ==
    // combine(a, combine(b, c, n), m + n), which a wrong handling of large lengths breaks.
    const [a, b, c] = [0x12345678, 0x9abcdef0, 0x0fedcba9];
    const m = 2 ** 31 + 12_345;
    const n = 2 ** 31 + 3;
    expect(crc32Combine(crc32Combine(a, b, m), c, n)).toBe(crc32Combine(a, crc32Combine(b, c, n), m + n));
  });

  it("returns the first CRC unchanged for an empty second part", () => {
    expect(crc32Combine(0xdeadbeef, 0, 0)).toBe(0xdeadbeef);
  });
});
