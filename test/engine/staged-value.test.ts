// Values built on disk a piece at a time and committed as one record (KVStore.stageValue).
import { describe, expect, it } from "bun:test";
import { readdirSync } from "node:fs";
import {
  DiskFullError,
  KVStore,
  type KVStoreOptions,
  StorageFailedError,
  StoreClosedError,
  silentLogger,
  ValueTooLargeError,
} from "../../src/index.ts";
import { FaultyFileSystem, failing } from "../fault/faulty-file-system.ts";
import { crashCopy, seededValue, tempDir, text } from "../helpers.ts";

const baseOptions: KVStoreOptions = {
  logger: silentLogger,
  autoCompaction: false,
  snapshotEveryBytes: 0,
  reserveBytes: 64 * 1024,
};

async function openStore(options: KVStoreOptions = {}) {
  const dir = tempDir();
  const fs = new FaultyFileSystem(dir);
  const store = await KVStore.open(dir, { ...baseOptions, ...options, fileSystem: fs });
  return { dir, fs, store };
}

const isStaging = (path: string) => /upload-[0-9a-f]{16}\.tmp$/.test(path);
const isSegment = (path: string) => /segment-\d+\.dat$/.test(path);
const stagingFiles = (dir: string) => readdirSync(dir).filter(isStaging);

/** Appends `value` in pieces of `piece` bytes. */
function appendInPieces(staged: { append(chunk: Uint8Array): void }, value: Uint8Array, piece: number) {
  for (let at = 0; at < value.length; at += piece) staged.append(value.subarray(at, at + piece));
}

async function reopened(dir: string, keys: string[]): Promise<(string | null)[]> {
  const store = await KVStore.open(dir, baseOptions);
  try {
    return keys.map((key) => {
      const value = store.get(key);
      return value === null ? null : Buffer.from(value).toString("hex");
    });
  } finally {
    await store.close();
  }
}

const hex = (value: Uint8Array) => Buffer.from(value).toString("hex");

