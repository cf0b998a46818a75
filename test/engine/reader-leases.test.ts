// Compacted segment files are deleted as soon as compaction no longer needs them; a reader
// that opened a value before keeps reading it through its own open file (its lease).
import { describe, expect, it } from "bun:test";
import { readdirSync, readSync } from "node:fs";
import { KVStore, type KVStoreOptions, silentLogger } from "../../src/index.ts";
import { seededValue, tempDir, testKey } from "../helpers.ts";

const options: KVStoreOptions = {
  logger: silentLogger,
  maxSegmentBytes: 64 * 1024,
  autoCompaction: false,
  snapshotEveryBytes: 0,
  reserveBytes: 0,
};

const segmentFiles = (dir: string) => readdirSync(dir).filter((name) => name.endsWith(".dat"));
const openFds = () => readdirSync("/proc/self/fd").length;

describe("reader leases", () => {
  it("compact() resolves with the compacted files already deleted", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, options);
    for (let i = 0; i < 400; i++) await store.set(testKey(i % 40), seededValue(i, 1000));
    const before = segmentFiles(dir);
    await store.compact();
    const after = segmentFiles(dir);
    for (const name of before) expect(after).not.toContain(name);
    await store.close();
  });

  it("a value opened before a compaction reads whole after the compaction deleted its file", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, options);
    const value = seededValue(1, 50_000);
    await store.set("big", value);
    for (let i = 0; i < 200; i++) await store.set(testKey(i % 20), seededValue(i, 1000));
    const opened = store.openValue("big");
    if (opened === null) throw new Error("big was not stored");
    const oldFile = opened.path.slice(dir.length + 1);
    await store.compact();
    expect(segmentFiles(dir)).not.toContain(oldFile);
    const read = new Uint8Array(opened.length);
    expect(readSync(opened.fd, read, 0, read.length, opened.offset)).toBe(value.length);
    expect(Buffer.from(read).equals(Buffer.from(value))).toBe(true);
    opened.close();
    opened.close();
    await store.close();
  });

  it("close() of an opened value releases its file descriptor", async () => {
    const store = await KVStore.open(tempDir(), options);
    await store.set("k", "v");
    const before = openFds();
    const values = Array.from({ length: 10 }, () => store.openValue("k"));
    expect(openFds()).toBe(before + 10);
    for (const value of values) value?.close();
    expect(openFds()).toBe(before);
    expect(store.openValue("missing")).toBeNull();
    await store.close();
  });
});
