// Serializing the key index and loading it back: the same index comes back, and any damaged
// byte or missing tail is refused with DamagedIndexError.
import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { DamagedIndexError } from "../../../src/engine/errors.ts";
import { KeyIndex } from "../../../src/engine/index/key-index.ts";
import { apply, expectSameAsModel, type Model, operationArb } from "./index-model.ts";

function smallIndex(): KeyIndex {
  const index = KeyIndex.create({ seed: 11, minDeadForRebuild: 4 });
  for (let i = 0; i < 12; i++) index.set(`key-${i}`, { segmentId: i % 2, offset: i * 10, length: 10 });
  index.set("with expiry", {
    segmentId: 3,
    offset: 0,
    length: 20,
    metaBytes: 4,
    expiresAt: 1_800_000_000_000,
  });
  index.delete("key-3");
  index.list(); // leaves some keys in the sorted run
  index.set("after listing", { segmentId: 1, offset: 500, length: 7 });
  return index;
}

describe("key index serialization", () => {
  it("loads back an index that answers and changes like the original", () => {
    fc.assert(
      fc.property(
        fc.array(operationArb, { maxLength: 200 }),
        fc.boolean(),
        fc.array(operationArb, { maxLength: 100 }),
        fc.nat(),
        (before, listBeforeSaving, after, seed) => {
          const index = KeyIndex.create({ seed, minDeadForRebuild: 4 });
          const model: Model = new Map();
          for (const operation of before) apply(index, model, operation);
          if (listBeforeSaving) index.list();
          const bytes = index.serialize();
          const saved = bytes.slice();
          const loaded = KeyIndex.load(bytes, { minDeadForRebuild: 4 });
          // The loaded copy owns its arrays: changing it leaves the original and the bytes alone.
          const copyModel = new Map(model);
          for (const operation of after) apply(loaded, copyModel, operation);
          expect(bytes).toEqual(saved);
          expect(index.serialize()).toEqual(saved);
          expectSameAsModel(loaded, copyModel);
          expectSameAsModel(KeyIndex.load(bytes), model);
          expectSameAsModel(index, model);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("loads from a view at an odd offset in a larger buffer", () => {
    const bytes = smallIndex().serialize();
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 1);
    const loaded = KeyIndex.load(padded.subarray(1, 1 + bytes.length));
    expect(loaded.list()).toEqual(smallIndex().list());
    expect(loaded.get("with expiry")?.expiresAt).toBe(1_800_000_000_000);
    expect(loaded.get("with expiry")?.metaBytes).toBe(4);
  });

  it("refuses the bytes with any single byte changed", () => {
    const bytes = smallIndex().serialize();
    for (let at = 0; at < bytes.length; at++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const damaged = bytes.slice();
        damaged[at] = (damaged[at] as number) ^ flip;
        expect(() => KeyIndex.load(damaged)).toThrow(DamagedIndexError);
      }
    }
  });

  it("refuses the bytes cut short at any length, or with bytes added", () => {
    const bytes = smallIndex().serialize();
    for (let length = 0; length < bytes.length; length++)
      expect(() => KeyIndex.load(bytes.subarray(0, length))).toThrow(DamagedIndexError);
    const longer = new Uint8Array(bytes.length + 8);
    longer.set(bytes);
    expect(() => KeyIndex.load(longer)).toThrow(DamagedIndexError);
  });

  it("says what is wrong", () => {
    const bytes = smallIndex().serialize();
    expect(() => KeyIndex.load(bytes.subarray(0, 10))).toThrow(/shorter than the 64-byte header/);
    expect(() =>
      KeyIndex.load(new TextEncoder().encode("not an index at all, but long enough ".repeat(3))),
    ).toThrow(/does not start with KVKEYIX1/);
    const flipped = bytes.slice();
    flipped[100] = (flipped[100] as number) ^ 1;
    expect(() => KeyIndex.load(flipped)).toThrow(/CRC-32 does not match/);
  });
});