describe("a staged value", () => {
  it("is stored byte for byte by commit, readable before it resolves, and its staging file deleted", async () => {
    const { dir, store } = await openStore();
    // Larger than one copy piece (1 MiB), in pieces that do not divide it.
    const value = seededValue(1, 2.5 * 1024 * 1024 + 17);
    const staged = store.stageValue("big");
    appendInPieces(staged, value, 100_003);
    expect(stagingFiles(dir)).toHaveLength(1);
    expect(staged.size).toBe(value.length);
    expect(staged.crc32).toBe(Bun.hash.crc32(value));
    const durable = staged.commit();
    // Applied at once: a check made in the same tick sees it.
    expect(store.get("big")).toEqual(value);
    expect(stagingFiles(dir)).toEqual([]);
    await durable;
    await store.close();
    // The record's CRC, joined from the header's and the value's, holds on replay.
    expect(await reopened(dir, ["big"])).toEqual([hex(value)]);
  });

  it("commits an empty value, and replaces an older one", async () => {
    const { dir, store } = await openStore();
    await store.set("k", "old");
    await store.stageValue("k").commit();
    expect(store.get("k")).toEqual(new Uint8Array(0));
    await store.close();
    expect(await reopened(dir, ["k"])).toEqual([""]);
  });

  it("keeps the order of writes around it: a set before and after the commit, in the same tick", async () => {
    const { dir, store } = await openStore({ maxSegmentBytes: 64 * 1024 });
    const value = seededValue(2, 200_000);
    const staged = store.stageValue("middle");
    staged.append(value);
    const results = Promise.all([store.set("before", "1"), staged.commit(), store.set("after", "2")]);
    await results;
    await store.close();
    expect(await reopened(dir, ["before", "middle", "after"])).toEqual([
      hex(Buffer.from("1")),
      hex(value),
      hex(Buffer.from("2")),
    ]);
  });

  it("abort stores nothing and deletes the staging file", async () => {
    const { dir, store } = await openStore();
    const staged = store.stageValue("dropped");
    staged.append(seededValue(3, 5000));
    staged.abort();
    expect(store.has("dropped")).toBe(false);
    expect(stagingFiles(dir)).toEqual([]);
    expect(() => staged.append(new Uint8Array(1))).toThrow("committed or aborted");
    await expect(staged.commit()).rejects.toThrow("committed or aborted");
    await store.close();
  });

  it("left by a crash before its commit, stores nothing, and open deletes its staging file", async () => {
    const { dir, store } = await openStore();
    await store.set("kept", "1");
    const staged = store.stageValue("interrupted");
    staged.append(seededValue(4, 70_000));
    const copy = crashCopy(dir);
    expect(stagingFiles(copy)).toHaveLength(1);
    expect(await reopened(copy, ["kept", "interrupted"])).toEqual([hex(Buffer.from("1")), null]);
    expect(stagingFiles(copy)).toEqual([]);
    staged.abort();
    await store.close();
  });

  it("past maxValueBytes is refused while it streams (ValueTooLargeError), its file deleted", async () => {
    const { dir, store } = await openStore({ maxValueBytes: 1000 });
    const staged = store.stageValue("large");
    staged.append(new Uint8Array(600));
    expect(() => staged.append(new Uint8Array(600))).toThrow(ValueTooLargeError);
    expect(stagingFiles(dir)).toEqual([]);
    expect(store.has("large")).toBe(false);
    await store.close();
  });

  it("is aborted when the store closes: its file deleted, later calls refused with StoreClosedError", async () => {
    const { dir, store } = await openStore();
    const staged = store.stageValue("open");
    staged.append(new Uint8Array(10));
    await store.close();
    expect(stagingFiles(dir)).toEqual([]);
    expect(() => staged.append(new Uint8Array(1))).toThrow(StoreClosedError);
  });

  it("refuses an invalid key before anything is staged", async () => {
    const { dir, store } = await openStore();
    expect(() => store.stageValue("")).toThrow("non-empty");
    expect(stagingFiles(dir)).toEqual([]);
    await store.close();
  });
});

