// The engine under disk faults injected through its file layer: failed fsyncs, full disks,
// failed rollbacks, failed compaction steps. Each test is named after the rule it checks
// (README, "Durability and failures").
import { describe, expect, it } from "bun:test";
import { appendFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { MAGIC_0, MAGIC_1, Op } from "../../src/engine/record.ts";
import {
  DiskFullError,
  KVStore,
  type KVStoreOptions,
  StorageFailedError,
  silentLogger,
} from "../../src/index.ts";
import { type FaultRule, FaultyFileSystem, failing } from "../fault/faulty-file-system.ts";
import { directoryLockIsFree } from "../fault/lock-probe.ts";
import { crashCopy, dump, recordingLogger, seededValue, tempDir, testKey, text } from "../helpers.ts";

const baseOptions: KVStoreOptions = {
  logger: silentLogger,
  maxSegmentBytes: 4096,
  autoCompaction: false,
  snapshotEveryBytes: 0,
  reserveBytes: 64 * 1024,
};

async function openFaulty(options: KVStoreOptions = {}) {
  const dir = tempDir();
  const fs = new FaultyFileSystem(dir);
  const store = await KVStore.open(dir, { ...baseOptions, ...options, fileSystem: fs });
  return { dir, fs, store };
}

const isSegment = (path: string) => /segment-\d+\.dat$/.test(path);
const isOutput = (path: string) => path.endsWith(".compacting");

async function reopen(dir: string): Promise<Map<string, string>> {
  const store = await KVStore.open(dir, { ...baseOptions });
  const all = dump(store);
  await store.close();
  return all;
}

const hex = (value: string) => Buffer.from(value).toString("hex");

describe("fsync discipline", () => {
  it("a failed fdatasync rejects its batch and latches the store: writes refused, reads served", async () => {
    const { fs, store } = await openFaulty();
    await store.set("kept", "old");
    fs.rule = failing("EIO", (op, path) => op === "datasync" && isSegment(path));
    const results = await Promise.allSettled([store.set("kept", "new"), store.set("fresh", "x")]);
    for (const result of results) {
      expect(result.status).toBe("rejected");
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(StorageFailedError);
    }
    // The fsync would now succeed: it must not be trusted, nor may any later write be taken.
    await expect(store.set("later", "y")).rejects.toBeInstanceOf(StorageFailedError);
    await expect(store.delete("kept")).rejects.toBeInstanceOf(StorageFailedError);
    await expect(store.compact()).rejects.toBeInstanceOf(StorageFailedError);
    await expect(store.saveSnapshot()).rejects.toBeInstanceOf(StorageFailedError);
    expect(text(store.get("kept"))).toBe("old");
    expect(store.has("fresh")).toBe(false);
    expect(store.stats().storageFailure).toContain("fdatasync of");
    expect(store.stats().storageFailure).toContain("EIO");
    await store.close();
  });

  it("the failed state names its cause and is logged once as an error", async () => {
    const logger = recordingLogger();
    const { fs, store } = await openFaulty({ logger });
    fs.rule = failing("EIO", (op, path) => op === "datasync" && isSegment(path));
    const error = await store.set("k", "v").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageFailedError);
    expect((error as StorageFailedError).code).toBe("STORAGE_FAILED");
    expect((error as StorageFailedError).message).toContain("restart");
    await store.set("k2", "v").catch(() => {});
    expect(logger.lines.filter((line) => line.includes("stopped accepting writes"))).toHaveLength(1);
    await store.close();
  });

  it("sync interval: a failed background fsync latches the store instead of being only logged", async () => {
    const { fs, store } = await openFaulty({ sync: "interval", syncIntervalMs: 5 });
    fs.rule = failing("EIO", (op, path) => op === "datasync" && isSegment(path));
    await store.set("a", "1");
    while (store.stats().storageFailure === null) await Bun.sleep(5);
    await expect(store.set("b", "2")).rejects.toBeInstanceOf(StorageFailedError);
    expect(text(store.get("a"))).toBe("1");
    await store.close();
  });

  it("a failed fsync of the directory after a new segment latches the store", async () => {
    const { fs, store } = await openFaulty();
    fs.rule = failing("EIO", (op) => op === "syncDirectory");
    // 4 KiB segments: these writes start a new segment file, whose name must be made durable.
    let failure: unknown = null;
    for (let i = 0; i < 100 && failure === null; i++) {
      await store.set(testKey(i), seededValue(i, 200)).catch((error: unknown) => {
        failure = error;
      });
    }
    expect(failure).toBeInstanceOf(StorageFailedError);
    expect(String(failure)).toContain("fsync of the directory");
    await store.close();
  });

  it("a directory fsync that finds no file descriptor free refuses its batch without latching", async () => {
    // open(2) of the directory failed: no fsync ran, so nothing on disk is in doubt.
    const { dir, fs, store } = await openFaulty();
    fs.rule = failing("EMFILE", (op) => op === "syncDirectory");
    const acknowledged = new Map<string, string>();
    let failure: unknown = null;
    for (let i = 0; i < 100 && failure === null; i++) {
      const value = seededValue(i, 200);
      await store.set(testKey(i), value).then(
        () => acknowledged.set(testKey(i), Buffer.from(value).toString("hex")),
        (error: unknown) => {
          failure = error;
        },
      );
    }
    expect(failure).not.toBeInstanceOf(StorageFailedError);
    expect(String(failure)).toContain("EMFILE");
    expect(store.storageFailure).toBeNull();
    const syncsBefore = fs.log.filter((call) => call.op === "syncDirectory").length;
    await store.set("after", "1");
    acknowledged.set("after", hex("1"));
    // The new segment's name is still to be made durable: the next batch does it.
    expect(fs.log.filter((call) => call.op === "syncDirectory").length).toBe(syncsBefore + 1);
    await store.close();
    expect(await reopen(dir)).toEqual(acknowledged);
  });

  it("a restart after the failed state runs recovery: acknowledged writes there, rejected ones not", async () => {
    const { dir, fs, store } = await openFaulty();
    await store.set("acked", "1");
    fs.rule = failing("EIO", (op, path) => op === "datasync" && isSegment(path));
    await expect(store.set("rejected", "2")).rejects.toBeInstanceOf(StorageFailedError);
    await store.close();
    expect(await reopen(dir)).toEqual(new Map([["acked", hex("1")]]));
  });
});

