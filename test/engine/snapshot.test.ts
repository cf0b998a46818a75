import { describe, expect, it } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FileSystem, realFileSystem } from "../../src/engine/file-system.ts";
import { KeyIndex } from "../../src/engine/index/key-index.ts";
import { segmentFileName } from "../../src/engine/segment.ts";
import { decodeSnapshot, encodeSnapshot, readSnapshotFromFile } from "../../src/engine/snapshot.ts";
import { KVStore, type KVStoreOptions, silentLogger, verify } from "../../src/index.ts";
import { asLegacySnapshot } from "../fixtures/legacy-snapshot.ts";
import {
  crashCopy,
  dump,
  dumpWithMetadata,
  recordingLogger,
  seededValue,
  tempDir,
  testKey,
} from "../helpers.ts";

/**
 * The real file system, but each background fdatasync of an index.snapshot.tmp first runs
 * `beforeSync` (which may hold it back, or throw to fail it).
 */
function withSnapshotSyncs(beforeSync: () => Promise<void>): FileSystem {
  const snapshotFds = new Set<number>();
  return {
    ...realFileSystem,
    open(path, mode) {
      const fd = realFileSystem.open(path, mode);
      if (path.endsWith(".snapshot.tmp")) snapshotFds.add(fd);
      return fd;
    },
    async datasyncInBackground(fd) {
      if (snapshotFds.has(fd)) await beforeSync();
      return realFileSystem.datasyncInBackground(fd);
    },
  };
}

const options: KVStoreOptions = { logger: silentLogger, maxSegmentBytes: 8192, autoCompaction: false };

/** A store with overwrites and deletes across several segments. */
async function populated(dir: string): Promise<KVStore> {
  const store = await KVStore.open(dir, options);
  for (let i = 0; i < 300; i++) await store.set(testKey(i % 120), seededValue(i, 40));
  for (let i = 0; i < 120; i += 7) await store.delete(testKey(i));
  return store;
}

/** What a full replay gives for `dir`: the reference every snapshot path must match. */
async function replayDump(dir: string): Promise<Map<string, string>> {
  const copy = crashCopy(dir);
  rmSync(join(copy, "index.snapshot"), { force: true });
  const store = await KVStore.open(copy, options);
  expect(store.stats().snapshotOnOpen).toBe("absent");
  const all = dump(store);
  await store.close();
  return all;
}