describe("a staged value under disk faults", () => {
  it("a full disk while staging fails that value alone (DiskFullError) and does not latch the store", async () => {
    const { dir, fs, store } = await openStore();
    const staged = store.stageValue("big");
    staged.append(new Uint8Array(1000));
    fs.rule = failing("ENOSPC", (op, path) => op === "write" && isStaging(path));
    expect(() => staged.append(new Uint8Array(1000))).toThrow(DiskFullError);
    expect(stagingFiles(dir)).toEqual([]);
    expect(store.storageFailure).toBeNull();
    expect(store.has("big")).toBe(false);
    await store.set("after", "ok");
    expect(text(store.get("after"))).toBe("ok");
    await store.close();
  });

  it("a staging file that cannot be created is a DiskFullError on a full disk", async () => {
    const { dir, fs, store } = await openStore();
    fs.rule = failing("ENOSPC", (op, path) => op === "open" && isStaging(path));
    expect(() => store.stageValue("k")).toThrow(DiskFullError);
    expect(stagingFiles(dir)).toEqual([]);
    expect(store.storageFailure).toBeNull();
    await store.close();
  });

  it("a failed write of the commit's copy is a failed set: cut off, the store latched, the old value kept", async () => {
    const { dir, fs, store } = await openStore();
    await store.set("k", "old");
    const staged = store.stageValue("k");
    appendInPieces(staged, seededValue(5, 3 * 1024 * 1024), 65_536);
    // The second piece of the record (the first 1 MiB of the value) fails.
    let seen = 0;
    fs.rule = (call) => (call.op === "write" && isSegment(call.path) && ++seen === 2 ? "EIO" : null);
    await expect(staged.commit()).rejects.toBeInstanceOf(StorageFailedError);
    expect(text(store.get("k"))).toBe("old");
    expect(stagingFiles(dir)).toEqual([]);
    await expect(store.set("other", "x")).rejects.toBeInstanceOf(StorageFailedError);
    fs.closeAll();
    await store.close().catch(() => {});
    expect(await reopened(dir, ["k"])).toEqual([hex(Buffer.from("old"))]);
  });

  it("a full disk during the commit's copy refuses that value (DiskFullError) without latching", async () => {
    const { dir, fs, store } = await openStore();
    await store.set("k", "old");
    const sizeBefore = store.stats().totalBytes;
    const staged = store.stageValue("k");
    appendInPieces(staged, seededValue(6, 2 * 1024 * 1024), 65_536);
    let seen = 0;
    fs.rule = (call) => (call.op === "write" && isSegment(call.path) && ++seen === 3 ? "ENOSPC" : null);
    await expect(staged.commit()).rejects.toBeInstanceOf(DiskFullError);
    expect(store.storageFailure).toBeNull();
    expect(text(store.get("k"))).toBe("old");
    expect(store.stats().totalBytes).toBe(sizeBefore);
    expect(stagingFiles(dir)).toEqual([]);
    await store.close();
    expect(await reopened(dir, ["k"])).toEqual([hex(Buffer.from("old"))]);
  });

  it("a commit whose flush of earlier writes finds the disk full is refused too: the reserve is not spent on it", async () => {
    const { dir, fs, store } = await openStore();
    await store.set("k", "old");
    const staged = store.stageValue("k");
    appendInPieces(staged, seededValue(8, 200_000), 65_536);
    // A write of the open batch is flushed by the commit and finds the disk full; the disk stays full.
    const pending = store.set("queued", "q");
    fs.rule = failing("ENOSPC", (op, path) => op === "write" && isSegment(path));
    fs.freeSpace = 0;
    await expect(staged.commit()).rejects.toBeInstanceOf(DiskFullError);
    await expect(pending).rejects.toBeInstanceOf(DiskFullError);
    expect(text(store.get("k"))).toBe("old");
    expect(store.has("queued")).toBe(false);
    expect(stagingFiles(dir)).toEqual([]);
    fs.freeSpace = null;
    await store.close();
    expect(await reopened(dir, ["k", "queued"])).toEqual([hex(Buffer.from("old")), null]);
  });

  it("a commit fails with the writes before it in its tick when their flush fails, as a set() joining them would", async () => {
    const { dir, fs, store } = await openStore();
    await store.set("k", "v1");
    const staged = store.stageValue("k");
    appendInPieces(staged, seededValue(9, 200_000), 65_536);
    // A writer checks a precondition against "v2" (If-Match, say), then commits in the same tick:
    // the flush of "v2" fails, for a moment only (the disk has room again at once).
    const pending = store.set("k", "v2");
    fs.rule = failing("ENOSPC", (op, path) => op === "write" && isSegment(path));
    const committed = staged.commit();
    await expect(pending).rejects.toBeInstanceOf(DiskFullError);
    await expect(committed).rejects.toBeInstanceOf(DiskFullError);
    expect(text(store.get("k"))).toBe("v1");
    expect(stagingFiles(dir)).toEqual([]);
    await store.set("after", "ok");
    await store.close();
    expect(await reopened(dir, ["k", "after"])).toEqual([hex(Buffer.from("v1")), hex(Buffer.from("ok"))]);
  });

  it("a staging file that cannot be read back fails the commit without latching the store", async () => {
    const { dir, fs, store } = await openStore();
    await store.set("k", "old");
    const staged = store.stageValue("k");
    staged.append(seededValue(7, 10_000));
    fs.rule = failing("EIO", (op, path) => op === "read" && isStaging(path));
    await expect(staged.commit()).rejects.toThrow("EIO");
    expect(store.storageFailure).toBeNull();
    expect(text(store.get("k"))).toBe("old");
    await store.set("after", "ok");
    await store.close();
    expect(await reopened(dir, ["k", "after"])).toEqual([hex(Buffer.from("old")), hex(Buffer.from("ok"))]);
  });
});
