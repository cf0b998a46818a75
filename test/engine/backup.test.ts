import { describe, expect, it } from "bun:test";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import {
  BackupDestinationError,
  BackupFailedError,
  type FaultPoint,
  KVStore,
  type KVStoreOptions,
  StoreClosedError,
  silentLogger,
  verify,
} from "../../src/index.ts";
import { expectedData, writeDataSet } from "../fixtures/data-set.ts";
import { dump, seededValue, tempDir, text } from "../helpers.ts";

const options: KVStoreOptions = { logger: silentLogger, maxSegmentBytes: 4096, autoCompaction: false };
const MiB = 1024 * 1024;
/** Generous: the tests fsync a lot, and must pass on a loaded machine. */
const TIMEOUT_MS = 60_000;

/** An error as the file system would throw it (Node's shape: code, negative errno, syscall). */
function systemError(code: string, errno: number, syscall: string): Error {
  return Object.assign(new Error(`${code}: injected, ${syscall} '/somewhere/secret'`), {
    code,
    errno,
    syscall,
  });
}

const exdev = () => systemError("EXDEV", -18, "link");

/** A backup destination that does not exist yet, in a fresh directory. */
function freshDestination(): string {
  return join(tempDir("kvstore-backup-dest"), "backup");
}

function filesIn(dir: string): string[] {
  return readdirSync(dir).sort();
}

/**
 * Checks that `dir` is a sound store that loads its snapshot and replays nothing, and returns its
 * data. Checked before it is opened: closing a store saves a new snapshot over the backup's.
 */
async function openBackup(dir: string): Promise<Map<string, string>> {
  const report = verify(dir);
  expect(report.ok).toBe(true);
  expect(report.snapshot.status).toBe("ok");
  expect(existsSync(join(dir, "LOCK"))).toBe(false);
  const store = await KVStore.open(dir, options);
  expect(store.stats().snapshotOnOpen).toBe("loaded");
  expect(store.stats().replayedBytesOnOpen).toBe(0);
  const data = dump(store);
  await store.close();
  return data;
}

/** A store holding the shared data set, spread over many small segments. */
async function storeWithDataSet(extra: KVStoreOptions = {}): Promise<{ dir: string; store: KVStore }> {
  const dir = tempDir();
  const store = await KVStore.open(dir, { ...options, ...extra });
  await writeDataSet(store);
  return { dir, store };
}

/** Backup and compaction steps in the order they were passed, each run of one collapsed to one entry. */
function runsOf(points: FaultPoint[]): string[] {
  const kinds = points
    // Inputs are deleted a second after their compaction ends: not part of the compaction's run.
    .filter((point) => point !== "compaction:input-deleted")
    .map((point) => point.split(":")[0] as string)
    .filter((kind) => kind === "backup" || kind === "compaction");
  return kinds.filter((kind, i) => kind !== kinds[i - 1]);
}

