// Listing keys in unsigned byte order of their UTF-8, with prefix, after and limit, while
// writes go on between listings (so new keys are merged into the order at every stage).
import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { KeyIndex, type KeyListOptions } from "../../../src/engine/index/key-index.ts";
import {
  apply,
  type Key,
  keyArb,
  type Model,
  modelKey,
  operationArb,
  sortedModelKeys,
} from "./index-model.ts";

function expectedListing(model: Model, { prefix, after, limit }: KeyListOptions): string[] {
  const prefixKey = prefix === undefined ? "" : modelKey(prefix);
  const afterKey = after === undefined ? undefined : Buffer.from(modelKey(after), "latin1");
  return sortedModelKeys(model)
    .filter((key) => key.startsWith(prefixKey))
    .filter((key) => afterKey === undefined || Buffer.compare(Buffer.from(key, "latin1"), afterKey) > 0)
    .slice(0, limit ?? Number.POSITIVE_INFINITY);
}

const listOptionsArb: fc.Arbitrary<KeyListOptions> = fc.record(
  {
    prefix: fc.oneof(keyArb, fc.constantFrom<Key>("ord", "a", "😀", "！")),
    after: keyArb,
    limit: fc.nat(6),
  },
  { requiredKeys: [] },
);

describe("sorted listing", () => {
  it("lists in UTF-8 byte order, not UTF-16 order", () => {
    const index = KeyIndex.create();
    for (const key of ["ord😀", "ord！", "ordz", "ord", "oré", "or"])
      index.set(key, { segmentId: 1, offset: 0, length: 1 });
    // U+FF01 is EF BC 81 in UTF-8 and U+1F600 is F0 9F 98 80: the emoji sorts last in bytes,
    // though its UTF-16 surrogate D83D sorts before FF01.
    expect(index.list()).toEqual(["or", "ord", "ordz", "ord！", "ord😀", "oré"]);
    expect(index.list({ prefix: "ord", after: "ord！" })).toEqual(["ord😀"]);
    expect(index.list({ prefix: "ord", limit: 2 })).toEqual(["ord", "ordz"]);
    expect(index.listBytes({ prefix: new Uint8Array([0x6f, 0x72, 0xc3]) })).toEqual([
      new TextEncoder().encode("oré"),
    ]);
  });

  it("agrees with the model for any prefix, after and limit, listed between writes", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.array(operationArb, { maxLength: 30 }), listOptionsArb), { maxLength: 15 }),
        fc.nat(),
        (steps, seed) => {
          const index = KeyIndex.create({ seed, minDeadForRebuild: 4 });
          const model: Model = new Map();
          for (const [operations, options] of steps) {
            for (const operation of operations) apply(index, model, operation);
            expect(index.listBytes(options).map(modelKey)).toEqual(expectedListing(model, options));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("stays in order across thousands of inserts and deletes between listings", () => {
    const index = KeyIndex.create({ seed: 3 });
    const model: Model = new Map();
    const location = { segmentId: 1, offset: 0, length: 1, metaBytes: 0, expiresAt: 0 };
    let step = 0;
    for (let i = 0; i < 6000; i++) {
      // Scattered keys, so that new ones land all over the existing order.
      const key = `${((i * 7919) % 6000).toString(36)}/${i % 3 === 0 ? "ü" : "u"}`;
      apply(index, model, { kind: "set", key, location });
      if (i % 5 === 4)
        apply(index, model, { kind: "delete", key: `${(((i - 2) * 7919) % 6000).toString(36)}/u` });
      // Listings at growing gaps: each catches up a different amount of recent keys.
      if (i === step) {
        step = step * 2 + 7;
        expect(index.list().map((key) => modelKey(key))).toEqual(sortedModelKeys(model));
        const options = { prefix: "1", after: "1k", limit: 50 };
        expect(index.listBytes(options).map(modelKey)).toEqual(expectedListing(model, options));
      }
    }
    expect(index.list().map((key) => modelKey(key))).toEqual(sortedModelKeys(model));
  });
});
