import { describe, expect, it } from "bun:test";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { recordLength } from "../../src/engine/record.ts";
import {
  InvalidKeyError,
  InvalidOptionError,
  KeyTooLargeError,
  KVStore,
  type KVStoreOptions,
  StoreClosedError,
  silentLogger,
  ValueTooLargeError,
} from "../../src/index.ts";
import { bytes, seededValue, tempDir, testKey, text } from "../helpers.ts";

const open = (dir: string, options: KVStoreOptions = {}) =>
  KVStore.open(dir, { logger: silentLogger, ...options });

describe("KVStore basics", () => {
  it("sets, gets, overwrites and deletes", async () => {
    const store = await open(tempDir());
    expect(store.get("a")).toBeNull();
    expect(store.has("a")).toBe(false);
    await store.set("a", "one");
    await store.set("b", bytes("two"));
    expect(text(store.get("a"))).toBe("one");
    expect(store.has("b")).toBe(true);
    await store.set("a", "uno");
    expect(text(store.get("a"))).toBe("uno");
    expect(await store.delete("a")).toBe(true);
    expect(await store.delete("a")).toBe(false);
    expect(store.get("a")).toBeNull();
    expect(store.stats().numKeys).toBe(1);
    await store.close();
  });

  it("sees a write before its promise resolves (read-your-writes)", async () => {
    const store = await open(tempDir());
    const pending = store.set("k", "v");
    expect(text(store.get("k"))).toBe("v");
    expect(store.listKeys()).toEqual(["k"]);
    await pending;
    await store.close();
  });

  it("stores empty values and every byte value", async () => {
    const store = await open(tempDir());
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    await store.set("empty", new Uint8Array(0));
    await store.set("all", all);
    expect(store.get("empty")).toEqual(new Uint8Array(0));
    expect(store.get("all")).toEqual(all);
    await store.close();
  });

  it("returns a copy that later writes do not change", async () => {
    const store = await open(tempDir());
    await store.set("k", "before");
    const value = store.get("k");
    await store.set("k", "after!");
    expect(text(value)).toBe("before");
    await store.close();
  });

  it("keeps data across close and reopen", async () => {
    const dir = tempDir();
    let store = await open(dir);
    for (let i = 0; i < 100; i++) await store.set(testKey(i), seededValue(i, 50));
    await store.delete(testKey(3));
    await store.close();
    store = await open(dir);
    expect(store.stats().numKeys).toBe(99);
    expect(store.get(testKey(3))).toBeNull();
    expect(store.get(testKey(42))).toEqual(seededValue(42, 50));
    await store.close();
  });

  it("lists keys sorted, with prefix, after and limit", async () => {
    const store = await open(tempDir());
    for (const key of ["b/2", "a/1", "b/1", "c", "a/2", "b/3"]) await store.set(key, "x");
    expect(store.listKeys()).toEqual(["a/1", "a/2", "b/1", "b/2", "b/3", "c"]);
    expect(store.listKeys({ prefix: "b/" })).toEqual(["b/1", "b/2", "b/3"]);
    expect(store.listKeys({ prefix: "b/", after: "b/1", limit: 1 })).toEqual(["b/2"]);
    expect(store.listKeys({ after: "b/3" })).toEqual(["c"]);
    expect(store.listKeys({ after: "a", limit: 2 })).toEqual(["a/1", "a/2"]);
    expect(store.listKeys({ prefix: "a", after: "z" })).toEqual([]);
    expect(store.listKeys({ limit: 0 })).toEqual([]);
    await store.delete("b/2");
    expect(store.listKeys({ prefix: "b/" })).toEqual(["b/1", "b/3"]);
    await store.close();
  });

  it("lists keys in unsigned byte order of their UTF-8, also after a reopen and a replay", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, { logger: silentLogger });
    // UTF-16 order would put "ord😀" (a surrogate pair, 0xD83D...) before "ord！" (U+FF01); in
    // UTF-8 ！ is EF BC 81 and 😀 F0 9F 98 80, so ！ comes first.
    for (const key of ["ord😀", "ord！", "ordé", "ord~", "orda", "other"]) await store.set(key, key);
    const inByteOrder = ["orda", "ord~", "ordé", "ord！", "ord😀"];
    expect(store.listKeys({ prefix: "ord" })).toEqual(inByteOrder);
    expect(store.listKeys({ prefix: "ord", after: "ord！" })).toEqual(["ord😀"]);
    expect(store.listKeys({ prefix: "ord", after: "ordé", limit: 1 })).toEqual(["ord！"]);
    expect(store.listKeys({ after: "ord😀" })).toEqual(["other"]);
    await store.close();
    for (const snapshot of ["loaded", "absent"] as const) {
      if (snapshot === "absent") rmSync(join(dir, "index.snapshot"));
      const reopened = await KVStore.open(dir, { logger: silentLogger });
      expect(reopened.stats().snapshotOnOpen).toBe(snapshot);
      expect(reopened.listKeys({ prefix: "ord" })).toEqual(inByteOrder);
      await reopened.close();
    }
  });

  it("rotates segments at maxSegmentBytes and reads from all of them", async () => {
    const dir = tempDir();
    const store = await open(dir, { maxSegmentBytes: 4096 });
    for (let i = 0; i < 200; i++) await store.set(testKey(i), seededValue(i, 100));
    const stats = store.stats();
    expect(stats.numSegments).toBeGreaterThan(5);
    expect(stats.activeSegmentId).toBe(stats.numSegments);
    expect(stats.oldestSegmentId).toBe(1);
    expect(readdirSync(dir).filter((f) => f.endsWith(".dat"))).toHaveLength(stats.numSegments);
    for (let i = 0; i < 200; i++) expect(store.get(testKey(i))).toEqual(seededValue(i, 100));
    await store.close();
  });

  it("puts a record larger than a segment in a segment of its own", async () => {
    const store = await open(tempDir(), { maxSegmentBytes: 4096 });
    await store.set("small", "x");
    await store.set("big", seededValue(1, 10_000));
    await store.set("after", "y");
    expect(store.get("big")).toEqual(seededValue(1, 10_000));
    expect(store.stats().numSegments).toBe(3);
    await store.close();
  });

  it("counts live and dead bytes", async () => {
    const store = await open(tempDir());
    await store.set("k", "1234");
    const one = store.stats();
    expect(one.liveBytes).toBe(one.totalBytes);
    await store.set("k", "5678");
    const two = store.stats();
    expect(two.liveBytes).toBe(one.liveBytes);
    expect(two.deadBytes).toBe(one.totalBytes);
    await store.delete("k");
    expect(store.stats().liveBytes).toBe(0);
    await store.close();
  });
});

