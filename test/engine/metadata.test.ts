// Metadata stored with a value (op 3 records): kept beside the value, never mixed into it.
import { describe, expect, it } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  copyMetadata,
  copyValue,
  encodeRecord,
  metadataBlockBytes,
  Op,
  parseRecord,
  RECORD_OVERHEAD,
  recordLength,
  writeU32,
} from "../../src/engine/record.ts";
import { segmentFileName } from "../../src/engine/segment.ts";
import { InvalidValueError, KVStore, type KVStoreOptions, silentLogger, verify } from "../../src/index.ts";
import { asLegacySnapshot } from "../fixtures/legacy-snapshot.ts";
import { bytes, crashCopy, dumpWithMetadata, recordsEnd, seededValue, tempDir, testKey } from "../helpers.ts";

const options: KVStoreOptions = { logger: silentLogger, maxSegmentBytes: 4096, autoCompaction: false };

function encodeWithMetadata(key: string, value: Uint8Array, metadata: Uint8Array): Uint8Array {
  const keyBytes = Buffer.byteLength(key);
  const out = new Uint8Array(recordLength(keyBytes, value.length, metadataBlockBytes(metadata)));
  encodeRecord(out, 0, Op.SetWithMetadata, key, keyBytes, value, metadata);
  return out;
}

/** Keys 0-59 with metadata on the even ones, overwritten and deleted across many segments. */
async function populated(dir: string): Promise<KVStore> {
  const store = await KVStore.open(dir, options);
  for (let i = 0; i < 200; i++) {
    const metadata = i % 2 === 0 ? seededValue(1000 + i, i % 50) : undefined;
    await store.set(testKey(i % 60), seededValue(i, 70), { metadata });
  }
  for (let i = 0; i < 60; i += 9) await store.delete(testKey(i));
  return store;
}

describe("op 3 record codec", () => {
  it("round-trips a SET with metadata with the documented layout", () => {
    const record = encodeWithMetadata("key", bytes("value"), bytes("meta"));
    // val_len counts the whole payload: u16 meta_len, the metadata, the value.
    expect(record.length).toBe(RECORD_OVERHEAD + 3 + 2 + 4 + 5);
    expect([...record.subarray(0, 11)]).toEqual([0xf0, 0xf1, 3, 3, 0, 0, 0, 11, 0, 0, 0]);
    expect([...record.subarray(14, 16)]).toEqual([4, 0]);
    expect(Buffer.from(record.subarray(16, 20)).toString()).toBe("meta");
    expect(Buffer.from(record.subarray(20, 25)).toString()).toBe("value");
    const parsed = parseRecord(record, 0, record.length);
    if (typeof parsed === "string") throw new Error(parsed);
    expect(parsed).toMatchObject({ op: Op.SetWithMetadata, keyBytes: 3, metaBytes: 6, valueBytes: 5 });
    expect(record.subarray(parsed.valueStart, parsed.valueStart + parsed.valueBytes)).toEqual(bytes("value"));
    expect(copyValue(record, 0, record.length)).toEqual(bytes("value"));
    expect(copyMetadata(record, 0, record.length)).toEqual(bytes("meta"));
  });

  it("keeps empty metadata and an empty value apart, and op 1 records have no metadata", () => {
    const empty = encodeWithMetadata("k", new Uint8Array(0), new Uint8Array(0));
    expect(copyValue(empty, 0, empty.length)).toEqual(new Uint8Array(0));
    expect(copyMetadata(empty, 0, empty.length)).toEqual(new Uint8Array(0));
    const plain = new Uint8Array(recordLength(1, 2));
    encodeRecord(plain, 0, Op.Set, "k", 1, bytes("ab"));
    expect(copyMetadata(plain, 0, plain.length)).toBeNull();
    const parsed = parseRecord(plain, 0, plain.length);
    if (typeof parsed === "string") throw new Error(parsed);
    expect(parsed.metaBytes).toBe(0);
  });

  it("detects a flipped bit in the metadata, and a meta_len that overruns the payload", () => {
    const record = encodeWithMetadata("key", bytes("value"), bytes("text/plain"));
    for (const at of [14, 15, 18, 26]) {
      const damaged = record.slice();
      damaged[at] = (damaged[at] as number) ^ 0x04;
      expect(parseRecord(damaged, 0, damaged.length)).toBeOneOf(["bad-crc", "bad-op"]);
      expect(copyValue(damaged, 0, damaged.length)).toBeOneOf(["bad-crc", "bad-op"]);
      expect(copyMetadata(damaged, 0, damaged.length)).toBeOneOf(["bad-crc", "bad-op"]);
    }
    // A CRC that matches does not make an impossible meta_len acceptable.
    const overrun = record.slice();
    overrun[14] = 200;
    writeU32(overrun, overrun.length - 4, Bun.hash.crc32(overrun.subarray(0, overrun.length - 4)));
    expect(parseRecord(overrun, 0, overrun.length)).toBe("bad-op");
    expect(copyValue(overrun, 0, overrun.length)).toBe("bad-op");
  });
});