describe("backup", () => {
  it(
    "links sealed segments, copies the active one, and opens to the same data with its snapshot",
    async () => {
      const { dir, store } = await storeWithDataSet();
      const dest = freshDestination();
      const before = dump(store);
      const report = await store.backup(dest);
      const stats = store.stats();
      expect(report).toEqual({
        path: dest,
        keys: expectedData().size,
        segments: stats.numSegments,
        bytes: stats.totalBytes + statSync(join(dest, "index.snapshot")).size,
        durationMs: expect.any(Number),
      });
      const segmentFiles = filesIn(dir).filter((name) => name.startsWith("segment-"));
      expect(filesIn(dest)).toEqual([...segmentFiles, "index.snapshot"].sort());
      const active = segmentFiles.at(-1) as string;
      for (const name of segmentFiles) {
        // Sealed segments share their inode with the store's file; the active one is a copy.
        expect({ name, linked: statSync(join(dest, name)).ino === statSync(join(dir, name)).ino }).toEqual({
          name,
          linked: name !== active,
        });
      }
      await store.set("after the backup", "absent from it");
      expect(await openBackup(dest)).toEqual(before);
      await store.close();
    },
    TIMEOUT_MS,
  );

  it(
    "holds every write acknowledged before it began, and none made after it ended, while a writer goes on",
    async () => {
      const dir = tempDir();
      // Many keys, so that the backup's walk over the index takes several slices with writes between.
      const store = await KVStore.open(dir, { ...options, maxSegmentBytes: 256 * 1024 });
      const FILL = 60_000;
      for (let i = 0; i < FILL; i += 1000) {
        const batch: Promise<void>[] = [];
        for (let j = i; j < i + 1000; j++) batch.push(store.set(`fill-${j}`, `initial ${j}`));
        await Promise.all(batch);
      }
      // Operation i overwrites a filler key, appends log-i, rewrites a hot key and deletes an older
      // log key, all at once: the data after n operations is `stateAfter(n)`.
      const operation = (i: number): Promise<unknown>[] => [
        store.set(`fill-${(i * 7919) % FILL}`, `op ${i}`),
        store.set(`log-${i}`, seededValue(i, 40)),
        store.set(`hot-${i % 7}`, `op ${i}`),
        ...(i >= 10 && i % 3 === 0 ? [store.delete(`log-${i - 10}`)] : []),
      ];
      const stateAfter = (n: number): Map<string, string> => {
        const state = new Map<string, string>();
        const hex = (value: string | Uint8Array) => Buffer.from(value).toString("hex");
        for (let j = 0; j < FILL; j++) state.set(`fill-${j}`, hex(`initial ${j}`));
        for (let i = 0; i < n; i++) {
          state.set(`fill-${(i * 7919) % FILL}`, hex(`op ${i}`));
          state.set(`log-${i}`, hex(seededValue(i, 40)));
          state.set(`hot-${i % 7}`, hex(`op ${i}`));
          if (i >= 10 && i % 3 === 0) state.delete(`log-${i - 10}`);
        }
        return state;
      };

      let started = 0;
      let acknowledged = 0;
      let stop = false;
      const milestones: { at: number; resolve: () => void }[] = [];
      const reach = (count: number) =>
        new Promise<void>((resolve) => milestones.push({ at: count, resolve: () => resolve() }));
      const warmedUp = reach(200);
      const writer = (async () => {
        while (!stop) {
          await Promise.all(operation(started++));
          acknowledged = started;
          for (const milestone of milestones) if (acknowledged >= milestone.at) milestone.resolve();
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      await warmedUp;
      const acknowledgedBefore = acknowledged;
      const dest = freshDestination();
      const report = await store.backup(dest);
      const startedBeforeEnd = started;
      await reach(startedBeforeEnd + 50);
      stop = true;
      await writer;

      const backedUp = await openBackup(dest);
      // The last log key tells how many operations the backup holds (none newer is ever deleted).
      const logs = [...backedUp.keys()]
        .filter((key) => key.startsWith("log-"))
        .map((key) => Number(key.slice(4)));
      const held = Math.max(...logs) + 1;
      expect(held).toBeGreaterThanOrEqual(acknowledgedBefore);
      expect(held).toBeLessThanOrEqual(startedBeforeEnd);
      expect(report.keys).toBe(stateAfter(held).size);
      expect(backedUp).toEqual(stateAfter(held));
      expect(dump(store)).toEqual(stateAfter(started));
      await store.close();
    },
    TIMEOUT_MS,
  );

  it(
    "leaves the store's files alone when the backup is written to and compacted",
    async () => {
      const { dir, store } = await storeWithDataSet();
      const dest = freshDestination();
      await store.backup(dest);
      await store.close();
      const before = new Map(filesIn(dir).map((name) => [name, readFileSync(join(dir, name))]));

      const backup = await KVStore.open(dest, options);
      for (let i = 0; i < 200; i++) await backup.set(`backup-only-${i % 20}`, seededValue(i, 50));
      await backup.compact();
      await backup.close();

      expect(new Map(filesIn(dir).map((name) => [name, readFileSync(join(dir, name))]))).toEqual(before);
      expect(verify(dir).ok).toBe(true);
    },
    TIMEOUT_MS,
  );

  it(
    "accepts an existing empty directory as destination",
    async () => {
      const { store } = await storeWithDataSet();
      const dest = freshDestination();
      mkdirSync(dest);
      await store.backup(dest);
      expect(await openBackup(dest)).toEqual(dump(store));
      await store.close();
    },
    TIMEOUT_MS,
  );

  it(
    "refuses a destination that is not empty, is a file, has no parent or is inside the store, and writes nothing",
    async () => {
      const { dir, store } = await storeWithDataSet();
      const parent = tempDir("kvstore-backup-dest");
      mkdirSync(join(parent, "full"));
      writeFileSync(join(parent, "full", "precious"), "keep me");
      writeFileSync(join(parent, "file"), "a file");
      const cases: [string, string][] = [
        [join(parent, "full"), "it is not empty"],
        [join(parent, "file"), "it exists and is not a directory"],
        [join(parent, "missing", "backup"), "its parent directory does not exist"],
        [join(dir, "backup"), "it is inside the store's data directory"],
        [dir, "it is not empty"],
        ["", "no path given"],
      ];
      const storeFiles = filesIn(dir);
      for (const [destination, problem] of cases) {
        const attempt = store.backup(destination);
        await expect(attempt).rejects.toBeInstanceOf(BackupDestinationError);
        await expect(attempt).rejects.toThrow(problem);
      }
      expect(filesIn(parent)).toEqual(["file", "full"]);
      expect(filesIn(join(parent, "full"))).toEqual(["precious"]);
      expect(readFileSync(join(parent, "full", "precious"), "utf8")).toBe("keep me");
      expect(readFileSync(join(parent, "file"), "utf8")).toBe("a file");
      expect(filesIn(dir)).toEqual(storeFiles);
      await store.close();
    },
    TIMEOUT_MS,
  );

  it(
    "copies every segment when hard links cross file systems (EXDEV)",
    async () => {
      const { store } = await storeWithDataSet({
        faultInjector: (point) => {
          if (point === "backup:link") throw exdev();
        },
      });
      const dest = freshDestination();
      await store.backup(dest);
      for (const name of filesIn(dest))
        expect({ name, links: statSync(join(dest, name)).nlink }).toEqual({ name, links: 1 });
      expect(await openBackup(dest)).toEqual(dump(store));
      await store.close();
    },
    TIMEOUT_MS,
  );

  it(
    "copies, not links, a sealed segment whose file runs past what the store wrote",
    async () => {
      const { dir, store } = await storeWithDataSet();
      // As a write whose cut-back failed leaves it: bytes the store does not count.
      const sealed = join(dir, filesIn(dir).find((name) => name.startsWith("segment-")) as string);
      appendFileSync(sealed, "garbage past the last record");
      const dest = freshDestination();
      await store.backup(dest);
      const copy = join(dest, basename(sealed));
      expect(statSync(copy).ino).not.toBe(statSync(sealed).ino);
      expect(statSync(copy).size).toBe(statSync(sealed).size - "garbage past the last record".length);
      expect(await openBackup(dest)).toEqual(dumpOf(expectedData()));
      await store.close();
    },
    TIMEOUT_MS,
  );

  it(
    "rejects once the store is closed",
    async () => {
      const { store } = await storeWithDataSet();
      await store.close();
      await expect(store.backup(freshDestination())).rejects.toBeInstanceOf(StoreClosedError);
    },
    TIMEOUT_MS,
  );

  it(
    "lets close wait until a backup under way is done",
    async () => {
      const { store } = await storeWithDataSet({
        faultInjector: (point) => {
          if (point === "backup:link") throw exdev();
        },
      });
      const dest = freshDestination();
      const order: string[] = [];
      const backup = store.backup(dest).then(() => order.push("backup"));
      const close = store.close().then(() => order.push("close"));
      await Promise.all([backup, close]);
      expect(order).toEqual(["backup", "close"]);
      expect(await openBackup(dest)).toEqual(dumpOf(expectedData()));
    },
    TIMEOUT_MS,
  );
});

describe("backup and compaction", () => {
  it(
    "waits for a running compaction, then backs up the segments it left",
    async () => {
      const points: FaultPoint[] = [];
      const { store } = await storeWithDataSet({ faultInjector: (point) => void points.push(point) });
      const compaction = store.compact();
      expect(store.stats().compacting).toBe(true);
      const dest = freshDestination();
      const report = await store.backup(dest);
      await compaction;
      expect(runsOf(points)).toEqual(["compaction", "backup"]);
      expect(report.segments).toBe(store.stats().numSegments);
      expect(await openBackup(dest)).toEqual(dumpOf(expectedData()));
      await store.close();
    },
    TIMEOUT_MS,
  );

  it(
    "holds off a compaction asked for while it runs, and one more backup waits for that compaction",
    async () => {
      let firstDone = false;
      let compactions = () => 0;
      const overlaps: string[] = [];
      // Copying (as across file systems) takes many event-loop turns: room for a compaction to interleave.
      const { store } = await storeWithDataSet({
        faultInjector: (point) => {
          const during = point.startsWith("compaction:") && point !== "compaction:input-deleted";
          if (during && !firstDone) overlaps.push(`${point} during the first backup`);
          if (point.startsWith("backup:") && firstDone && compactions() === 0) {
            overlaps.push(`${point} of the second backup before the compaction ended`);
          }
          if (point === "backup:link") throw exdev();
        },
      });
      compactions = () => store.stats().compactions;
      const first = freshDestination();
      const second = freshDestination();
      const firstBackup = store.backup(first).then((report) => {
        firstDone = true;
        return report;
      });
      const compaction = store.compact();
      const secondBackup = store.backup(second);
      const [firstReport, , secondReport] = await Promise.all([firstBackup, compaction, secondBackup]);
      expect(overlaps).toEqual([]);
      expect(store.stats().compactions).toBe(1);
      // The first holds the segments from before the compaction, the second those it left.
      expect(secondReport.segments).toBe(store.stats().numSegments);
      expect(firstReport.segments).toBeGreaterThan(secondReport.segments);
      expect(await openBackup(first)).toEqual(dumpOf(expectedData()));
      expect(await openBackup(second)).toEqual(dumpOf(expectedData()));
      await store.close();
    },
    TIMEOUT_MS,
  );
});

describe("backup failures", () => {
  const faults: [FaultPoint, () => Error][] = [
    ["backup:link", () => systemError("EIO", -5, "link")],
    ["backup:write", () => systemError("ENOSPC", -28, "write")],
    ["snapshot:written", () => systemError("EIO", -5, "fsync")],
  ];
  for (const [point, makeError] of faults) {
    it(
      `leaves no destination after an error at ${point}, and the store keeps working`,
      async () => {
        let armed = false;
        const { dir, store } = await storeWithDataSet({
          faultInjector: (at) => {
            if (armed && at === point) throw makeError();
          },
        });
        const parent = tempDir("kvstore-backup-dest");
        const dest = join(parent, "backup");
        mkdirSync(dest);
        armed = true;
        const attempt = store.backup(dest);
        await expect(attempt).rejects.toBeInstanceOf(BackupFailedError);
        const error = (await attempt.catch((e: unknown) => e)) as BackupFailedError;
        expect(error.reason).toStartWith(makeError().message.split(":")[0] as string);
        // The message names the destination and the cause, but no other path.
        expect(error.message).toContain(dest);
        expect(error.message).not.toContain(dir);
        expect(error.message).not.toContain("secret");
        expect(filesIn(parent)).toEqual(["backup"]);
        expect(filesIn(dest)).toEqual([]);

        armed = false;
        await store.set("after the failure", "still writable");
        expect(text(store.get("after the failure"))).toBe("still writable");
        await store.compact();
        expect(store.stats().compactions).toBe(1);
        await store.backup(dest);
        expect(await openBackup(dest)).toEqual(dump(store));
        await store.close();
      },
      TIMEOUT_MS,
    );
  }
});

describe("a crash during a backup", () => {
  const CRASH_CHILD = join(import.meta.dir, "../fixtures/backup-crash.ts");
  for (const point of ["backup:link", "backup:write", "snapshot:written"] as const) {
    it(
      `at ${point} leaves no destination, only a hidden temp directory, and the store intact`,
      async () => {
        const dir = tempDir();
        const parent = tempDir("kvstore-backup-dest");
        const dest = join(parent, "backup");
        const child = Bun.spawn([process.execPath, CRASH_CHILD, dir, dest, point], { stdout: "pipe" });
        const output = await new Response(child.stdout).text();
        expect(output).toBe("");
        expect(await child.exited).not.toBe(0);
        expect(filesIn(parent)).toEqual([expect.stringMatching(/^\.backup\.backup-/)]);
        // The store opens to its data, and a new backup to the same place works.
        const store = await KVStore.open(dir, options);
        expect(dump(store)).toEqual(dumpOf(expectedData()));
        await store.backup(dest);
        expect(await openBackup(dest)).toEqual(dumpOf(expectedData()));
        await store.close();
      },
      TIMEOUT_MS,
    );
  }
});

/** Mounts a tmpfs of `bytes` on a new directory; null where that is not permitted (not root). */
function mountTmpfs(bytes: number): string | null {
  const dir = mkdtempSync(join(tmpdir(), "kvstore-tmpfs-"));
  try {
    const mount = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", dir], {
      stderr: "pipe",
    });
    if (mount.exitCode === 0) return dir;
  } catch {
    // No mount command.
  }
  rmSync(dir, { recursive: true, force: true });
  return null;
}

function unmount(dir: string): void {
  // Lazily: memory maps of the files that closed stores made stay until garbage collection.
  Bun.spawnSync(["umount", "--lazy", dir]);
  rmSync(dir, { recursive: true, force: true });
}

const probe = mountTmpfs(MiB);
if (probe !== null) unmount(probe);
else console.warn("SKIPPING the tmpfs backup tests: mounting a tmpfs is not permitted here (run as root)");

describe("backup to another file system (tmpfs)", () => {
  it.skipIf(probe === null)(
    "copies every segment and the copy opens to the same data",
    async () => {
      const mount = mountTmpfs(16 * MiB) as string;
      try {
        const { dir, store } = await storeWithDataSet();
        const dest = join(mount, "backup");
        await store.backup(dest);
        for (const name of filesIn(dest)) expect(statSync(join(dest, name)).nlink).toBe(1);
        for (const name of filesIn(dir)) expect(statSync(join(dir, name)).nlink).toBe(1);
        expect(await openBackup(dest)).toEqual(dump(store));
        await store.close();
      } finally {
        unmount(mount);
      }
    },
    TIMEOUT_MS,
  );

  it.skipIf(probe === null)(
    "refuses a mount point, which the backup could not be renamed onto",
    async () => {
      const mount = mountTmpfs(MiB) as string;
      try {
        const { store } = await storeWithDataSet();
        const attempt = store.backup(mount);
        await expect(attempt).rejects.toBeInstanceOf(BackupDestinationError);
        await expect(attempt).rejects.toThrow("it is a mount point");
        expect(filesIn(mount)).toEqual([]);
        await store.close();
      } finally {
        unmount(mount);
      }
    },
    TIMEOUT_MS,
  );

  it.skipIf(probe === null)(
    "fails with ENOSPC on a full file system, leaving nothing there",
    async () => {
      const mount = mountTmpfs(64 * 1024) as string;
      try {
        const { store } = await storeWithDataSet();
        for (let i = 0; i < 100; i++) await store.set(`big-${i}`, seededValue(i, 2000));
        const dest = join(mount, "backup");
        const attempt = store.backup(dest);
        await expect(attempt).rejects.toBeInstanceOf(BackupFailedError);
        await expect(attempt).rejects.toThrow("ENOSPC");
        expect(filesIn(mount)).toEqual([]);
        await store.set("after the failure", "ok");
        const elsewhere = freshDestination();
        await store.backup(elsewhere);
        expect(await openBackup(elsewhere)).toEqual(dump(store));
        await store.close();
      } finally {
        unmount(mount);
      }
    },
    TIMEOUT_MS,
  );
});

function dumpOf(data: Map<string, Uint8Array>): Map<string, string> {
  return new Map([...data].map(([key, value]) => [key, Buffer.from(value).toString("hex")]));
}