describe("group commit", () => {
  it("covers concurrent durable writes with one write and one fsync", async () => {
    const store = await open(tempDir(), { sync: "always" });
    await Promise.all(Array.from({ length: 500 }, (_, i) => store.set(testKey(i), "v")));
    const stats = store.stats();
    expect(stats.groupCommits).toBe(1);
    expect(stats.fsyncs).toBe(1);
    for (let i = 0; i < 500; i++) expect(text(store.get(testKey(i)))).toBe("v");
    await store.close();
  });

  it("covers writes made by separate callbacks of one event-loop turn (as HTTP requests are)", async () => {
    const store = await open(tempDir(), { sync: "always" });
    // Each callback runs on its own, with the microtasks drained after it, like a request handler.
    const writes = await new Promise<Promise<void>[]>((resolve) => {
      const started: Promise<void>[] = [];
      for (let i = 0; i < 20; i++) {
        setImmediate(() => {
          started.push(store.set(testKey(i), "v"));
          if (started.length === 20) resolve(started);
        });
      }
    });
    await Promise.all(writes);
    expect(store.stats().groupCommits).toBe(1);
    expect(store.stats().fsyncs).toBe(1);
    await store.close();
  });

  it("fsyncs every write in sync always mode but not in never mode", async () => {
    for (const [sync, expected] of [
      ["always", 10],
      ["never", 0],
    ] as const) {
      const store = await open(tempDir(), { sync });
      for (let i = 0; i < 10; i++) await store.set(testKey(i), "v");
      expect(store.stats().fsyncs).toBe(expected);
      await store.close();
    }
  });

  it("fsyncs in the background in sync interval mode", async () => {
    const store = await open(tempDir(), { sync: "interval", syncIntervalMs: 5 });
    await store.set("k", "v");
    expect(store.stats().fsyncs).toBe(0);
    while (store.stats().fsyncs === 0) await Bun.sleep(5);
    await store.close();
  });

  it("undoes every write of a batch whose write(2) finds the disk full, and keeps working", async () => {
    const dir = tempDir();
    let failNext = false;
    const store = await open(dir, {
      faultInjector: (point) => {
        if (failNext && point === "write")
          throw Object.assign(new Error("injected ENOSPC"), { code: "ENOSPC" });
      },
    });
    await store.set("kept", "old");
    failNext = true;
    const results = await Promise.allSettled([
      store.set("kept", "new"),
      store.set("fresh", "x"),
      store.delete("kept"),
    ]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
    failNext = false;
    expect(text(store.get("kept"))).toBe("old");
    expect(store.has("fresh")).toBe(false);
    await store.set("later", "ok");
    await store.close();
    const reopened = await open(dir);
    expect(reopened.listKeys()).toEqual(["kept", "later"]);
    expect(text(reopened.get("kept"))).toBe("old");
    expect(reopened.stats().corruptRecords).toBe(0);
    await reopened.close();
  });

  it("rejects the batch when fsync fails", async () => {
    let fail = false;
    const store = await open(tempDir(), {
      faultInjector: (point) => {
        if (fail && point === "fsync") throw new Error("injected fsync failure");
      },
    });
    fail = true;
    await expect(store.set("k", "v")).rejects.toThrow("fdatasync of");
    await expect(store.set("k", "v")).rejects.toThrow("injected fsync failure");
    await Bun.sleep(0);
    expect(store.has("k")).toBe(false);
    fail = false;
    await store.close();
  });
});

describe("errors", () => {
  it("rejects empty, oversized and non-UTF-8 keys", async () => {
    const store = await open(tempDir(), { maxKeyBytes: 8 });
    await expect(store.set("", "v")).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(store.set("123456789", "v")).rejects.toBeInstanceOf(KeyTooLargeError);
    await expect(store.set("ééééé", "v")).rejects.toThrow("key is 10 bytes of UTF-8; the limit is 8");
    await expect(store.set("\ud800", "v")).rejects.toThrow("not valid UTF-8");
    await expect(store.delete("")).rejects.toBeInstanceOf(InvalidKeyError);
    await store.set("12345678", "v");
    expect(store.stats().numKeys).toBe(1);
    await store.close();
  });

  it("never answers a read of a key with a lone surrogate with the U+FFFD key's value", async () => {
    // Such a key cannot be stored (set refuses it), so no read may find it: encoding it to UTF-8
    // for the index would turn the surrogate into U+FFFD and find a different key.
    const store = await open(tempDir());
    await store.set("x\ufffd", "replacement", { metadata: bytes("meta") });
    for (const lone of ["x\ud800", "x\udc00"]) {
      expect(store.get(lone)).toBeNull();
      expect(store.has(lone)).toBe(false);
      expect(store.valueLength(lone)).toBeNull();
      expect(store.getMetadata(lone)).toBeNull();
      expect(store.openValue(lone)).toBeNull();
      // A listing bound that no UTF-8 key can start with or equal is refused, not read as U+FFFD.
      expect(() => store.listKeys({ prefix: lone })).toThrow(InvalidKeyError);
      expect(() => store.listKeys({ after: lone })).toThrow(InvalidKeyError);
    }
    expect(text(store.get("x\ufffd"))).toBe("replacement");
    expect(store.listKeys({ prefix: "x" })).toEqual(["x\ufffd"]);
    await store.close();
  });

  it("refuses a listing limit that is not a whole number (NaN listed one key)", async () => {
    const store = await open(tempDir());
    for (const key of ["a", "b", "c"]) await store.set(key, "x");
    for (const limit of [Number.NaN, 1.5, -1, Number.NEGATIVE_INFINITY])
      expect(() => store.listKeys({ limit })).toThrow(RangeError);
    expect(store.listKeys({ limit: Number.POSITIVE_INFINITY })).toEqual(["a", "b", "c"]);
    expect(store.listKeys({ limit: 2 })).toEqual(["a", "b"]);
    await store.close();
  });

  it("rejects oversized values without storing anything", async () => {
    const store = await open(tempDir(), { maxValueBytes: 10 });
    await expect(store.set("k", new Uint8Array(11))).rejects.toBeInstanceOf(ValueTooLargeError);
    expect(store.has("k")).toBe(false);
    await store.set("k", new Uint8Array(10));
    await store.close();
  });

  it("rejects use after close", async () => {
    const store = await open(tempDir());
    await store.set("k", "v");
    await store.close();
    await store.close();
    expect(() => store.get("k")).toThrow(StoreClosedError);
    expect(() => store.listKeys()).toThrow(StoreClosedError);
    await expect(store.set("k", "v")).rejects.toBeInstanceOf(StoreClosedError);
    await expect(store.delete("k")).rejects.toBeInstanceOf(StoreClosedError);
  });

  it("flushes writes still queued when close() is called", async () => {
    const dir = tempDir();
    const store = await open(dir);
    const writes = Array.from({ length: 50 }, (_, i) => store.set(testKey(i), "v"));
    await store.close();
    await Promise.all(writes);
    const reopened = await open(dir);
    expect(reopened.stats().numKeys).toBe(50);
    await reopened.close();
  });

  it("rejects invalid options with a clear message", async () => {
    await expect(open(tempDir(), { sync: "sometimes" as "always" })).rejects.toBeInstanceOf(
      InvalidOptionError,
    );
    await expect(open(tempDir(), { maxKeyBytes: 70_000 })).rejects.toThrow("maxKeyBytes must be an integer");
  });

  it("caps maxValueBytes so that a record of the longest key and metadata still has a 32-bit length", async () => {
    // Header and CRC, a 65,535-byte key, a metadata block of 2 + 65,535 bytes, then the value.
    const largest = 2 ** 32 - 1 - 15 - 65_535 - (2 + 65_535);
    expect(recordLength(65_535, largest, 2 + 65_535)).toBe(2 ** 32 - 1);
    await expect(open(tempDir(), { maxValueBytes: largest + 1 })).rejects.toThrow(
      "maxValueBytes must be an integer",
    );
    const store = await open(tempDir(), { maxValueBytes: largest });
    await store.close();
  });
});
