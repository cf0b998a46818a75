import { Appender, rollBack } from "./appender.ts";
import { type BackupReport, writeBackup } from "./backup.ts";
import { Compactor } from "./compactor.ts";
import { DiskSpace } from "./disk-space.ts";
import { DiskFullError, type StorageFailedError, StoreClosedError } from "./errors.ts";
import { isDiskFull } from "./file-system.ts";
import type { KeyIndex } from "./index/key-index.ts";
import { IndexWalks } from "./index-walks.ts";
import { acquireLock, type DirectoryLock } from "./lock.ts";
import { type KVStoreOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { Op, type ValueWithMetadata } from "./record.ts";
import { type RecoveredState, recover } from "./recovery.ts";
import type { Segment } from "./segment.ts";
import { SegmentSet } from "./segment-set.ts";
import { Snapshotter } from "./snapshotter.ts";
import { type CommitOptions, StagedValue } from "./staged-value.ts";
import { StorageFailure } from "./storage-failure.ts";
import type { KVStoreStats, ListOptions, OpenValue, SegmentStats, SetOptions } from "./store-types.ts";
import { checkKey, checkListOptions, checkMetadata, checkValue } from "./validation.ts";
import { ValueReader } from "./value-reader.ts";
import { GroupCommitter } from "./writer.ts";

export type {
  KVStoreStats,
  ListOptions,
  Location,
  OpenValue,
  SegmentStats,
  SetOptions,
} from "./store-types.ts";

/**
 * A Bitcask-style store: append-only segment files on disk, an index of key to record location
 * in memory. Reads are synchronous; writes resolve when durable (see `SyncMode`).
 */
export class KVStore {
  private readonly segments: SegmentSet;
  private readonly index: KeyIndex;
  private readonly committer: GroupCommitter;
  private readonly failure: StorageFailure;
  private readonly space: DiskSpace;
  private closing: Promise<void> | null = null;
  private readonly compactor: Compactor;
  private readonly appender: Appender;
  private readonly reader: ValueReader;
  private readonly backups = new Set<Promise<BackupReport>>();
  private readonly snapshotter: Snapshotter;
  private readonly indexWalks = new IndexWalks();
  /** Values being staged (stageValue): aborted, their files deleted, when the store closes. */
  private readonly staging = new Set<StagedValue>();
  private readonly counters = { sets: 0, deletes: 0 };

  private constructor(
    readonly dir: string,
    private readonly options: ResolvedOptions,
    private readonly lock: DirectoryLock,
    private readonly recovered: Omit<RecoveredState, "index" | "segments">,
    index: KeyIndex,
    segments: Segment[],
  ) {
    this.index = index;
    this.failure = new StorageFailure(dir, options.logger);
    this.space = new DiskSpace(options.fileSystem, dir, options.reserveBytes, options.logger);
    this.committer = new GroupCommitter(options.sync, options.syncIntervalMs, options.logger, {
      fs: options.fileSystem,
      dir,
      failure: this.failure,
      rollback: (batch) => rollBack(this.index, batch),
      diskFull: (error) => this.space.noteFull(error),
      faultInjector: options.faultInjector,
    });
    this.segments = new SegmentSet(dir, options, this.committer, segments);
    this.snapshotter = new Snapshotter(dir, options, index, this.segments, this.committer, this.indexWalks, {
      isClosed: () => this.closing !== null,
      isCompacting: () => this.compactor.running !== null,
    });
    this.compactor = new Compactor({
      dir,
      options,
      index,
      segments: this.segments,
      committer: this.committer,
      failure: this.failure,
      space: this.space,
      indexWalks: this.indexWalks,
      snapshotter: this.snapshotter,
      backups: this.backups,
      isClosed: () => this.closing !== null,
    });
    this.appender = new Appender(
      options.maxSegmentBytes,
      this.segments,
      this.committer,
      this.space,
      this.snapshotter,
      this.compactor,
    );
    this.reader = new ValueReader(options.fileSystem, index, this.segments, this.committer);
  }

  /**
   * Opens (creating if needed) the store in `dir`: takes its LOCK and rebuilds the index from
   * index.snapshot plus what was written after it, or from all segments.
   */
  static async open(dir: string, options: KVStoreOptions = {}): Promise<KVStore> {
    const resolved = resolveOptions(options);
    const fs = resolved.fileSystem;
    fs.makeDirectory(dir);
    const lock = acquireLock(dir, resolved.logger);
    try {
      const { index, segments, ...report } = recover(fs, dir, resolved.logger);
      const store = new KVStore(dir, resolved, lock, report, index, segments);
      store.space.ensureReserve();
      store.compactor.maybeStart();
      return store;
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  /**
   * Stores `value` under `key`, with `options.metadata` if given (replacing any the key had).
   * Readable at once; resolves when durable. Rejects with InvalidValueError for metadata that is
   * not a Uint8Array of at most 65,535 bytes, with DiskFullError when the disk is full, and with
   * StorageFailedError once a disk failure has stopped the store's writes.
   */
  set(key: string, value: Uint8Array | string, options?: SetOptions): Promise<void> {
    try {
      this.assertWritable();
      this.space.assertRoomForValues();
      const keyBytes = this.checkKey(key);
      const bytes = checkValue(value, this.options.maxValueBytes);
      const metadata = checkMetadata(options?.metadata);
      const batch = this.committer.batch();
      const op = metadata === null ? Op.Set : Op.SetWithMetadata;
      const location = this.appender.append(batch, op, key, keyBytes, bytes, metadata);
      batch.noteUndo(key, this.index.set(key, location));
      this.counters.sets++;
      return batch.promise;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Starts a value for `key` that is built on disk a piece at a time (`append`) and then stored
   * by `commit()` as one record, with the same guarantees as `set()`, or dropped by `abort()`;
   * see staged-value.ts. For values too large to hold in memory. Throws what `set()` would
   * reject with for the key (InvalidKeyError, DiskFullError, StorageFailedError, ...).
   */
  stageValue(key: string): StagedValue {
    this.assertWritable();
    this.space.assertRoomForValues();
    this.checkKey(key);
    const staged = StagedValue.create(
      {
        fs: this.options.fileSystem,
        dir: this.dir,
        maxValueBytes: this.options.maxValueBytes,
        logger: this.options.logger,
        commit: (value, options) => this.commitStaged(value, options),
        ended: (value) => this.staging.delete(value),
      },
      key,
    );
    this.staging.add(staged);
    return staged;
  }

  /**
   * Appends a staged value's record to the active segment: the open batch is flushed, then the
   * record is written straight to the file, its value copied from the staging file, in a batch
   * of its own that later writes join (GroupCommitter.writeThrough). Applied to the index before
   * this returns, like `set()`.
   */
  private commitStaged(staged: StagedValue, options: CommitOptions): Promise<void> {
    try {
      this.assertWritable();
      const { key } = staged;
      const keyBytes = this.checkKey(key);
      const metadata = checkMetadata(options.metadata);
      // The file must end where the record starts, and a failure of the flush is seen before.
      // Writes made before this one in its turn of the event loop that fail there fail it too,
      // as they would a set() that joined their batch: a precondition checked against them
      // (If-Match, say) no longer holds, and a full disk has just given its space reserve to
      // deletes and compaction.
      const before = this.committer.openBatch();
      this.committer.flushNow();
      if (before !== null && before.failure !== null) throw before.failure;
      this.failure.assertWritable();
      this.space.assertRoomForValues();
      const { batch, location } = this.appender.appendStaged(staged, keyBytes, metadata);
      batch.noteUndo(key, this.index.set(key, location));
      this.counters.sets++;
      return batch.promise;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Removes `key`; resolves to whether it existed, once the removal is durable. */
  async delete(key: string): Promise<boolean> {
    this.assertWritable();
    const keyBytes = this.checkKey(key);
    if (!this.index.has(key)) return this.absentOnceDurable(key);
    const batch = this.committer.batch();
    this.appender.append(batch, Op.Delete, key, keyBytes, null);
    batch.noteUndo(key, this.index.delete(key));
    this.counters.deletes++;
    await batch.promise;
    return true;
  }

  /**
   * `delete()` of a key the index does not hold. It may be gone only because a write of the open
   * batch deleted it, which is not durable yet: answer once that batch is. If the batch fails
   * having changed the key, fail with it: its rollback may bring the key back, or, if the file
   * cannot be cut back, a restart may replay part of it.
   */
  private async absentOnceDurable(key: string): Promise<boolean> {
    const pending = this.committer.openBatch();
    if (pending === null) return false;
    try {
      await pending.promise;
    } catch (error) {
      if (pending.changed(key)) throw error;
    }
    return false;
  }

  /** The value stored under `key`, or null. Throws CorruptionError if its record is damaged. */
  get(key: string): Uint8Array | null {
    this.assertOpen();
    return this.reader.get(key);
  }

  /**
   * The metadata stored with the value of `key` (see `set`), or null when it has none or the key
   * is absent. Throws CorruptionError if its record is damaged.
   */
  getMetadata(key: string): Uint8Array | null {
    this.assertOpen();
    return this.reader.getMetadata(key);
  }

  /**
   * The value of `key` and its metadata (see `set`; null when it has none), read together: one
   * lookup and one CRC check. Null when the key is absent. Throws CorruptionError if its record
   * is damaged.
   */
  getWithMetadata(key: string): ValueWithMetadata | null {
    this.assertOpen();
    return this.reader.getWithMetadata(key);
  }

  /** Length in bytes of the value stored under `key`, or null; reads nothing from disk. */
  valueLength(key: string): number | null {
    this.assertOpen();
    return this.reader.valueLength(key);
  }

  has(key: string): boolean {
    this.assertOpen();
    return this.index.has(key);
  }

  /** Keys in unsigned byte order of their UTF-8, optionally filtered and paged. */
  listKeys(options?: ListOptions): string[] {
    this.assertOpen();
    checkListOptions(options);
    return this.index.list(options);
  }

  /**
   * The value of `key` as an open file (see `OpenValue`), or null. Its bytes are not CRC-checked
   * here (`get()` checks them): a reader streaming a large value checks the record itself.
   */
  openValue(key: string): OpenValue | null {
    this.assertOpen();
    return this.reader.openValue(key);
  }

  /**
   * Rewrites the live records of every segment (the active one is sealed first) into new
   * segments and deletes the old ones. Reads and writes go on meanwhile. If a compaction is
   * already running, this waits for that one.
   */
  compact(): Promise<void> {
    try {
      this.assertWritable();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.compactor.running ?? this.compactor.start();
  }

  /**
   * Copies the store as it is at one instant (writes acknowledged before this call are in it) to
   * `destDir`, a new or empty directory, while reads and writes go on; see backup.ts. Rejects
   * with BackupDestinationError or BackupFailedError, or with StorageFailedError once a disk
   * failure has stopped the store's writes, leaving nothing at `destDir`.
   */
  async backup(destDir: string): Promise<BackupReport> {
    this.assertOpen();
    // Compaction deletes the sealed segments a backup links or copies, so the two never overlap:
    // a backup starts only when no compaction is set, and a compaction set while backups run
    // waits for them in Compactor.run before it touches a file. (Registering a backup while
    // one is set could deadlock: that compaction would wait for it, and it for the compaction.)
    while (this.compactor.running !== null) await this.compactor.running.catch(() => {});
    this.assertOpen();
    const run = writeBackup(
      {
        dir: this.dir,
        logger: this.options.logger,
        faults: this.options.faultInjector,
        captureIndex: () => this.snapshotter.captureIndex(),
      },
      destDir,
    );
    this.backups.add(run);
    try {
      return await run;
    } finally {
      this.backups.delete(run);
    }
  }

  /**
   * Saves index.snapshot now (writes queued before this call are included). Rejects with
   * DiskFullError when there is no room for it; the previous snapshot then stays.
   */
  saveSnapshot(): Promise<void> {
    try {
      this.assertWritable();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.snapshotter.queueSnapshot().catch((error: unknown) => {
      if (!isDiskFull(error)) throw error;
      throw new DiskFullError(
        "the disk holding the store is full: the index snapshot was not saved (the previous one stays). " +
          "Delete keys and compact, or free space (see README, Durability and failures)",
        { cause: error },
      );
    });
  }

  stats(): KVStoreStats {
    this.assertOpen();
    const { totalBytes, oldestSegmentId } = this.segments.totals();
    const liveBytes = this.index.totalLiveBytes;
    return {
      numKeys: this.index.size,
      numSegments: this.segments.count,
      totalBytes,
      liveBytes,
      deadBytes: totalBytes - liveBytes,
      activeSegmentId: this.segments.active.id,
      oldestSegmentId,
      corruptRecords: this.recovered.corruptRecords,
      truncatedBytes: this.recovered.truncatedBytes,
      snapshotOnOpen: this.recovered.snapshot,
      replayedBytesOnOpen: this.recovered.replayedBytes,
      groupCommits: this.committer.batches,
      fsyncs: this.committer.fsyncs,
      compacting: this.compactor.running !== null,
      sets: this.counters.sets,
      deletes: this.counters.deletes,
      snapshotsSaved: this.snapshotter.saved,
      compactions: this.compactor.compactions,
      bytesReclaimed: this.compactor.bytesReclaimed,
      lastCompactionMs: this.compactor.lastMs,
      lastCompactionLiveRecords: this.compactor.lastLiveRecords,
      compactionFailures: this.compactor.failures,
      storageFailure: this.failure.error?.message ?? null,
      diskFull: this.space.isFull,
    };
  }

  /** Figures of every segment, oldest first. */
  segmentStats(): SegmentStats[] {
    this.assertOpen();
    return this.segments.oldestFirst().map((segment) => ({
      id: segment.id,
      bytes: segment.size,
      liveBytes: this.index.liveBytesOf(segment.id),
      active: segment === this.segments.active,
    }));
  }

  /**
   * Flushes and fsyncs every write, stops a compaction that has not reached its commit point,
   * saves index.snapshot, closes the files and releases the LOCK.
   */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  /** Why the store stopped accepting writes, or null while it is healthy (see StorageFailedError). */
  get storageFailure(): StorageFailedError | null {
    return this.failure.error;
  }

  get isClosed(): boolean {
    return this.closing !== null;
  }

  private async closeOnce(): Promise<void> {
    for (const staged of [...this.staging]) staged.abort(new StoreClosedError(this.dir));
    this.committer.flushNow();
    await this.compactor.running?.catch(() => {});
    await this.compactor.endWorker();
    await Promise.allSettled(this.backups);
    // A snapshot being written goes on writing to the directory (snapshotter.ts, settled).
    await this.snapshotter.settled();
    this.committer.stop();
    this.segments.deleteRetiredNow();
    try {
      // After a disk failure nothing more is written: the next open recovers from the files.
      if (this.failure.error === null) {
        await this.snapshotter.queueSnapshot().catch((error) => {
          this.options.logger.error(`could not save the index snapshot on close: ${String(error)}`);
        });
        this.committer.syncAll();
        // A store closed cleanly leaves no preallocated zeros behind (segment.ts).
        this.segments.active.seal();
      }
    } finally {
      this.segments.closeAll();
      this.lock.release();
    }
  }

  /**
   * Validates a key and returns its UTF-8 length; throws InvalidKeyError (KeyTooLargeError past
   * maxKeyBytes). Public so that a server can refuse a key before it reads the value.
   */
  checkKey(key: string): number {
    return checkKey(key, this.options.maxKeyBytes);
  }

  /** Writes (and compactions and snapshots) need an open store whose disk has not failed. */
  private assertWritable(): void {
    this.assertOpen();
    this.failure.assertWritable();
  }

  private assertOpen(): void {
    // Once close() has begun, no new work starts: it would race the files being closed.
    if (this.closing !== null) throw new StoreClosedError(this.dir);
  }
}
