// Sorting entry ids by their keys' bytes agrees with Buffer.compare, for keys that are prefixes
// of each other, empty, share long runs of bytes, or end where others go on with zero bytes;
// in small ranges (multikey quicksort) and large ones (sort by 4-byte chunks).
import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { KeyArena } from "../../../src/engine/index/key-arena.ts";
import { sortByKey } from "../../../src/engine/index/key-sort.ts";

function arenaOf(keys: Uint8Array[]): KeyArena {
  const arena = KeyArena.empty();
  for (const key of keys) arena.append(key, key.length);
  return arena;
}

// Few byte values (zero among them) and a shared head, so that equal runs go deep and padding
// zeros meet real ones.
const keyArb = fc
  .tuple(fc.constantFrom("", "key-", "key-0000", "k"), fc.uint8Array({ maxLength: 9, max: 3 }))
  .map(([head, tail]) => new Uint8Array([...new TextEncoder().encode(head), ...tail]));

function expectSortedRange(distinct: Uint8Array[], a: number, b: number): void {
  // Some keys many times over: a key deleted and set again between listings is noted once per
  // new entry.
  const keys = distinct.flatMap((key, i) => Array<Uint8Array>(i % 5 === 0 ? 20 : 1).fill(key));
  const arena = arenaOf(keys);
  const ids = Uint32Array.from(keys.keys());
  const from = keys.length === 0 ? 0 : a % keys.length;
  const to = from + (keys.length === 0 ? 0 : b % (keys.length - from + 1));
  sortByKey(arena, ids, from, to);
  const expected = [...keys.keys()];
  const middle = expected
    .slice(from, to)
    .sort((x, y) => Buffer.compare(keys[x] as Uint8Array, keys[y] as Uint8Array));
  expected.splice(from, middle.length, ...middle);
  // Equal keys may come in any order: compare the keys, and that the ids are a permutation.
  const hex = (id: number) => Buffer.from(keys[id] as Uint8Array).toString("hex");
  expect([...ids].map(hex)).toEqual(expected.map(hex));
  expect([...ids].sort((x, y) => x - y)).toEqual([...keys.keys()]);
}

describe("sortByKey", () => {
  it("orders a small range as Buffer.compare does", () => {
    fc.assert(fc.property(fc.array(keyArb, { maxLength: 40 }), fc.nat(), fc.nat(), expectSortedRange), {
      numRuns: 300,
    });
  });

  it("orders a large range as Buffer.compare does", () => {
    fc.assert(
      fc.property(
        fc.array(keyArb, { minLength: 300, maxLength: 1500 }),
        fc.nat(),
        fc.nat(),
        expectSortedRange,
      ),
      { numRuns: 60 },
    );
  });

  it("orders keys that differ only by trailing zero bytes", () => {
    // Padded with zeros, all of these have equal 4-byte chunks at every depth.
    const keys = Array.from({ length: 600 }, (_, i) => new Uint8Array(i % 13));
    expectSortedRange(keys, 0, keys.length * 3);
  });
});