describe("metadata in the store", () => {
  it("leaves get() and valueLength() the value alone, and getMetadata() returns the metadata", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, options);
    await store.set("with", bytes("value"), { metadata: bytes("type=text") });
    await store.set("without", bytes("plain"));
    expect(store.get("with")).toEqual(bytes("value"));
    expect(store.valueLength("with")).toBe(5);
    expect(store.getMetadata("with")).toEqual(bytes("type=text"));
    expect(store.getMetadata("without")).toBeNull();
    expect(store.getMetadata("absent")).toBeNull();
    expect(store.getWithMetadata("with")).toEqual({ value: bytes("value"), metadata: bytes("type=text") });
    expect(store.getWithMetadata("without")).toEqual({ value: bytes("plain"), metadata: null });
    expect(store.getWithMetadata("absent")).toBeNull();
    const file = store.openValue("with");
    if (file === null) throw new Error("no value");
    try {
      expect(file.length).toBe(5);
      expect(file.metadata).toEqual(bytes("type=text"));
      expect(readFileSync(file.path).subarray(file.offset, file.offset + file.length)).toEqual(
        Buffer.from("value"),
      );
    } finally {
      file.close();
    }
    // An overwrite without metadata drops it; a delete drops both.
    await store.set("with", bytes("again"));
    expect(store.getMetadata("with")).toBeNull();
    const plain = store.openValue("with");
    expect(plain?.metadata).toBeNull();
    expect(plain?.length).toBe(5);
    plain?.close();
    await store.set("without", bytes("now"), { metadata: bytes("m") });
    await store.delete("without");
    expect(store.getMetadata("without")).toBeNull();
    await store.close();
  });

  it("refuses metadata over 65,535 bytes or not a Uint8Array before writing anything", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, options);
    await store.set("k", bytes("old"));
    const sizeBefore = recordsEnd(store);
    expect(store.set("k", bytes("new"), { metadata: new Uint8Array(65_536) })).rejects.toThrow(
      InvalidValueError,
    );
    const notBytes = { metadata: "text/plain" as unknown as Uint8Array };
    expect(store.set("k", bytes("new"), notBytes)).rejects.toThrow(InvalidValueError);
    await store.saveSnapshot();
    expect(store.stats().totalBytes).toBe(sizeBefore);
    expect(store.stats().sets).toBe(1);
    await store.set("max", bytes("v"), { metadata: new Uint8Array(65_535).fill(7) });
    expect(store.getMetadata("max")).toEqual(new Uint8Array(65_535).fill(7));
    expect(store.get("k")).toEqual(bytes("old"));
    await store.close();
    const reopened = await KVStore.open(dir, options);
    expect(reopened.get("k")).toEqual(bytes("old"));
    expect(reopened.getMetadata("max")).toEqual(new Uint8Array(65_535).fill(7));
    await reopened.close();
  });

  it("survives a restart through replay and through index.snapshot alike", async () => {
    const dir = tempDir();
    const store = await populated(dir);
    const before = dumpWithMetadata(store);
    const crashed = crashCopy(dir);
    await store.close();

    const fromSnapshot = await KVStore.open(dir, options);
    expect(fromSnapshot.stats().snapshotOnOpen).toBe("loaded");
    expect(dumpWithMetadata(fromSnapshot)).toEqual(before);
    for (const key of fromSnapshot.listKeys()) {
      expect(fromSnapshot.valueLength(key)).toBe(70);
    }
    await fromSnapshot.close();

    rmSync(join(crashed, "index.snapshot"), { force: true });
    const replayed = await KVStore.open(crashed, options);
    expect(replayed.stats().snapshotOnOpen).toBe("absent");
    expect(dumpWithMetadata(replayed)).toEqual(before);
    await replayed.close();
  });

  it("loads a version 1 snapshot (no metaBytes) as records without metadata", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, options);
    for (let i = 0; i < 50; i++) await store.set(testKey(i), seededValue(i, 100));
    const before = dumpWithMetadata(store);
    await store.close();
    const path = join(dir, "index.snapshot");
    writeFileSync(path, asLegacySnapshot(readFileSync(path), 1));

    const reopened = await KVStore.open(dir, options);
    expect(reopened.stats().snapshotOnOpen).toBe("loaded");
    expect(reopened.stats().replayedBytesOnOpen).toBe(0);
    expect(dumpWithMetadata(reopened)).toEqual(before);
    for (let i = 0; i < 50; i++) expect(reopened.valueLength(testKey(i))).toBe(100);
    // Written after the old snapshot: replayed, metadata and all.
    await reopened.set("new", bytes("v"), { metadata: bytes("m") });
    await reopened.close();
    const again = await KVStore.open(dir, options);
    expect(again.getMetadata("new")).toEqual(bytes("m"));
    expect(again.get("new")).toEqual(bytes("v"));
    await again.close();
  });

  it("keeps the metadata of every live record through a compaction", async () => {
    const dir = tempDir();
    const store = await populated(dir);
    const before = dumpWithMetadata(store);
    const segmentsBefore = store.stats().numSegments;
    await store.compact();
    expect(store.stats().compactions).toBe(1);
    expect(store.stats().numSegments).toBeLessThan(segmentsBefore);
    expect(dumpWithMetadata(store)).toEqual(before);
    await store.close();
    const reopened = await KVStore.open(dir, options);
    expect(dumpWithMetadata(reopened)).toEqual(before);
    await reopened.close();
  });

  it("passes verify, which reports a damaged op 3 record like any other", async () => {
    const dir = tempDir();
    const store = await populated(dir);
    const liveKeys = store.stats().numKeys;
    await store.close();
    const report = verify(dir);
    expect(report.ok).toBe(true);
    expect(report.liveKeys).toBe(liveKeys);
    expect(report.records).toBe(200 + 7);

    // The first record (key 0, written with metadata) has its metadata at byte 11 + 10 + 2.
    const first = join(dir, segmentFileName(1));
    const damaged = readFileSync(first);
    expect(damaged[2]).toBe(Op.SetWithMetadata);
    damaged[23] = (damaged[23] as number) ^ 0x20;
    writeFileSync(first, damaged);
    const after = verify(dir);
    expect(after.ok).toBe(false);
    expect(after.damaged[0]).toMatchObject({ file: segmentFileName(1), offset: 0, reason: "bad-crc" });

    rmSync(join(dir, "index.snapshot"));
    const reopened = await KVStore.open(dir, options);
    expect(reopened.stats().corruptRecords).toBe(1);
    await reopened.close();
  });
});
