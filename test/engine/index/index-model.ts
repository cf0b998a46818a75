// Shared by the key index tests: random operations, a Map model of the index, and a checker
// that compares the two.
import { expect } from "bun:test";
import fc from "fast-check";
import type { KeyIndex } from "../../../src/engine/index/key-index.ts";
import type { IndexLocation } from "../../../src/engine/index/location.ts";

const utf8 = new TextEncoder();

export type Key = string | Uint8Array;

/** Model keys are the key's bytes read as Latin-1, so that string and byte keys share a map. */
export const modelKey = (key: Key): string =>
  Buffer.from(typeof key === "string" ? utf8.encode(key) : key).toString("latin1");

export type Operation =
  | { kind: "set"; key: Key; location: Required<IndexLocation> }
  | { kind: "delete"; key: Key }
  | { kind: "relocate"; key: Key; stale: boolean; toSegmentId: number; toOffset: number }
  | { kind: "get"; key: Key };

// Few tokens, some multi-byte, so that overwrites, deletes and shared prefixes are frequent and
// byte order differs from UTF-16 order ("！" is U+FF01, "😀" a surrogate pair in UTF-16).
const tokenArb = fc.constantFrom("a", "b", "ord", "！", "😀", "é", "\u0000", "~", "z", "/");
export const stringKeyArb = fc.array(tokenArb, { maxLength: 4 }).map((tokens) => tokens.join(""));
export const byteKeyArb = fc.uint8Array({ maxLength: 3, min: 0, max: 255 }).map((bytes) =>
  // Few distinct first bytes, so that keys collide and share prefixes.
  bytes.map((byte, i) => (i === 0 ? byte & 0x83 : byte)),
);
// Mostly a small pool, so that sets overwrite and deletes hit often enough to trigger rebuilds.
const keyPool: Key[] = ["", "a", "ab", "a/", "ord", "ord！", "ord😀", "oré", "z", "😀", "\u0000", "~~"];
for (let i = 0; i < 8; i++) keyPool.push(new Uint8Array([0x6f, 0x72, 0xff - i]), `pool-${i}`);
export const keyArb: fc.Arbitrary<Key> = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...keyPool) },
  { weight: 1, arbitrary: stringKeyArb },
  { weight: 1, arbitrary: byteKeyArb },
);

const locationArb = fc.record({
  segmentId: fc.nat(5),
  offset: fc.nat(2 ** 32 - 1),
  length: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
  metaBytes: fc.nat(0xffff),
  expiresAt: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(2 ** 52) }),
});

export const operationArb: fc.Arbitrary<Operation> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant("set" as const), key: keyArb, location: locationArb }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("delete" as const), key: keyArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("relocate" as const),
      key: keyArb,
      stale: fc.boolean(),
      toSegmentId: fc.nat(5),
      toOffset: fc.nat(2 ** 32 - 1),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("get" as const), key: keyArb }) },
);

export type Model = Map<string, Required<IndexLocation>>;

const copy = (location: Required<IndexLocation>): Required<IndexLocation> => ({ ...location });

/** Applies `operation` to both, checking what the index returns against the model. */
export function apply(index: KeyIndex, model: Model, operation: Operation): void {
  const key = modelKey(operation.key);
  const before = model.get(key);
  switch (operation.kind) {
    case "set":
      expect(copyOrUndefined(index.set(operation.key, operation.location))).toEqual(before);
      model.set(key, copy(operation.location));
      break;
    case "delete":
      expect(copyOrUndefined(index.delete(operation.key))).toEqual(before);
      model.delete(key);
      break;
    case "relocate": {
      // A stale move names an offset the key no longer has (it was overwritten meanwhile).
      const from = before ?? { segmentId: 0, offset: 0 };
      const fromOffset = operation.stale ? (from.offset + 1) >>> 0 : from.offset;
      const moved = index.relocate(
        operation.key,
        from.segmentId,
        fromOffset,
        operation.toSegmentId,
        operation.toOffset,
      );
      expect(moved).toBe(before !== undefined && !operation.stale);
      if (moved && before !== undefined)
        model.set(key, { ...before, segmentId: operation.toSegmentId, offset: operation.toOffset });
      break;
    }
    case "get":
      expect(copyOrUndefined(index.get(operation.key))).toEqual(before);
      expect(index.has(operation.key)).toBe(before !== undefined);
      break;
  }
}

function copyOrUndefined(view: IndexLocation | undefined): Required<IndexLocation> | undefined {
  if (view === undefined) return undefined;
  return {
    segmentId: view.segmentId,
    offset: view.offset,
    length: view.length,
    metaBytes: view.metaBytes ?? 0,
    expiresAt: view.expiresAt ?? 0,
  };
}

/** Model keys in unsigned byte order. */
export function sortedModelKeys(model: Model): string[] {
  return [...model.keys()].sort((a, b) => Buffer.compare(Buffer.from(a, "latin1"), Buffer.from(b, "latin1")));
}

/** Everything the index says agrees with the model: size, entries, order, live bytes. */
export function expectSameAsModel(index: KeyIndex, model: Model): void {
  expect(index.size).toBe(model.size);
  const sorted = sortedModelKeys(model);
  expect(index.listBytes().map(modelKey)).toEqual(sorted);
  const seen: string[] = [];
  index.forEachEntry((id) => {
    const key = modelKey(index.keyBytesOf(id));
    seen.push(key);
    const location = model.get(key);
    expect(location).toBeDefined();
    expect({
      segmentId: index.segmentIdOf(id),
      offset: index.offsetOf(id),
      length: index.lengthOf(id),
      metaBytes: index.metaBytesOf(id),
      expiresAt: index.expiresAtOf(id),
    }).toEqual(location as Required<IndexLocation>);
    return true;
  });
  expect(seen.sort()).toEqual([...model.keys()].sort());
  const live = new Map<number, number>();
  for (const { segmentId, length } of model.values())
    live.set(segmentId, (live.get(segmentId) ?? 0) + length);
  for (let segmentId = 0; segmentId <= 5; segmentId++)
    expect(index.liveBytesOf(segmentId)).toBe(live.get(segmentId) ?? 0);
  expect(index.totalLiveBytes).toBe([...live.values()].reduce((sum, bytes) => sum + bytes, 0));
}