describe("index snapshot", () => {
  it("is saved by close() and used by the next open, which replays nothing", async () => {
    const dir = tempDir();
    const store = await populated(dir);
    const before = dump(store);
    await store.close();
    expect(existsSync(join(dir, "index.snapshot"))).toBe(true);
    const reopened = await KVStore.open(dir, options);
    expect(reopened.stats().snapshotOnOpen).toBe("loaded");
    expect(reopened.stats().replayedBytesOnOpen).toBe(0);
    expect(dump(reopened)).toEqual(before);
    await reopened.close();
    expect(await replayDump(dir)).toEqual(before);
  });

  it("is used even when older than the data: the bytes after it are replayed", async () => {
    const dir = tempDir();
    const store = await populated(dir);
    await store.saveSnapshot();
    for (let i = 0; i < 200; i++) await store.set(testKey(i), seededValue(i + 1000, 30));
    for (let i = 0; i < 200; i += 3) await store.delete(testKey(i));
    const expected = dump(store);
    const crashed = crashCopy(dir);
    await store.close();
    const reopened = await KVStore.open(crashed, options);
    const stats = reopened.stats();
    expect(stats.snapshotOnOpen).toBe("loaded");
    expect(stats.replayedBytesOnOpen).toBeGreaterThan(0);
    expect(stats.replayedBytesOnOpen).toBeLessThan(stats.totalBytes);
    expect(dump(reopened)).toEqual(expected);
    await reopened.close();
  });

  /** A store reopened after `bit` of byte `at(length)` of its snapshot was flipped: the snapshot is ignored. */
  async function reopenedWithSnapshotDamage(at: (length: number) => number, bit: number, logged: string) {
    const dir = tempDir();
    const store = await populated(dir);
    const expected = dump(store);
    await store.close();
    const path = join(dir, "index.snapshot");
    const bytes = readFileSync(path);
    const where = at(bytes.length);
    bytes[where] = (bytes[where] as number) ^ bit;
    writeFileSync(path, bytes);
    const logger = recordingLogger();
    const reopened = await KVStore.open(dir, { ...options, logger });
    expect(reopened.stats().snapshotOnOpen).toBe("ignored");
    expect(logger.lines.join("\n")).toContain(logged);
    expect(dump(reopened)).toEqual(expected);
    await reopened.close();
  }

  it("is ignored with a log line when damaged, and a full replay gives the same data", async () => {
    await reopenedWithSnapshotDamage(() => 40, 0xff, "checksum mismatch");
  });

  it("is ignored when a byte of its key index is damaged (the index's own CRC)", async () => {
    // The last byte before the index's CRC: past the header and its checksum.
    await reopenedWithSnapshotDamage((length) => length - 5, 0x01, "CRC-32 does not match");
  });

  it("is read from its file as from its bytes, and refused there with any byte changed or cut", () => {
    const index = KeyIndex.create({ seed: 3 });
    for (let i = 0; i < 20; i++)
      index.set(testKey(i), { segmentId: 1 + (i % 2), offset: i * 40, length: 40 });
    index.list(); // a sorted run as well as the recent one
    index.set("last", { segmentId: 2, offset: 800, length: 40, metaBytes: 3, expiresAt: 1_900_000_000_000 });
    const segments = [
      { id: 1, coveredLength: 2000, tailCrc: 5 },
      { id: 2, coveredLength: 2000, tailCrc: 6 },
    ];
    const bytes = Buffer.concat(encodeSnapshot(segments, index));
    const dir = tempDir();
    const path = join(dir, "index.snapshot");
    expect(readSnapshotFromFile(realFileSystem, dir)).toBeNull();
    writeFileSync(path, bytes);
    const decoded = readSnapshotFromFile(realFileSystem, dir);
    if (decoded === null || typeof decoded === "string") throw new Error(String(decoded));
    expect(decoded.segments).toEqual(segments);
    expect(decoded.index.list()).toEqual(index.list());
    expect({ ...decoded.index.get("last") }).toEqual({ ...index.get("last") });
    // The loaded index takes writes like any other.
    decoded.index.set("after load", { segmentId: 2, offset: 900, length: 40 });
    expect(decoded.index.list()).toEqual([...index.list(), "after load"].sort());
    for (let at = 0; at < bytes.length; at++) {
      const damaged = Buffer.from(bytes);
      damaged[at] = (damaged[at] as number) ^ 0x80;
      writeFileSync(path, damaged);
      expect(typeof readSnapshotFromFile(realFileSystem, dir)).toBe("string");
    }
    for (const length of [0, 10, 30, bytes.length - 100, bytes.length - 1]) {
      writeFileSync(path, bytes.subarray(0, length));
      expect(typeof readSnapshotFromFile(realFileSystem, dir)).toBe("string");
    }
  });

  it("is refused when its index points into a segment its table does not cover", () => {
    const index = KeyIndex.create();
    index.set("a", { segmentId: 1, offset: 0, length: 40 });
    const segments = [{ id: 1, coveredLength: 40, tailCrc: 0 }];
    const decoded = decodeSnapshot(Buffer.concat(encodeSnapshot(segments, index)));
    if (typeof decoded === "string") throw new Error(decoded);
    expect(decoded.index.get("a")?.length).toBe(40);
    index.set("b", { segmentId: 2, offset: 0, length: 10 });
    expect(decodeSnapshot(Buffer.concat(encodeSnapshot(segments, index)))).toBe(
      "the index points outside the segments it covers",
    );
    index.delete("b");
    index.set("c", { segmentId: 1, offset: 40, length: 10 });
    expect(decodeSnapshot(Buffer.concat(encodeSnapshot(segments, index)))).toBe(
      "the index points outside the segments it covers",
    );
  });

  it("round-trips keys, metadata and live bytes through the KVINDEX3 format", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, options);
    const largest = new Uint8Array(65_535).fill(7);
    await store.set("plain", "p");
    await store.set("empty-metadata", "e", { metadata: new Uint8Array(0) });
    await store.set("largest-metadata", "l", { metadata: largest });
    await store.set("ключ/🙂", "u", { metadata: Buffer.from("m") });
    for (let i = 0; i < 200; i++)
      await store.set(
        testKey(i % 70),
        seededValue(i, 30),
        i % 3 === 0 ? { metadata: Buffer.from(`m${i}`) } : {},
      );
    await store.delete(testKey(5));
    const before = dumpWithMetadata(store);
    const liveBefore = store.segmentStats().map(({ id, liveBytes }) => ({ id, liveBytes }));
    await store.close();
    const bytes = readFileSync(join(dir, "index.snapshot"));
    expect(bytes.subarray(0, 8).toString()).toBe("KVINDEX3");
    const decoded = decodeSnapshot(bytes);
    if (typeof decoded === "string") throw new Error(decoded);
    expect(decoded.index.size).toBe(before.size);

    const reopened = await KVStore.open(dir, options);
    expect(reopened.stats().snapshotOnOpen).toBe("loaded");
    expect(reopened.stats().replayedBytesOnOpen).toBe(0);
    expect(dumpWithMetadata(reopened)).toEqual(before);
    expect(reopened.getMetadata("empty-metadata")).toEqual(new Uint8Array(0));
    expect(reopened.getMetadata("largest-metadata")).toEqual(largest);
    expect(reopened.getMetadata("plain")).toBeNull();
    expect(reopened.valueLength("largest-metadata")).toBe(1);
    const live = reopened.segmentStats().map(({ id, liveBytes }) => ({ id, liveBytes }));
    expect(live).toEqual(liveBefore);
    await reopened.close();
    expect(verify(dir).snapshot.status).toBe("ok");
  });

  it("loads a version 2 snapshot (KVINDEX2), its repeated entries replacing the first ones", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, options);
    for (let i = 0; i < 200; i++)
      await store.set(
        testKey(i % 70),
        seededValue(i, 30),
        i % 2 === 0 ? { metadata: Buffer.from(`m${i}`) } : {},
      );
    const before = dumpWithMetadata(store);
    const liveBytes = store.stats().liveBytes;
    await store.close();
    const path = join(dir, "index.snapshot");
    // The first section points half the keys at the first record of segment 1; the repeats
    // put them back where they are.
    const firstRecord = { segmentId: 1, offset: 0, length: 30 + 16 + testKey(0).length };
    writeFileSync(path, asLegacySnapshot(readFileSync(path), 2, { stale: firstRecord }));
    expect(readFileSync(path).subarray(0, 8).toString()).toBe("KVINDEX2");
    expect(verify(dir).snapshot.status).toBe("ok");

    const reopened = await KVStore.open(dir, options);
    expect(reopened.stats().snapshotOnOpen).toBe("loaded");
    expect(reopened.stats().replayedBytesOnOpen).toBe(0);
    expect(dumpWithMetadata(reopened)).toEqual(before);
    expect(reopened.stats().liveBytes).toBe(liveBytes);
    await reopened.close();
    // Closing saved the current format.
    expect(readFileSync(path).subarray(0, 8).toString()).toBe("KVINDEX3");
  });

  it("is ignored when a segment it covers was cut short or changed", async () => {
    for (const damage of ["truncate", "rewrite"] as const) {
      const dir = tempDir();
      const store = await populated(dir);
      await store.close();
      const first = join(dir, segmentFileName(1));
      if (damage === "truncate") truncateSync(first, 100);
      else {
        const bytes = readFileSync(first);
        bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 1;
        writeFileSync(first, bytes);
      }
      const reopened = await KVStore.open(dir, options);
      expect(reopened.stats().snapshotOnOpen).toBe("ignored");
      const replayed = dump(reopened);
      await reopened.close();
      expect(await replayDump(dir)).toEqual(replayed);
    }
  });

  it("is ignored when it misses a segment older than the newest it covers", async () => {
    const dir = tempDir();
    const store = await populated(dir);
    await store.saveSnapshot();
    const stale = readFileSync(join(dir, "index.snapshot"));
    await store.compact();
    const expected = dump(store);
    await store.close();
    // Put back the snapshot from before the compaction: it names segments that are gone.
    writeFileSync(join(dir, "index.snapshot"), stale);
    const reopened = await KVStore.open(dir, options);
    expect(reopened.stats().snapshotOnOpen).toBe("ignored");
    expect(dump(reopened)).toEqual(expected);
    await reopened.close();
  });

  it("survives a crash while it is being written: the old one stays whole", async () => {
    const dir = tempDir();
    let crash = false;
    let crashed = "";
    const store = await KVStore.open(dir, {
      ...options,
      faultInjector: (point) => {
        if (!crash || point !== "snapshot:written") return;
        // What a crash here leaves: the temp file written, not renamed yet.
        crashed = crashCopy(dir);
        throw new Error("crash before rename");
      },
    });
    await store.set("a", "1");
    await store.saveSnapshot();
    await store.set("b", "2");
    crash = true;
    await expect(store.saveSnapshot()).rejects.toThrow("crash before rename");
    crash = false;
    // A failed snapshot does not leave its temp file to take space from the data.
    expect(existsSync(join(dir, "index.snapshot.tmp"))).toBe(false);
    await store.close();
    expect(existsSync(join(crashed, "index.snapshot.tmp"))).toBe(true);
    const reopened = await KVStore.open(crashed, options);
    expect(reopened.stats().snapshotOnOpen).toBe("loaded");
    expect(reopened.listKeys()).toEqual(["a", "b"]);
    expect(existsSync(join(crashed, "index.snapshot.tmp"))).toBe(false);
    await reopened.close();
  });

  it("is saved in the background after snapshotEveryBytes of writes", async () => {
    const store = await KVStore.open(tempDir(), { ...options, snapshotEveryBytes: 4096 });
    for (let i = 0; i < 100; i++) await store.set(testKey(i), seededValue(i, 100));
    while (store.stats().snapshotsSaved === 0) await Bun.sleep(1);
    await store.close();
  });

  it("saves the index as it was when it started, while writes go on during a long save", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, { ...options, sync: "never", maxSegmentBytes: 1024 * 1024 });
    const keys = 100_000;
    for (let i = 0; i < keys; i += 1000) {
      await Promise.all(
        Array.from({ length: 1000 }, (_, j) => store.set(testKey(i + j), seededValue(i + j, 8))),
      );
    }
    const saving = store.saveSnapshot();
    const atStart = dump(store);
    // Overwrite, delete and add keys on every event-loop turn until the save ends.
    let turn = 0;
    let saved = false;
    saving.then(() => {
      saved = true;
    });
    while (!saved) {
      await new Promise((resolve) => setImmediate(resolve));
      turn++;
      await store.set(testKey(turn * 7), seededValue(-turn, 8));
      await store.delete(testKey(turn * 7 + 1));
      await store.set(`new-${turn}`, "x");
    }
    await saving;
    expect(turn).toBeGreaterThanOrEqual(1);
    const latest = dump(store);
    const crashed = crashCopy(dir);
    await store.close();

    // Alone, with every byte written after it cut off, the snapshot gives the state when it
    // started...
    const snapshot = decodeSnapshot(readFileSync(join(crashed, "index.snapshot")));
    if (typeof snapshot === "string") throw new Error(snapshot);
    expect(snapshot.index.size).toBe(atStart.size);
    const alone = crashCopy(crashed);
    for (const name of readdirSync(alone).filter((f) => f.endsWith(".dat"))) {
      const covered = snapshot.segments.find((s) => segmentFileName(s.id) === name);
      if (covered === undefined) rmSync(join(alone, name));
      else truncateSync(join(alone, name), covered.coveredLength);
    }
    let reopened = await KVStore.open(alone, options);
    expect(reopened.stats().snapshotOnOpen).toBe("loaded");
    expect(reopened.stats().replayedBytesOnOpen).toBe(0);
    expect(dump(reopened)).toEqual(atStart);
    await reopened.close();
    // ...and with what followed it, the latest state.
    reopened = await KVStore.open(crashed, options);
    expect(reopened.stats().snapshotOnOpen).toBe("loaded");
    expect(dump(reopened)).toEqual(latest);
    await reopened.close();
  });

  it("fails, keeping the old one, when an fdatasync on the way fails though the last one succeeds", async () => {
    // A snapshot of several MiB is written a chunk at a time with fdatasyncs as it goes. Linux
    // reports a lost write-back once: the last fdatasync would succeed, so the first error must
    // be kept.
    const dir = tempDir();
    let failNext = false;
    const fileSystem = withSnapshotSyncs(async () => {
      if (!failNext) return;
      failNext = false;
      throw Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
    });
    const store = await KVStore.open(dir, { ...options, fileSystem, maxSegmentBytes: 64 * 1024 * 1024 });
    try {
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 100_000; i++) writes.push(store.set(testKey(i), seededValue(i, 8)));
      await Promise.all(writes);
      await store.saveSnapshot();
      const saved = readFileSync(join(dir, "index.snapshot"));
      expect(saved.length).toBeGreaterThan(2 * 1024 * 1024);
      await store.set("one more", "value");
      failNext = true;
      await expect(store.saveSnapshot()).rejects.toThrow("EIO");
      expect(failNext).toBe(false);
      expect(readFileSync(join(dir, "index.snapshot"))).toEqual(saved);
      expect(readdirSync(dir).filter((name) => name.endsWith(".tmp"))).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("handles keys of every size up to the limit and multi-byte keys", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, { ...options, maxKeyBytes: 65_535 });
    const keys = ["k", "ключ/🙂", "x".repeat(65_535), "é".repeat(1000)];
    for (const [i, key] of keys.entries()) await store.set(key, seededValue(i, 10));
    await store.close();
    const reopened = await KVStore.open(dir, { ...options, maxKeyBytes: 65_535 });
    expect(reopened.stats().snapshotOnOpen).toBe("loaded");
    for (const [i, key] of keys.entries()) expect(reopened.get(key)).toEqual(seededValue(i, 10));
    await reopened.close();
  });
});

describe("background snapshots", () => {
  it("do not pile up while one is being written: writes past the threshold join the next one", async () => {
    // The first snapshot's fdatasync is held until the writes below are done. Each of them
    // crosses snapshotEveryBytes again; before the fix, each queued one more full snapshot (at
    // 10M keys, closing the store then wrote snapshot after snapshot for minutes).
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const fileSystem = withSnapshotSyncs(() => held);
    const store = await KVStore.open(tempDir(), {
      fileSystem,
      snapshotEveryBytes: 4096,
      autoCompaction: false,
      logger: silentLogger,
    });
    try {
      for (let i = 0; i < 20; i++) {
        await store.set(`key-${i}`, new Uint8Array(8192));
        await new Promise((resolve) => setImmediate(resolve));
      }
      release();
      await store.saveSnapshot();
      // The held one, at most one background snapshot queued behind it, and the one asked for.
      expect(store.stats().snapshotsSaved).toBeLessThanOrEqual(3);
    } finally {
      release();
      await store.close();
    }
  });
});
