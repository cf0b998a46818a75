// The key index against a Map model: random sets, overwrites, deletes and relocations, with
// rebuilds after a handful of deletes so that arena compaction happens constantly.
import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { KeyIndex } from "../../../src/engine/index/key-index.ts";
import { apply, expectSameAsModel, type Model, operationArb } from "./index-model.ts";

describe("key index", () => {
  it("agrees with a Map model over random operations", () => {
    fc.assert(
      fc.property(fc.array(operationArb, { maxLength: 400 }), fc.nat(), (operations, seed) => {
        const index = KeyIndex.create({ seed, minDeadForRebuild: 4 });
        const model: Model = new Map();
        for (const operation of operations) apply(index, model, operation);
        expectSameAsModel(index, model);
      }),
      { numRuns: 150 },
    );
  });

  it("counts the bytes its arrays use, and those they hold", () => {
    const index = KeyIndex.create({ seed: 1 });
    const keys = 1000;
    for (let i = 0; i < keys; i++)
      index.set(`key-${String(i).padStart(12, "0")}`, { segmentId: 1, offset: i, length: 9 });
    index.list({ limit: 1 }); // merges the recent run into the sorted one
    // Key starts, 16-byte keys, 3 location columns, 2048 hash slots, the sorted order.
    const used = 4 * (keys + 1) + 16 * keys + 12 * keys + 4 * 2048 + 4 * keys;
    expect(index.memoryBytes().used).toBe(used);
    expect(index.memoryBytes().allocated).toBeGreaterThanOrEqual(used);
    index.set("with metadata", { segmentId: 1, offset: 0, length: 9, metaBytes: 2 });
    // One more key (13 bytes) and its entry, now with a metadata column, and in the recent run.
    expect(index.memoryBytes().used).toBe(used + 4 + 13 + 16 * (keys + 1) - 12 * keys + 4);
  });

  it("grows its hash table and rebuilds its arena while keys come and go", () => {
    const index = KeyIndex.create({ seed: 7, minDeadForRebuild: 64 });
    const model: Model = new Map();
    const location = (i: number) => ({
      segmentId: i % 3,
      offset: i,
      length: 10 + (i % 7),
      metaBytes: i % 5,
      expiresAt: i % 11 === 0 ? 1_800_000_000_000 + i : 0,
    });
    let rebuilds = index.layoutVersion;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 3000; i++)
        apply(index, model, { kind: "set", key: `k${round}-${i}`, location: location(i) });
      // Half of this round's keys and what is left of the previous round's.
      for (let i = 0; i < 3000; i += 2) apply(index, model, { kind: "delete", key: `k${round}-${i}` });
      for (let i = 1; i < 3000; i += 2) apply(index, model, { kind: "delete", key: `k${round - 1}-${i}` });
      expect(index.layoutVersion).toBeGreaterThan(rebuilds);
      rebuilds = index.layoutVersion;
      expectSameAsModel(index, model);
    }
  });

  it("holds more keys than any column first reserves room for", () => {
    // Columns reserve address space for a while and then move to a larger reservation; with
    // 2-byte metadata and 8-byte expiries they do so at different key counts (1 MiB first).
    const keys = 600_000;
    const index = KeyIndex.create({ seed: 5 });
    const location = { segmentId: 0, offset: 0, length: 1, metaBytes: 0, expiresAt: 0 };
    for (let i = 0; i < keys; i++) {
      location.segmentId = i % 7;
      location.offset = i;
      location.length = 1 + (i % 100);
      location.metaBytes = i % 65_536;
      location.expiresAt = i % 3 === 0 ? 1_700_000_000_000 + i : 0;
      index.set(`k${i}`, location);
    }
    const loaded = KeyIndex.load(index.serialize());
    for (const copy of [index, loaded]) {
      expect(copy.size).toBe(keys);
      for (let i = 0; i < keys; i += 997) {
        expect({ ...copy.get(`k${i}`) }).toEqual({
          segmentId: i % 7,
          offset: i,
          length: 1 + (i % 100),
          metaBytes: i % 65_536,
          expiresAt: i % 3 === 0 ? 1_700_000_000_000 + i : 0,
        });
      }
    }
  });

  it("rebuilds from a sorted order that still holds deleted keys", () => {
    // A listing folds every key into the sorted order; deletes after it leave dead entries there,
    // which the rebuild they trigger must leave out.
    const index = KeyIndex.create({ seed: 9, minDeadForRebuild: 8 });
    const model: Model = new Map();
    const location = { segmentId: 2, offset: 0, length: 3, metaBytes: 0, expiresAt: 0 };
    for (let i = 0; i < 40; i++) apply(index, model, { kind: "set", key: `k${i}`, location });
    index.list();
    for (let i = 0; i < 20; i++) apply(index, model, { kind: "delete", key: `k${i}` });
    expect(index.layoutVersion).toBeGreaterThan(0);
    for (let i = 0; i < 40; i++) apply(index, model, { kind: "set", key: `k${i}`, location });
    expectSameAsModel(index, model);
  });

  it("keeps entry ids while pinned, and rebuilds once released", () => {
    const index = KeyIndex.create({ minDeadForRebuild: 4 });
    for (let i = 0; i < 20; i++) index.set(`k${i}`, { segmentId: 1, offset: i, length: 5 });
    const release = index.pinEntryIds();
    const id = index.find("k19");
    for (let i = 0; i < 15; i++) index.delete(`k${i}`);
    expect(index.layoutVersion).toBe(0);
    expect(index.keyOf(id)).toBe("k19");
    expect(index.nextEntry(0)).toBe(15);
    release();
    expect(index.layoutVersion).toBe(1);
    expect(index.keyOf(index.find("k19"))).toBe("k19");
    expect(index.nextEntry(0)).toBe(0);
  });

  it("looks up a string key and its UTF-8 bytes as the same key", () => {
    const index = KeyIndex.create();
    index.set("ord😀", { segmentId: 2, offset: 40, length: 9 });
    const id = index.find(new TextEncoder().encode("ord😀"));
    expect(id).toBe(index.find("ord😀"));
    expect(index.keyOf(id)).toBe("ord😀");
    expect(index.get("ord😀")?.offset).toBe(40);
  });

  it("keeps an expiry column only once a key has an expiry", () => {
    const index = KeyIndex.create();
    index.set("a", { segmentId: 1, offset: 0, length: 5 });
    expect(index.expiresAtOf(index.find("a"))).toBe(0);
    index.set("b", { segmentId: 1, offset: 5, length: 5, expiresAt: 1_900_000_000_000 });
    index.set("a", { segmentId: 1, offset: 10, length: 5 });
    expect(index.get("b")?.expiresAt).toBe(1_900_000_000_000);
    expect(index.get("a")?.expiresAt).toBe(0);
  });

  it("refuses a location its typed arrays would wrap or that marks a dead entry", () => {
    const index = KeyIndex.create();
    const valid = { segmentId: 1, offset: 0, length: 5 };
    for (const location of [
      { ...valid, length: 0 },
      { ...valid, length: 2 ** 32 },
      { ...valid, offset: -1 },
      { ...valid, offset: 1.5 },
      { ...valid, segmentId: 2 ** 32 },
      { ...valid, metaBytes: 2 ** 32 },
      { ...valid, metaBytes: 0.5 },
      { ...valid, expiresAt: -1 },
      { ...valid, expiresAt: Number.NaN },
    ])
      expect(() => index.set("a", location)).toThrow(RangeError);
    expect(index.size).toBe(0);
    expect(index.totalLiveBytes).toBe(0);
    index.set("a", { segmentId: 2 ** 32 - 1, offset: 2 ** 32 - 1, length: 2 ** 32 - 1, metaBytes: 65_537 });
    expect({ ...index.get("a") }).toEqual({
      segmentId: 2 ** 32 - 1,
      offset: 2 ** 32 - 1,
      length: 2 ** 32 - 1,
      metaBytes: 65_537,
      expiresAt: 0,
    });
  });
});
