import { describe, expect, it } from "bun:test";
import { appendFileSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeRecord, Op, recordLength } from "../../src/engine/record.ts";
import { segmentFileName } from "../../src/engine/segment.ts";
import { CorruptionError, KVStore, silentLogger } from "../../src/index.ts";
import { recordingLogger, recordsEnd, seededValue, tempDir, testKey, text } from "../helpers.ts";

const RECORD = 15 + 10 + 100; // 10-byte keys, 100-byte values

/** A closed store with `count` keys in 4 KiB segments (about 30 records each). */
async function filledStore(count: number): Promise<string> {
  const dir = tempDir("kvstore-corrupt");
  const store = await KVStore.open(dir, { maxSegmentBytes: 4096, logger: silentLogger });
  for (let i = 0; i < count; i++) await store.set(testKey(i), seededValue(i, 100));
  await store.close();
  return dir;
}

function flipByte(path: string, offset: number): void {
  const data = readFileSync(path);
  data[offset] = (data[offset] as number) ^ 0x5a;
  writeFileSync(path, data);
}

describe("recovery from damage", () => {
  it("skips a corrupt record in the middle of a sealed segment and keeps the rest", async () => {
    const dir = await filledStore(100);
    // Segment 1 holds keys 0..31; damage the value of the 6th record (key 5).
    flipByte(join(dir, segmentFileName(1)), 5 * RECORD + 40);
    const logger = recordingLogger();
    const store = await KVStore.open(dir, { logger });
    expect(store.stats().corruptRecords).toBe(1);
    expect(store.get(testKey(5))).toBeNull();
    for (let i = 0; i < 100; i++) if (i !== 5) expect(store.get(testKey(i))).toEqual(seededValue(i, 100));
    expect(
      logger.lines.some((l) => l.includes(segmentFileName(1)) && l.includes(`offset ${5 * RECORD}`)),
    ).toBe(true);
    await store.close();
  });

  it("resynchronises after a damaged header whose length field is garbage", async () => {
    const dir = await filledStore(100);
    flipByte(join(dir, segmentFileName(2)), 3 * RECORD + 4); // key_len of the 4th record
    const store = await KVStore.open(dir, { logger: silentLogger });
    expect(store.stats().corruptRecords).toBe(1);
    expect(store.stats().numKeys).toBe(99);
    await store.close();
  });

  it("truncates a torn tail and keeps accepting writes", async () => {
    const dir = await filledStore(40);
    const last = join(dir, segmentFileName(2));
    const size = statSync(last).size;
    truncateSync(last, size - 7); // cut the last record short
    const logger = recordingLogger();
    const store = await KVStore.open(dir, { logger });
    const stats = store.stats();
    expect(stats.truncatedBytes).toBe(RECORD - 7);
    expect(stats.numKeys).toBe(39);
    expect(store.get(testKey(39))).toBeNull();
    expect(statSync(last).size).toBe(size - RECORD);
    expect(logger.lines.some((l) => l.includes("torn tail"))).toBe(true);
    await store.set("new", "value");
    await store.close();
    const reopened = await KVStore.open(dir, { logger: silentLogger });
    expect(reopened.stats().truncatedBytes).toBe(0);
    expect(reopened.stats().numKeys).toBe(40);
    await reopened.close();
  });

  it("treats garbage appended after the last record as a torn tail", async () => {
    const dir = await filledStore(10);
    appendFileSync(join(dir, segmentFileName(1)), new Uint8Array(300).fill(0xab));
    const store = await KVStore.open(dir, { logger: silentLogger });
    expect(store.stats().truncatedBytes).toBe(300);
    expect(store.stats().numKeys).toBe(10);
    await store.close();
  });

  it("does not take bytes inside a value for records when the value's own record is damaged", async () => {
    // A blob that holds the bytes of a record (say, a copy of a segment file): a tombstone for "a".
    const tombstone = new Uint8Array(recordLength(1, 0));
    encodeRecord(tombstone, 0, Op.Delete, "a", 1, null);
    const value = new Uint8Array(5400);
    value.set(tombstone, 200);
    for (const damage of ["torn write", "damaged header"] as const) {
      const dir = tempDir();
      const store = await KVStore.open(dir, { logger: silentLogger });
      await store.set("a", "acknowledged");
      const blobAt = recordsEnd(store);
      await store.set("blob", value);
      await store.close();
      rmSync(join(dir, "index.snapshot"));
      const segment = join(dir, segmentFileName(1));
      if (damage === "torn write") truncateSync(segment, blobAt + 15 + 4 + 200 + tombstone.length + 100);
      else flipByte(segment, blobAt + 2);
      const reopened = await KVStore.open(dir, { logger: silentLogger });
      expect(text(reopened.get("a"))).toBe("acknowledged");
      expect(reopened.has("blob")).toBe(false);
      await reopened.close();
    }
  });

  it("skips a record image inside a damaged value when its record's lengths point past it", async () => {
    // As above, but records follow the damaged blob: the scan must resume after the blob, where
    // its header says it ends, not at the tombstone image inside it.
    const tombstone = new Uint8Array(recordLength(1, 0));
    encodeRecord(tombstone, 0, Op.Delete, "a", 1, null);
    const value = seededValue(9, 5400);
    value.set(tombstone, 200);
    for (const [damage, at] of [
      ["magic", 0],
      ["op", 2],
      ["value", 11 + 4 + 1000],
      ["crc", 11 + 4 + 5400],
    ] as const) {
      const dir = tempDir();
      const store = await KVStore.open(dir, { logger: silentLogger });
      await store.set("a", "acknowledged");
      const blobAt = recordsEnd(store);
      await store.set("blob", value);
      await store.set("after", "intact");
      await store.close();
      rmSync(join(dir, "index.snapshot"));
      flipByte(join(dir, segmentFileName(1)), blobAt + at);
      const reopened = await KVStore.open(dir, { logger: silentLogger });
      expect([damage, text(reopened.get("a"))]).toEqual([damage, "acknowledged"]);
      expect([damage, text(reopened.get("after"))]).toEqual([damage, "intact"]);
      expect(reopened.stats().corruptRecords).toBe(1);
      await reopened.close();
    }
  });

  it("opens a store whose segment lost bytes index.snapshot covered, and says so", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, { logger: silentLogger });
    await store.set("k", "first");
    const segment = join(dir, segmentFileName(1));
    const lastRecordAt = recordsEnd(store);
    await store.set("k", "second");
    await store.close();
    const covered = statSync(segment).size;
    truncateSync(segment, lastRecordAt); // a whole record gone: no torn tail to notice

    const logger = recordingLogger();
    const reopened = await KVStore.open(dir, { logger });
    expect(text(reopened.get("k"))).toBe("first"); // all that is left
    expect(reopened.stats().corruptRecords).toBe(1);
    const errors = logger.lines.filter((line) => line.startsWith("error: "));
    expect(errors).toEqual([
      `error: ${segmentFileName(1)} is ${lastRecordAt} bytes but index.snapshot covered ${covered} ` +
        `fsynced bytes of it: ${covered - lastRecordAt} bytes of acknowledged writes are lost`,
    ]);
    await reopened.close();
  });

  it("throws CorruptionError when a value is damaged after open", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, { logger: silentLogger });
    await store.set("k", seededValue(1, 100));
    flipByte(join(dir, segmentFileName(1)), 30);
    expect(() => store.get("k")).toThrow(CorruptionError);
    expect(() => store.getWithMetadata("k")).toThrow(CorruptionError);
    await store.close();
  });
});
