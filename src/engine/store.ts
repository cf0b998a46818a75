import { closeSync, fsyncSync, mkdirSync, openSync } from "node:fs";
import {
  CorruptionError,
  InvalidKeyError,
  KeyTooLargeError,
  StoreClosedError,
  ValueTooLargeError,
} from "./errors.ts";
import { KeyDir, type ListOptions, type Location } from "./keydir.ts";
import { acquireLock, type DirectoryLock } from "./lock.ts";
import { type KVStoreOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { encodeRecord, HEADER_BYTES, Op, parseRecord, RECORD_OVERHEAD, recordLength } from "./record.ts";
import { replaySegments } from "./recovery.ts";
import { Segment } from "./segment.ts";
import { GroupCommitter, type WriteBatch } from "./writer.ts";

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
  /** Damaged records found on open (skipped in the middle of a segment, or a torn tail). */
  corruptRecords: number;
  /** Bytes cut off torn segment tails on open. */
  truncatedBytes: number;
  sets: number;
  deletes: number;
  /** Group commits: each is one write(2) per touched segment. */
  groupCommits: number;
  fsyncs: number;
}

/** Where a value's bytes sit in a segment file, for streaming them without a copy. */
export interface ValueLocation {
  path: string;
  offset: number;
  length: number;
}

const textEncoder = new TextEncoder();

/**
 * A Bitcask-style store: append-only segment files on disk, an index of key to record location
 * in memory. Reads are synchronous; writes resolve when durable (see `SyncMode`).
 */
export class KVStore {
  private readonly segments = new Map<number, Segment>();
  private active: Segment;
  private readonly committer: GroupCommitter;
  private closing: Promise<void> | null = null;
  private sets = 0;
  private deletes = 0;

  private constructor(
    readonly dir: string,
    private readonly options: ResolvedOptions,
    private readonly keydir: KeyDir,
    private readonly lock: DirectoryLock,
    segments: Segment[],
    private readonly corruptRecords: number,
    private readonly truncatedBytes: number,
  ) {
    for (const segment of segments) this.segments.set(segment.id, segment);
    this.active = segments[segments.length - 1] as Segment;
    this.committer = new GroupCommitter(options.sync, options.syncIntervalMs, options.logger, {
      syncDirectory: () => syncDirectory(dir),
      rollback: (batch) => this.rollback(batch),
      faultInjector: options.faultInjector,
    });
  }

