// Sorting entry ids by their keys' bytes: the multikey quicksort agrees with Buffer.compare,
// for keys that are prefixes of each other, empty, or share long runs of bytes.
import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { KeyArena } from "../../../src/engine/index/key-arena.ts";
import { sortByKey } from "../../../src/engine/index/key-sort.ts";

function arenaOf(keys: Uint8Array[]): KeyArena {
  const arena = KeyArena.empty();
  for (const key of keys) arena.append(key, key.length);
  return arena;
}

// Few byte values and a shared head, so that ranges of equal bytes run deep.
const keyArb = fc
  .tuple(fc.constantFrom("", "key-", "key-0000"), fc.uint8Array({ maxLength: 6, max: 3 }))
  .map(([head, tail]) => new Uint8Array([...new TextEncoder().encode(head), ...tail]));

describe("sortByKey", () => {
  it("orders any keys as Buffer.compare does, within the range it is given", () => {
    fc.assert(
      fc.property(fc.array(keyArb, { maxLength: 300 }), fc.nat(), fc.nat(), (distinct, a, b) => {
        // Some keys many times over: a key deleted and set again between listings is noted
        // once per new entry.
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
        // Ties (equal keys) may come in any order: compare the keys, and that ids are a permutation.
        expect([...ids].map((id) => Buffer.from(keys[id] as Uint8Array).toString("hex"))).toEqual(
          expected.map((id) => Buffer.from(keys[id] as Uint8Array).toString("hex")),
        );
        expect([...ids].sort((x, y) => x - y)).toEqual([...keys.keys()]);
      }),
      { numRuns: 300 },
    );
  });
});