describe("a delete that finds its key gone answers only for what is durable", () => {
  it("gone only because the open batch deleted it: the answer waits for that batch, and shares its failure", async () => {
    const { dir, fs, store } = await openFaulty();
    await store.set("a", "1");
    fs.rule = failing("EIO", (op, path) => op === "datasync" && isSegment(path));
    const results = await Promise.allSettled([store.delete("a"), store.delete("a")]);
    expect(results.map((result) => result.status)).toEqual(["rejected", "rejected"]);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(StorageFailedError);
    expect(text(store.get("a"))).toBe("1");
    await store.close();
    expect(await reopen(dir)).toEqual(new Map([["a", hex("1")]]));
  });

  it("gone, but the open batch that changed it fails: the answer fails with it", async () => {
    const { dir, fs, store } = await openFaulty();
    const second = (path: string) => path.endsWith("segment-0000000002.dat");
    // The batch's part in the second segment cannot be written, nor cut off, nor noted: the
    // part in the first stays (a prefix of the batch, see "double faults" below).
    fs.rule = (call) => {
      if ((call.op === "write" || call.op === "truncate") && second(call.path)) return "EIO";
      return call.op === "open" && call.path.endsWith(".rejected.tmp") ? "EIO" : null;
    };
    const results = await Promise.allSettled([
      store.set("d", "1"),
      store.set("big", seededValue(1, 4070)),
      store.delete("d"),
      store.delete("d"),
    ]);
    expect(results.map((result) => result.status)).toEqual(["rejected", "rejected", "rejected", "rejected"]);
    fs.rule = null;
    await store.close();
    // "d" is back after the restart: no delete of it may have been acknowledged.
    expect(await reopen(dir)).toEqual(new Map([["d", hex("1")]]));
  });

  it("gone whatever the open batch does: false, though that batch fails", async () => {
    const { fs, store } = await openFaulty();
    fs.rule = failing("EIO", (op, path) => op === "datasync" && isSegment(path));
    const results = await Promise.allSettled([store.set("b", "2"), store.delete("never-set")]);
    expect(results.map((result) => result.status)).toEqual(["rejected", "fulfilled"]);
    expect((results[1] as PromiseFulfilledResult<boolean>).value).toBe(false);
    await store.close();
  });

  it("without a fault: the first delete of a batch says true, the second false", async () => {
    const { store } = await openFaulty();
    await store.set("a", "1");
    expect(await Promise.all([store.delete("a"), store.delete("a")])).toEqual([true, false]);
    await store.close();
  });
});

