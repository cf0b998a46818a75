import { type BackupReport, writeBackup } from "./backup.ts";
import { Compactor } from "./compactor.ts";
import { crc32Combine } from "./crc32-combine.ts";
import { DiskSpace } from "./disk-space.ts";
import {
  CorruptionError,
  DiskFullError,
  InvalidKeyError,
  InvalidValueError,
  KeyTooLargeError,
  type StorageFailedError,
  StoreClosedError,
  ValueTooLargeError,
} from "./errors.ts";
import { isDiskFull } from "./file-system.ts";
import type { KeyIndex } from "./index/key-index.ts";
import type { IndexLocation } from "./index/location.ts";
import { IndexWalks } from "./index-walks.ts";
import { acquireLock, type DirectoryLock } from "./lock.ts";
import { type KVStoreOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import {
  copyMetadata,
  copyValue,
  encodeRecord,
  encodeRecordCrc,
  encodeRecordHead,
  HEADER_BYTES,
  MAX_METADATA_BYTES,
  META_LENGTH_BYTES,
  metadataBlockBytes,
  Op,
  RECORD_OVERHEAD,
  recordLength,
} from "./record.ts";
import { type RecoveredState, recover, type SnapshotUse } from "./recovery.ts";
import type { Segment } from "./segment.ts";
import { SegmentSet } from "./segment-set.ts";
import { Snapshotter } from "./snapshotter.ts";
import { type CommitOptions, StagedValue } from "./staged-value.ts";
import { StorageFailure } from "./storage-failure.ts";
import { GroupCommitter, UNDO_FIELDS, type WriteBatch } from "./writer.ts";

/** Where a key's newest record lives (what the index holds for it). */
export type Location = Required<Omit<IndexLocation, "expiresAt">>;

export interface ListOptions {
  /** Only keys that start with this string. */
  prefix?: string;
  /** Only keys sorted after this one (for paging: pass the last key of the previous page). */
  after?: string;
  /** At most this many keys. */
  limit?: number;
}

export interface KVStoreStats {
  numKeys: number;
  numSegments: number;
  /** Bytes of all segment files. */
  totalBytes: number;
  /** Bytes of the records the index points to. */
  liveBytes: number;
  /** Bytes that compaction could reclaim: overwritten and deleted records, tombstones, damage. */
  deadBytes: number;
  activeSegmentId: number;
  oldestSegmentId: number;
  /** Damaged records found on open (skipped in the middle of a segment, or a torn tail), and
   * segments that lost bytes index.snapshot covered. */
  corruptRecords: number;
  /** Bytes cut off torn segment tails on open. */
  truncatedBytes: number;
  /** How open rebuilt the index: from index.snapshot, or by replay ("absent"/"ignored"). */
  snapshotOnOpen: SnapshotUse;
  /** Bytes of segment files that open replayed. */
  replayedBytesOnOpen: number;
  snapshotsSaved: number;
  sets: number;
  deletes: number;
  /** Group commits: each is one write(2) per touched segment. */
  groupCommits: number;
  fsyncs: number;
  compacting: boolean;
  compactions: number;
  /** Bytes of segment files that compactions deleted, less the bytes they wrote. */
  bytesReclaimed: number;
  lastCompactionMs: number;
  lastCompactionLiveRecords: number;
  /** Compactions that failed (their inputs stay in use). */
  compactionFailures: number;
  /** Why the store stopped accepting writes (see StorageFailedError), or null while healthy. */
  storageFailure: string | null;
  /** A write found the disk full and free space is not back yet: new values are refused. */
  diskFull: boolean;
}

/** One segment file's figures: what compaction would keep (live) and reclaim (the rest). */
export interface SegmentStats {
  id: number;
  /** Bytes of the file. */
  bytes: number;
  /** Bytes of the records the index points to. */
  liveBytes: number;
  /** The segment being appended to. */
  active: boolean;
}

/**
 * A value in its segment file, with that file open for this reader alone, for streaming large
 * values without holding them in memory. The open file is the reader's lease: a compaction may
 * delete the file meanwhile, but its bytes stay readable through `fd` (and their disk space
 * taken) until `close()`. Call `close()` exactly when done; it may be called again.
 */
export interface OpenValue {
  fd: number;
  /** The segment file's path when it was opened (for messages: it may be gone since). */
  path: string;
  /** Where the value's bytes are in the file. */
  offset: number;
  length: number;
  /** Where the value's record starts: its header, key and metadata block are the bytes from
   * here to `offset`, and its CRC (`RecordCrc`) the 4 bytes after the value. */
  recordOffset: number;
  /** The metadata stored with the value (see `set`), or null; read with it, not CRC-checked. */
  metadata: Uint8Array | null;
  close(): void;
}

const textEncoder = new TextEncoder();
/** What `set` may store with a value. */
export interface SetOptions {
  /** Bytes kept with the value, opaque to the store (at most 65,535): see `getMetadata`. */
  metadata?: Uint8Array;
}

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
      rollback: (batch) => this.rollback(batch),
      diskFull: (error) => this.space.noteFull(error),
      faultInjector: options.faultInjector,
    });
    this.segments = new SegmentSet(
      options.fileSystem,
      dir,
      options.logger,
      options.faultInjector,
      this.committer,
      segments,
    );
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
      const bytes = typeof value === "string" ? textEncoder.encode(value) : value;
      if (!(bytes instanceof Uint8Array)) throw new TypeError("value must be a Uint8Array or a string");
      if (bytes.length > this.options.maxValueBytes) {
        throw new ValueTooLargeError(bytes.length, this.options.maxValueBytes);
      }
      const metadata = checkMetadata(options?.metadata);
      const batch = this.committer.batch();
      const op = metadata === null ? Op.Set : Op.SetWithMetadata;
      const location = this.append(batch, op, key, keyBytes, bytes, metadata);
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
      const metaBytes = metadataBlockBytes(metadata);
      const length = recordLength(keyBytes, staged.size, metaBytes);
      this.makeRoomFor(length);
      const segment = this.segments.active;
      const head = new Uint8Array(HEADER_BYTES + keyBytes + metaBytes);
      const op = metadata === null ? Op.Set : Op.SetWithMetadata;
      encodeRecordHead(head, 0, op, key, keyBytes, staged.size, metadata);
      const crc = crc32Combine(Bun.hash.crc32(head), staged.crc32, staged.size);
      const offset = segment.size;
      const batch = this.committer.writeThrough(segment, staged.recordPieces(head, encodeRecordCrc(crc)));
      this.snapshotter.noteAppended(length);
      batch.noteUndo(key, this.index.set(key, { segmentId: segment.id, offset, length, metaBytes }));
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
    this.append(batch, Op.Delete, key, keyBytes, null);
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
    // A view the index reuses (no allocation): read before anything else touches the index.
    const location = this.index.get(key);
    if (location === undefined) return null;
    const { segmentId, offset, length } = location;
    const segment = this.segments.segmentOf(segmentId);
    const mapped = segment.mappedUpTo(offset + length);
    const value =
      mapped !== null
        ? copyValue(mapped, offset, length)
        : copyValue(segment.read(offset, length), 0, length);
    if (typeof value === "string") throw new CorruptionError(segment.path, offset, value);
    return value;
  }

  /**
   * The metadata stored with the value of `key` (see `set`), or null when it has none or the key
   * is absent. Throws CorruptionError if its record is damaged.
   */
  getMetadata(key: string): Uint8Array | null {
    this.assertOpen();
    const location = this.index.get(key);
    if (location === undefined || location.metaBytes === 0) return null;
    const { segmentId, offset, length } = location;
    const segment = this.segments.segmentOf(segmentId);
    const mapped = segment.mappedUpTo(offset + length);
    const metadata =
      mapped !== null
        ? copyMetadata(mapped, offset, length)
        : copyMetadata(segment.read(offset, length), 0, length);
    if (typeof metadata === "string") throw new CorruptionError(segment.path, offset, metadata);
    return metadata;
  }

  /** Length in bytes of the value stored under `key`, or null; reads nothing from disk. */
  valueLength(key: string): number | null {
    this.assertOpen();
    const location = this.index.get(key);
    if (location === undefined) return null;
    return location.length - RECORD_OVERHEAD - Buffer.byteLength(key, "utf8") - location.metaBytes;
  }

  has(key: string): boolean {
    this.assertOpen();
    return this.index.has(key);
  }

  /** Keys in unsigned byte order of their UTF-8, optionally filtered and paged. */
  listKeys(options?: ListOptions): string[] {
    this.assertOpen();
    return this.index.list(options);
  }

  /**
   * The value of `key` as an open file (see `OpenValue`), or null. Its bytes are not CRC-checked
   * here (`get()` checks them): a reader streaming a large value checks the record itself.
   */
  openValue(key: string): OpenValue | null {
    this.assertOpen();
    let location = this.index.get(key);
    if (location === undefined) return null;
    if (location.offset + location.length > this.segments.segmentOf(location.segmentId).fileSize) {
      // Still in the write buffer: flush the open batch (a failure there is that batch's, and
      // undoes it), then look again.
      this.committer.flushNow();
      location = this.index.get(key);
      if (location === undefined) return null;
    }
    // Copied out of the view the index reuses.
    const { segmentId, offset, length, metaBytes } = location;
    const segment = this.segments.segmentOf(segmentId);
    const keyBytes = Buffer.byteLength(key, "utf8");
    const metaStart = offset + HEADER_BYTES + keyBytes;
    const metadata =
      metaBytes > 0 ? segment.read(metaStart + META_LENGTH_BYTES, metaBytes - META_LENGTH_BYTES) : null;
    const fs = this.options.fileSystem;
    const fd = fs.open(segment.path, "read");
    let open = true;
    return {
      fd,
      path: segment.path,
      offset: metaStart + metaBytes,
      length: length - RECORD_OVERHEAD - keyBytes - metaBytes,
      recordOffset: offset,
      metadata,
      close() {
        if (!open) return;
        open = false;
        fs.close(fd);
      },
    };
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
    // waits for them in runCompaction before it touches a file. (Registering a backup while
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
    this.committer.stop();
    this.segments.deleteRetiredNow();
    try {
      // After a disk failure nothing more is written: the next open recovers from the files.
      if (this.failure.error === null) {
        await this.snapshotter.queueSnapshot().catch((error) => {
          this.options.logger.error(`could not save the index snapshot on close: ${String(error)}`);
        });
        this.committer.syncAll();
      }
    } finally {
      this.segments.closeAll();
      this.lock.release();
    }
  }

  /** Encodes a record at the end of the active segment (rotating first if it is full). */
  private append(
    batch: WriteBatch,
    op: Op,
    key: string,
    keyBytes: number,
    value: Uint8Array | null,
    metadata: Uint8Array | null = null,
  ): Location {
    const metaBytes = metadataBlockBytes(metadata);
    const length = recordLength(keyBytes, value === null ? 0 : value.length, metaBytes);
    this.makeRoomFor(length);
    const segment = this.segments.active;
    batch.touch(segment);
    encodeRecord(segment.reserve(length), segment.appendPosition, op, key, keyBytes, value, metadata);
    this.snapshotter.noteAppended(length);
    return { segmentId: segment.id, offset: segment.commitAppend(length), length, metaBytes };
  }

  /** Rotates to a new segment if the active one has no room for a record of `length` bytes. */
  private makeRoomFor(length: number): void {
    if (this.segments.active.size === 0 || this.segments.active.size + length <= this.options.maxSegmentBytes)
      return;
    try {
      this.segments.rotate(this.segments.active.id + 1);
    } catch (error) {
      // Nothing of this write is in a file yet: refuse it like any write to a full disk.
      if (!isDiskFull(error)) throw error;
      this.space.noteFull(error);
      throw new DiskFullError("the disk holding the store is full: no room for a new segment file", {
        cause: error,
      });
    }
    this.compactor.maybeStart();
  }

  /** Puts back the index entries that a failed batch changed, newest change first. */
  private rollback(batch: WriteBatch): void {
    const { undoKeys, undoLocations } = batch;
    const previous = { segmentId: 0, offset: 0, length: 0, metaBytes: 0 };
    for (let i = undoKeys.length - 1; i >= 0; i--) {
      const key = undoKeys[i] as string;
      const at = i * UNDO_FIELDS;
      previous.length = undoLocations[at + 2] as number;
      if (previous.length === 0) {
        this.index.delete(key);
        continue;
      }
      previous.segmentId = undoLocations[at] as number;
      previous.offset = undoLocations[at + 1] as number;
      previous.metaBytes = undoLocations[at + 3] as number;
      this.index.set(key, previous);
    }
  }

  /**
   * Validates a key and returns its UTF-8 length; throws InvalidKeyError (KeyTooLargeError past
   * maxKeyBytes). Public so that a server can refuse a key before it reads the value.
   */
  checkKey(key: string): number {
    if (typeof key !== "string" || key.length === 0)
      throw new InvalidKeyError("key must be a non-empty string");
    if (!key.isWellFormed()) {
      throw new InvalidKeyError("key is not valid UTF-8: it contains an unpaired surrogate code unit");
    }
    const keyBytes = Buffer.byteLength(key, "utf8");
    if (keyBytes > this.options.maxKeyBytes) throw new KeyTooLargeError(keyBytes, this.options.maxKeyBytes);
    return keyBytes;
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

/** `set`'s metadata option, checked before anything is written: the bytes, or null for none. */
function checkMetadata(metadata: Uint8Array | undefined): Uint8Array | null {
  if (metadata === undefined) return null;
  if (!(metadata instanceof Uint8Array)) throw new InvalidValueError("metadata must be a Uint8Array");
  if (metadata.length > MAX_METADATA_BYTES) {
    throw new InvalidValueError(`metadata is ${metadata.length} bytes; the limit is ${MAX_METADATA_BYTES}`);
  }
  return metadata;
}