  /** Opens (creating if needed) the store in `dir`: takes its LOCK and rebuilds the index. */
  static async open(dir: string, options: KVStoreOptions = {}): Promise<KVStore> {
    const resolved = resolveOptions(options);
    mkdirSync(dir, { recursive: true });
    const lock = acquireLock(dir);
    try {
      const keydir = new KeyDir();
      const recovered = replaySegments(dir, keydir, resolved.logger);
      syncDirectory(dir);
      return new KVStore(
        dir,
        resolved,
        keydir,
        lock,
        recovered.segments,
        recovered.corruptRecords,
        recovered.truncatedBytes,
      );
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  /** Stores `value` under `key`. Readable at once; resolves when durable. */
  set(key: string, value: Uint8Array | string): Promise<void> {
    try {
      this.assertOpen();
      const keyBytes = this.checkKey(key);
      const bytes = typeof value === "string" ? textEncoder.encode(value) : value;
      if (!(bytes instanceof Uint8Array)) throw new TypeError("value must be a Uint8Array or a string");
      if (bytes.length > this.options.maxValueBytes) {
        throw new ValueTooLargeError(bytes.length, this.options.maxValueBytes);
      }
      const batch = this.committer.batch();
      const location = this.append(batch, Op.Set, key, keyBytes, bytes);
      batch.noteUndo(key, this.keydir.set(key, location));
      this.sets++;
      return batch.promise;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Removes `key`; resolves to whether it existed, once the removal is durable. */
  async delete(key: string): Promise<boolean> {
    this.assertOpen();
    const keyBytes = this.checkKey(key);
    if (!this.keydir.has(key)) return false;
    const batch = this.committer.batch();
    this.append(batch, Op.Delete, key, keyBytes, null);
    batch.noteUndo(key, this.keydir.delete(key));
    this.deletes++;
    await batch.promise;
    return true;
  }

  /** The value stored under `key`, or null. Throws CorruptionError if its record is damaged. */
  get(key: string): Uint8Array | null {
    this.assertOpen();
    const location = this.keydir.get(key);
    if (location === undefined) return null;
    const segment = this.segmentOf(location);
    const record = segment.bytes(location.offset, location.length);
    const parsed = parseRecord(record, 0, record.length);
    if (typeof parsed === "string") throw new CorruptionError(segment.path, location.offset, parsed);
    return record.slice(parsed.valueStart, parsed.valueStart + parsed.valueBytes);
  }

  has(key: string): boolean {
    this.assertOpen();
    return this.keydir.has(key);
  }

  /** Keys in sorted order, optionally filtered and paged. */
  listKeys(options?: ListOptions): string[] {
    this.assertOpen();
    return this.keydir.list(options);
  }

  /**
   * Where the value of `key` sits on disk, so a server can stream it from the file. The bytes
   * are not CRC-checked here; `get()` checks them.
   */
  locateValue(key: string): ValueLocation | null {
    this.assertOpen();
    const location = this.keydir.get(key);
    if (location === undefined) return null;
    const segment = this.segmentOf(location);
    // Make sure the bytes are in the file, not only in the write buffer.
    if (segment.hasBuffered) segment.writeBuffered();
    const keyBytes = Buffer.byteLength(key, "utf8");
    return {
      path: segment.path,
      offset: location.offset + HEADER_BYTES + keyBytes,
      length: location.length - RECORD_OVERHEAD - keyBytes,
    };
  }

  stats(): KVStoreStats {
    this.assertOpen();
    let totalBytes = 0;
    let oldestSegmentId = this.active.id;
    for (const segment of this.segments.values()) {
      totalBytes += segment.size;
      oldestSegmentId = Math.min(oldestSegmentId, segment.id);
    }
    const liveBytes = this.keydir.totalLiveBytes;
    return {
      numKeys: this.keydir.size,
      numSegments: this.segments.size,
      totalBytes,
      liveBytes,
      deadBytes: totalBytes - liveBytes,
      activeSegmentId: this.active.id,
      oldestSegmentId,
      corruptRecords: this.corruptRecords,
      truncatedBytes: this.truncatedBytes,
      sets: this.sets,
      deletes: this.deletes,
      groupCommits: this.committer.batches,
      fsyncs: this.committer.fsyncs,
    };
  }

  /** Flushes and fsyncs every write, closes the files and releases the LOCK. */
  close(): Promise<void> {
    if (this.closing === null) this.closing = this.closeOnce();
    return this.closing;
  }

  get isClosed(): boolean {
    return this.closing !== null;
  }

  private async closeOnce(): Promise<void> {
    await this.committer.drain();
    this.committer.stop();
    try {
      this.committer.syncAll();
    } finally {
      for (const segment of this.segments.values()) segment.close();
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
  ): Location {
    const length = recordLength(keyBytes, value === null ? 0 : value.length);
    if (this.active.size > 0 && this.active.size + length > this.options.maxSegmentBytes) this.rotate();
    const segment = this.active;
    batch.touch(segment);
    encodeRecord(segment.reserve(length), segment.appendPosition, op, key, keyBytes, value);
    return { segmentId: segment.id, offset: segment.commitAppend(length), length };
  }

  /** Seals the active segment and starts the next one. */
  private rotate(): void {
    const next = Segment.create(this.dir, this.active.id + 1);
    this.segments.set(next.id, next);
    this.active = next;
    this.committer.noteNewFile();
  }

  /** Puts back the index entries that a failed batch changed, newest change first. */
  private rollback(batch: WriteBatch): void {
    const undo = batch.undo;
    for (let i = undo.length - 2; i >= 0; i -= 2) {
      const key = undo[i] as string;
      const previous = undo[i + 1] as Location | undefined;
      if (previous === undefined) this.keydir.delete(key);
      else this.keydir.set(key, previous);
    }
  }

  private segmentOf(location: Location): Segment {
    const segment = this.segments.get(location.segmentId);
    if (segment === undefined) throw new Error(`index points to missing segment ${location.segmentId}`);
    return segment;
  }

  /** Validates a key and returns its UTF-8 length. */
  private checkKey(key: string): number {
    if (typeof key !== "string" || key.length === 0)
      throw new InvalidKeyError("key must be a non-empty string");
    if (!key.isWellFormed()) {
      throw new InvalidKeyError("key is not valid UTF-8: it contains an unpaired surrogate code unit");
    }
    const keyBytes = Buffer.byteLength(key, "utf8");
    if (keyBytes > this.options.maxKeyBytes) throw new KeyTooLargeError(keyBytes, this.options.maxKeyBytes);
    return keyBytes;
  }

  private assertOpen(): void {
    // Once close() has begun, no new work starts: it would race the files being closed.
    if (this.closing !== null) throw new StoreClosedError(this.dir);
  }
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