describe("double faults: the rollback of a failed batch fails too", () => {
  it("a rejected write and a rejected delete never reappear after a restart", async () => {
    const { dir, fs, store } = await openFaulty();
    await store.set("doomed", "still here");
    await store.set("stable", "old");
    // fdatasync fails, and so does the ftruncate that would cut the batch off the file.
    fs.rule = (call) => {
      if (call.op === "datasync" && isSegment(call.path)) return "EIO";
      if (call.op === "truncate" && isSegment(call.path)) return "EIO";
      return null;
    };
    const results = await Promise.allSettled([store.set("stable", "rejected"), store.delete("doomed")]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    // Nothing more may be appended behind the uncut, rejected bytes.
    await expect(store.set("after", "x")).rejects.toBeInstanceOf(StorageFailedError);
    // What a crash of the process now would leave (the page cache survives it).
    const crashed = crashCopy(dir);
    fs.rule = null;
    await store.close();
    const expected = new Map([
      ["doomed", hex("still here")],
      ["stable", hex("old")],
    ]);
    expect(await reopen(crashed)).toEqual(expected);
    expect(await reopen(dir)).toEqual(expected);
  });

  // A batch that fills its segment goes on in the next one. What a failed undo leaves of it must
  // be a prefix (in the order its writes were made): never a later write without an earlier one.
  const big = seededValue(1, 4070);
  const prefixesOfBatch = [
    new Map([["a", hex("1")]]),
    new Map(),
    new Map([["big", Buffer.from(big).toString("hex")]]),
  ];

  it("a crash while undoing a batch that spans two segments leaves a prefix of it", async () => {
    const { dir, fs, store } = await openFaulty();
    await store.set("a", "1");
    let died = false;
    fs.rule = (call) => {
      if (died) return "EIO";
      // The process dies right after the first cut of the undo.
      if (call.op === "truncate") died = true;
      return call.op === "datasync" && isSegment(call.path) ? "EIO" : null;
    };
    const results = await Promise.allSettled([store.delete("a"), store.set("big", big)]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(store.stats().numSegments).toBe(2);
    const crashed = crashCopy(dir);
    await store.close().catch(() => {});
    fs.closeAll();
    expect(prefixesOfBatch).toContainEqual(await reopen(crashed));
  });

  it("an undo whose cut fails in the newer segment leaves the older one uncut", async () => {
    const { dir, fs, store } = await openFaulty();
    await store.set("a", "1");
    let syncs = 0;
    fs.rule = (call) => {
      if (call.op === "datasync" && isSegment(call.path) && ++syncs === 1) return "EIO";
      if (call.op === "truncate" && call.path.endsWith("segment-0000000002.dat")) return "EIO";
      return call.op === "open" && call.path.endsWith(".rejected.tmp") ? "EIO" : null;
    };
    const results = await Promise.allSettled([store.delete("a"), store.set("big", big)]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    fs.rule = null;
    await store.close();
    expect(prefixesOfBatch).toContainEqual(await reopen(dir));
  });

  it("an undo whose cut fails in the newer segment notes both, and recovery cuts the whole batch", async () => {
    const { dir, fs, store } = await openFaulty();
    await store.set("a", "1");
    let syncs = 0;
    fs.rule = (call) => {
      if (call.op === "datasync" && isSegment(call.path) && ++syncs === 1) return "EIO";
      return call.op === "truncate" && call.path.endsWith("segment-0000000002.dat") ? "EIO" : null;
    };
    await Promise.allSettled([store.delete("a"), store.set("big", big)]);
    expect(
      readdirSync(dir)
        .filter((name) => name.endsWith(".rejected"))
        .sort(),
    ).toEqual(["segment-0000000001.dat.rejected", "segment-0000000002.dat.rejected"]);
    fs.rule = null;
    await store.close();
    expect(await reopen(dir)).toEqual(new Map([["a", hex("1")]]));
  });

  it("a rejected-tail note is written only when the cut fails, and recovery removes it", async () => {
    const { dir, fs, store } = await openFaulty();
    await store.set("a", "1");
    fs.rule = (call) =>
      (call.op === "datasync" || call.op === "truncate") && isSegment(call.path) ? "EIO" : null;
    await store.set("a", "2").catch(() => {});
    expect(readdirSync(dir).filter((name) => name.endsWith(".rejected"))).toHaveLength(1);
    fs.rule = null;
    await store.close();
    expect(await reopen(dir)).toEqual(new Map([["a", hex("1")]]));
    expect(readdirSync(dir).filter((name) => name.includes(".rejected"))).toEqual([]);
  });
});

describe("full disk", () => {
  const diskFull = (op: string, path: string) => op === "write" && isSegment(path);

  it("a write that finds the disk full is refused with DiskFullError, undone, and nothing latches", async () => {
    const { dir, fs, store } = await openFaulty();
    await store.set("a", "1");
    fs.rule = failing("ENOSPC", diskFull);
    await expect(store.set("b", "2")).rejects.toBeInstanceOf(DiskFullError);
    expect(store.has("b")).toBe(false);
    expect(store.stats().storageFailure).toBeNull();
    expect(text(store.get("a"))).toBe("1");
    await store.close();
    expect(await reopen(dir)).toEqual(new Map([["a", hex("1")]]));
  });

  it("a read of a value still in the write buffer never fails because its write does", async () => {
    const { fs, store } = await openFaulty();
    await store.set("old", "kept");
    fs.rule = failing("ENOSPC", diskFull);
    const pending = store.set("fresh", seededValue(1, 3000));
    // Opening the value flushes its batch through the group commit, which undoes it.
    expect(store.openValue("fresh")).toBeNull();
    await expect(pending).rejects.toBeInstanceOf(DiskFullError);
    const old = store.openValue("old");
    expect(old?.length).toBe(4);
    old?.close();
    expect(text(store.get("old"))).toBe("kept");
    await store.close();
  });

  it("gives up the space reserve, refuses new values until space is back, and lets deletes through", async () => {
    const { dir, fs, store } = await openFaulty();
    expect(readdirSync(dir)).toContain("space.reserve");
    await store.set("a", "1");
    await store.set("b", "2");
    fs.rule = failing("ENOSPC", diskFull);
    await expect(store.set("c", "3")).rejects.toBeInstanceOf(DiskFullError);
    expect(readdirSync(dir)).not.toContain("space.reserve");
    expect(store.stats().diskFull).toBe(true);
    fs.freeSpace = 1000;
    await expect(store.set("c", "3")).rejects.toThrow("full");
    expect(await store.delete("a")).toBe(true);
    fs.freeSpace = null;
    await store.set("c", "3");
    expect(store.stats().diskFull).toBe(false);
    expect(readdirSync(dir)).toContain("space.reserve");
    await store.close();
    expect(await reopen(dir)).toEqual(
      new Map([
        ["b", hex("2")],
        ["c", hex("3")],
      ]),
    );
  });

  it("a write that needs a new segment file on a full disk is refused with DiskFullError", async () => {
    const { fs, store } = await openFaulty();
    fs.rule = (call) => (call.op === "open" && isSegment(call.path) ? "ENOSPC" : null);
    let refused: unknown = null;
    // 4 KiB segments: one of these writes needs a new segment file.
    for (let i = 0; i < 100 && refused === null; i++) {
      await store.set(testKey(i), seededValue(i, 200)).catch((error: unknown) => {
        refused = error;
      });
    }
    expect(refused).toBeInstanceOf(DiskFullError);
    expect(store.stats().storageFailure).toBeNull();
    fs.rule = null;
    await store.set("after", "room again");
    await store.close();
  });

  it("a snapshot that finds the disk full is refused with DiskFullError, even when its temp file cannot be removed", async () => {
    const { fs, store } = await openFaulty();
    await store.set("a", "1");
    fs.rule = (call) => {
      if (!call.path.endsWith("index.snapshot.tmp")) return null;
      return call.op === "write" ? "ENOSPC" : call.op === "remove" ? "EIO" : null;
    };
    await expect(store.saveSnapshot()).rejects.toBeInstanceOf(DiskFullError);
    fs.rule = null;
    await store.close();
  });

  it("opens on a disk with no room for the space reserve", async () => {
    const dir = tempDir();
    const seed = await KVStore.open(dir, { ...baseOptions, reserveBytes: 0 });
    await seed.set("a", "1");
    await seed.close();
    const fs = new FaultyFileSystem(dir);
    fs.rule = (call) => (call.op === "write" && call.path.endsWith("space.reserve") ? "ENOSPC" : null);
    const logger = recordingLogger();
    const store = await KVStore.open(dir, { ...baseOptions, fileSystem: fs, logger });
    expect(text(store.get("a"))).toBe("1");
    expect(readdirSync(dir)).not.toContain("space.reserve");
    expect(logger.lines.some((line) => line.includes("no room for the"))).toBe(true);
    await store.close();
  });

  it("compaction refuses, saying how much it needs, when the oldest segment's live data cannot fit", async () => {
    // No preallocated zeros, which sealing the active segment would give back for the copy.
    const { fs, store } = await openFaulty({ preallocateBytes: 0 });
    for (let i = 0; i < 100; i++) await store.set(testKey(i), seededValue(i, 200));
    fs.freeSpace = 1000;
    const error = await store.compact().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DiskFullError);
    expect(String(error)).toMatch(/compaction needs about \d+ bytes free/);
    expect(store.stats().compactionFailures).toBe(1);
    fs.freeSpace = null;
    await store.set("still", "writable");
    await store.close();
  });

  it("compaction counts the active segment's preallocated zeros as room: sealing it frees them first", async () => {
    const { fs, store } = await openFaulty({ preallocateBytes: 4 * 1024 * 1024 });
    for (let i = 0; i < 100; i++) await store.set(testKey(i % 20), seededValue(i, 200));
    const before = dump(store);
    fs.freeSpace = 1000;
    await store.compact();
    expect(store.stats().compactions).toBe(1);
    expect(dump(store)).toEqual(before);
    fs.freeSpace = null;
    await store.close();
  });

  it("compaction without preallocated zeros counts the free space as it is, not less the active segment's records", async () => {
    const { fs, store } = await openFaulty({ preallocateBytes: 0, maxSegmentBytes: 4 * 1024 * 1024 });
    // 2 MiB of live records, all in the active segment; 3.5 MiB free holds their copy and the
    // 1 MiB of headroom.
    for (let i = 0; i < 20; i++) await store.set(testKey(i), seededValue(i, 100 * 1024));
    const before = dump(store);
    fs.freeSpace = 3.5 * 1024 * 1024;
    await store.compact();
    expect(store.stats()).toMatchObject({ compactions: 1, compactionFailures: 0 });
    expect(dump(store)).toEqual(before);
    fs.freeSpace = null;
    await store.close();
  });

  it("compaction on a nearly full disk rewrites only the oldest segments that fit", async () => {
    const { dir, fs, store } = await openFaulty();
    for (let i = 0; i < 200; i++) await store.set(testKey(i % 50), seededValue(i, 200));
    const before = dump(store);
    const segments = store.stats().numSegments;
    // Room for a little more than a megabyte of headroom and two segments' live bytes.
    fs.freeSpace = 1024 * 1024 + 2 * 4096 + 100;
    await store.compact();
    expect(store.stats().compactions).toBe(1);
    expect(dump(store)).toEqual(before);
    fs.freeSpace = null;
    await store.compact();
    expect(store.stats().numSegments).toBeLessThan(segments);
    await store.close();
    expect(await reopen(dir)).toEqual(before);
  });
});

describe("compaction under faults", () => {
  async function storeWithGarbage(options: KVStoreOptions = {}) {
    const opened = await openFaulty(options);
    for (let i = 0; i < 300; i++) await opened.store.set(testKey(i % 60), seededValue(i, 150));
    await opened.store.delete(testKey(3));
    return { ...opened, expected: dump(opened.store) };
  }

  for (const nth of [1, 2]) {
    it(`an fdatasync error on an output (call ${nth}) fails the compaction; inputs kept, store writable`, async () => {
      const { dir, fs, store, expected } = await storeWithGarbage();
      const segmentsBefore = readdirSync(dir).filter(isSegment).sort();
      let seen = 0;
      fs.rule = (call) =>
        call.op === "datasyncInBackground" && isOutput(call.path) && ++seen === nth ? "EIO" : null;
      await expect(store.compact()).rejects.toThrow("EIO");
      fs.rule = null;
      expect(seen).toBeGreaterThanOrEqual(nth);
      expect(store.stats().compactionFailures).toBe(1);
      expect(store.stats().storageFailure).toBeNull();
      // No output kept, every input still there (one new, empty active segment at most).
      expect(readdirSync(dir).filter(isOutput)).toEqual([]);
      for (const name of segmentsBefore) expect(readdirSync(dir)).toContain(name);
      expect(dump(store)).toEqual(expected);
      await store.set("after", "ok");
      await store.close();
      expect(await reopen(dir)).toEqual(new Map([...expected, ["after", hex("ok")]]));
    });
  }

  it("an output write that finds the disk full leaks no file, no fd and no segment per attempt", async () => {
    const { dir, fs, store, expected } = await storeWithGarbage();
    const fdsBefore = readdirSync("/proc/self/fd").length;
    const filesBefore = readdirSync(dir).length;
    fs.rule = (call) => (call.op === "write" && isOutput(call.path) ? "ENOSPC" : null);
    for (let attempt = 0; attempt < 3; attempt++) {
      await expect(store.compact()).rejects.toBeInstanceOf(DiskFullError);
    }
    expect(readdirSync(dir).filter(isOutput)).toEqual([]);
    // The first attempt seals the active segment and starts an empty one; later ones replace it.
    expect(readdirSync(dir).length).toBeLessThanOrEqual(filesBefore + 1);
    expect(readdirSync("/proc/self/fd").length).toBeLessThanOrEqual(fdsBefore + 1);
    fs.rule = null;
    await store.compact();
    expect(dump(store)).toEqual(expected);
    await store.close();
    expect(await reopen(dir)).toEqual(expected);
  });

  it("a compaction whose closing snapshot cannot be saved is done, counted done, and logs the snapshot", async () => {
    const logger = recordingLogger();
    const { dir, fs, store, expected } = await storeWithGarbage({ logger });
    fs.rule = (call) => (call.op === "open" && call.path.endsWith("index.snapshot.tmp") ? "EMFILE" : null);
    await store.compact();
    fs.rule = null;
    expect(store.stats()).toMatchObject({ compactions: 1, compactionFailures: 0, deadBytes: 0 });
    expect(logger.lines.filter((line) => line.startsWith("error:"))).toEqual([
      expect.stringMatching(/could not save the index snapshot after a compaction: .*EMFILE/),
    ]);
    expect(dump(store)).toEqual(expected);
    await store.close();
    expect(await reopen(dir)).toEqual(expected);
  });

  it("an input whose close(2) fails is still deleted: no key it holds comes back", async () => {
    const { dir, fs, store } = await openFaulty();
    await store.set("k", "old");
    await store.set("fill-1", seededValue(1, 4070));
    await store.delete("k");
    await store.set("fill-2", seededValue(2, 4070));
    // "k" in the first segment, its tombstone in the third.
    expect(store.stats().numSegments).toBe(4);
    fs.rule = failing("EIO", (op, path) => op === "close" && path.endsWith("segment-0000000001.dat"));
    await store.compact().catch(() => {});
    fs.rule = null;
    // This one drops the tombstone of "k": the record it hid must be gone from the disk by then.
    await store.compact();
    await store.close();
    expect(readdirSync(dir)).not.toContain("segment-0000000001.dat");
    expect((await reopen(dir)).has("k")).toBe(false);
  });

  it("a failed rename of an output fails the compaction and removes the outputs", async () => {
    const { dir, fs, store, expected } = await storeWithGarbage();
    let renames = 0;
    fs.rule = (call) => (call.op === "rename" && isOutput(call.path) && ++renames === 2 ? "EIO" : null);
    await expect(store.compact()).rejects.toThrow("EIO");
    fs.rule = null;
    expect(readdirSync(dir).filter(isOutput)).toEqual([]);
    await store.delete(testKey(10));
    await store.compact();
    await store.close();
    const after = new Map(expected);
    after.delete(testKey(10));
    expect(await reopen(dir)).toEqual(after);
  });
});

describe("an open that fails", () => {
  const active = "segment-0000000003.dat";
  const torn = (path: string) => path.endsWith(active);
  for (const [what, rule] of [
    ["the cut of a torn tail", failing("EIO", (op, path) => op === "truncate" && torn(path))],
    ["the fdatasync of that cut", failing("EIO", (op, path) => op === "datasync" && torn(path))],
    ["the fsync of the directory", failing("EIO", (op) => op === "syncDirectory")],
  ] as const) {
    it(`at ${what} leaves no file open and no LOCK held, and loses nothing`, async () => {
      const dir = tempDir();
      const seed = await KVStore.open(dir, baseOptions);
      for (let i = 0; i < 40; i++) await seed.set(testKey(i), seededValue(i, 200));
      const expected = dump(seed);
      await seed.close();
      expect(readdirSync(dir).filter(isSegment).pop()).toBe(active);
      // A record torn by a crash: its header begins, its bytes never came.
      appendFileSync(join(dir, active), Uint8Array.of(MAGIC_0, MAGIC_1, Op.Set, 5, 0, 0, 0));
      const fs = new FaultyFileSystem(dir);
      fs.rule = rule;
      const fdsBefore = readdirSync("/proc/self/fd").length;
      await expect(KVStore.open(dir, { ...baseOptions, fileSystem: fs })).rejects.toThrow("EIO");
      expect(readdirSync("/proc/self/fd").length).toBe(fdsBefore);
      expect(directoryLockIsFree(dir)).toBe(true);
      expect(await reopen(dir)).toEqual(expected);
    });
  }
});

describe("power cut after a compaction", () => {
  for (const sync of ["never", "interval"] as const) {
    it(`sync ${sync}: a delete that compaction dropped stays deleted once a snapshot has fsynced it`, async () => {
      const { fs, store } = await openFaulty({ sync, syncIntervalMs: 3_600_000 });
      await store.set("c", "1");
      await store.saveSnapshot();
      await store.delete("c");
      // The tombstone's segment is an input: the output holds no record of "c", and the input
      // stays on disk until its deletion is made durable, a second later.
      await store.compact();
      // Documented to fsync every write made so far.
      await store.saveSnapshot();
      const image = tempDir("kvstore-power-cut");
      fs.powerCutImage(image);
      fs.rule = () => "EIO";
      await store.close().catch(() => {});
      fs.closeAll();
      expect(await reopen(image)).toEqual(new Map());
    });
  }
});

describe("close after the disk has gone", () => {
  const everyCallFails: FaultRule = () => "EIO";

  it("close() closes every file and releases the LOCK though close(2) fails too", async () => {
    const { dir, fs, store } = await openFaulty();
    for (let i = 0; i < 40; i++) await store.set(testKey(i), seededValue(i, 200));
    const segments = store.stats().numSegments;
    expect(segments).toBeGreaterThan(1);
    fs.rule = everyCallFails;
    await store.close();
    // Every segment's close(2) was tried, not only the first one's.
    const closed = fs.log.filter((call) => call.op === "close" && isSegment(call.path));
    expect(new Set(closed.map((call) => call.path)).size).toBe(segments);
    expect(directoryLockIsFree(dir)).toBe(true);
    fs.closeAll();
    // The same process can open the directory again (the LOCK is not still held here).
    const reopened = await reopen(dir);
    expect(reopened.size).toBe(40);
  });

  it("sync never: close() reports the failed final fsync, and still releases everything", async () => {
    const { dir, fs, store } = await openFaulty({ sync: "never" });
    await store.set("a", "1");
    fs.rule = everyCallFails;
    await expect(store.close()).rejects.toBeInstanceOf(StorageFailedError);
    expect(directoryLockIsFree(dir)).toBe(true);
    fs.closeAll();
    expect(await reopen(dir)).toEqual(new Map([["a", hex("1")]]));
  });

  it("close() after a disk failure waits for the snapshot being written: nothing is written once the LOCK is released", async () => {
    // A snapshot is written in paced slices over many event-loop turns (snapshot.ts). Here its
    // background fdatasync is held until the test lets it go, and meanwhile a segment's fdatasync
    // fails. close() then saves no snapshot of its own, so it had nothing to wait for: it released
    // the LOCK while the snapshot went on writing and renamed it into place afterwards (where a new
    // owner of the directory may be writing its own index.snapshot.tmp).
    const dir = tempDir();
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let snapshotSyncReached = () => {};
    const reached = new Promise<void>((resolve) => {
      snapshotSyncReached = resolve;
    });
    const snapshotFds = new Set<number>();
    class HeldSnapshotSync extends FaultyFileSystem {
      override open(path: string, mode: Parameters<FaultyFileSystem["open"]>[1]): number {
        const fd = super.open(path, mode);
        if (path.endsWith("index.snapshot.tmp")) snapshotFds.add(fd);
        return fd;
      }
      override async datasyncInBackground(fd: number): Promise<void> {
        if (snapshotFds.has(fd)) {
          snapshotSyncReached();
          await held;
        }
        return super.datasyncInBackground(fd);
      }
    }
    const fs = new HeldSnapshotSync(dir);
    const store = await KVStore.open(dir, { ...baseOptions, fileSystem: fs });
    for (let i = 0; i < 40; i++) await store.set(testKey(i), seededValue(i, 200));
    const snapshot = store.saveSnapshot().catch(() => {});
    await reached;
    fs.rule = failing("EIO", (op, path) => op === "datasync" && isSegment(path), Infinity);
    await expect(store.set("lost", "x")).rejects.toBeInstanceOf(StorageFailedError);
    let closed = false;
    const closing = store.close().then(() => {
      closed = true;
    });
    // Turns enough for close() to run to its end had it nothing to wait for.
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
    const closedWhileWriting = closed;
    const lockFreeWhileWriting = directoryLockIsFree(dir);
    release();
    await closing;
    const callsAtClose = fs.log.length;
    await snapshot;
    expect(closedWhileWriting).toBe(false);
    expect(lockFreeWhileWriting).toBe(false);
    expect(fs.log.slice(callsAtClose)).toEqual([]);
    expect(directoryLockIsFree(dir)).toBe(true);
    expect((await reopen(dir)).size).toBe(40);
  });
});
