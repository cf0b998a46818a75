import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { crc32Range } from "../../src/engine/crc32-range.ts";

describe("crc32Range", () => {
  it("equals Bun.hash.crc32 of the same range, from any start and seed", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.nat(),
        fc.nat(),
        fc.nat({ max: 0xffff_ffff }),
        (bytes, a, b, seed) => {
          const from = bytes.length === 0 ? 0 : a % (bytes.length + 1);
          const to = from + (bytes.length === 0 ? 0 : b % (bytes.length - from + 1));
          expect(crc32Range(bytes, from, to, seed)).toBe(Bun.hash.crc32(bytes.subarray(from, to), seed));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("continues into Bun.hash.crc32: head in JavaScript, rest natively, as one CRC", () => {
    const record = new Uint8Array(131).map((_, i) => (i * 37 + 11) & 0xff);
    for (const split of [0, 1, 7, 8, 9, 27, 130, 131]) {
      const rest = record.slice(split);
      expect(Bun.hash.crc32(rest, crc32Range(record, 0, split))).toBe(Bun.hash.crc32(record));
    }
  });
});
