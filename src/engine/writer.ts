import { DiskFullError, describeCause } from "./errors.ts";
import { errorCode, type FileSystem, isDiskFull } from "./file-system.ts";
import type { LocationView } from "./index/location.ts";
import type { FaultInjector, Logger, SyncMode } from "./options.ts";
import { markRejectedTail } from "./rejected-tail.ts";
import type { Segment } from "./segment.ts";
import type { StorageFailure } from "./storage-failure.ts";

/**
 * The writes queued since the last flush. They share one promise: every caller's `set()`
 * resolves together when the batch is in the kernel (and on disk, with sync "always").
 */
export class WriteBatch {
  readonly promise: Promise<void>;
  resolve!: () => void;
  reject!: (error: unknown) => void;
  /** Segments this batch appended to, with their sizes before it, to undo a failed write. */
  readonly segments: Segment[] = [];
  readonly sizesBefore: number[] = [];
  /** The keys this batch changed, in order; `undoLocations` holds what each had before. */
  readonly undoKeys: string[] = [];
  /**
   * For each of `undoKeys`, UNDO_FIELDS plain numbers: the segment id, offset, record length and
   * metadata bytes the key had before this batch changed it; length 0 when it was absent. Plain
   * numbers, not objects shared with the index: compaction cannot move what they name while the
   * batch is open, because it relocates only in slices that begin by flushing the open batch
   * (see `GroupCommitter.flushNow` and compaction.ts), and a batch is undone only while it is
   * being flushed.
   */
  readonly undoLocations: number[] = [];
  /** What the batch's callers were told once it failed; null while it has not. */
  failure: unknown = null;
  /** Some of its bytes went straight to a file (`writeThrough`), before any flush. */
  wroteThrough = false;

  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // A failed batch is reported to every caller; do not also report it as unhandled.
    this.promise.catch(() => {});
  }

  touch(segment: Segment): void {
    if (this.segments[this.segments.length - 1] === segment || this.segments.includes(segment)) return;
    this.segments.push(segment);
    this.sizesBefore.push(segment.size);
  }

  /** Notes that `key` had `previous` (a view the index reuses: copied here) before this batch. */
  noteUndo(key: string, previous: LocationView | undefined): void {
    this.undoKeys.push(key);
    if (previous === undefined) this.undoLocations.push(0, 0, 0, 0);
    else this.undoLocations.push(previous.segmentId, previous.offset, previous.length, previous.metaBytes);
  }

  /** Whether a write of this batch changed `key` (a linear search: for the failure path). */
  changed(key: string): boolean {
    return this.undoKeys.includes(key);
  }
}

/** Numbers per entry of `WriteBatch.undoLocations`. */
export const UNDO_FIELDS = 4;

export interface GroupCommitHooks {
  fs: FileSystem;
  /** The data directory: fsynced when segment files are created in it. */
  dir: string;
  /** Latched by a failed fsync, and by a failed write that was not a full disk. */
  failure: StorageFailure;
  /** Puts the index back as it was before `batch`, after its write failed. */
  rollback(batch: WriteBatch): void;
  /** A write was refused because the disk is full. */
  diskFull(error: unknown): void;
  /** Test seam: called before each write(2) and fsync; may throw. */
  faultInjector: FaultInjector | null;
}

/**
 * Group commit. Writes encode their record into the segment's buffer at once (so reads see
 * them) and join the open batch. On the next turn of the event loop (setImmediate) one write(2)
 * per touched segment, and with sync "always" one fsync each, cover the whole batch. Waiting
 * for the next turn, not a microtask, matters: Bun runs the microtasks after each HTTP request,
 * so a microtask flush would give every request its own fsync, while a turn collects every
 * write made by all the requests and callbacks of this one.
 *
 * A failed batch is undone: its index entries are put back and its bytes cut off the files
 * (durably: the cut is fdatasynced), and every caller's promise rejects. A full disk rejects
 * just that batch (`DiskFullError`). Any other failure latches the store's failed state
 * (`StorageFailedError`): after a failed fsync nothing written since the last good one can be
 * trusted to be on disk, so no later write may be acknowledged on top of it.
 */
export class GroupCommitter {
  private open: WriteBatch | null = null;
  private directoryDirty = false;
  private intervalTimer: ReturnType<typeof setInterval> | null = null;
  private readonly unsyncedSegments = new Set<Segment>();
  batches = 0;
  fsyncs = 0;

  constructor(
    private readonly sync: SyncMode,
    syncIntervalMs: number,
    private readonly logger: Logger,
    private readonly hooks: GroupCommitHooks,
  ) {
    if (sync === "interval") {
      this.intervalTimer = setInterval(() => this.syncQuietly(), syncIntervalMs);
      this.intervalTimer.unref();
    }
  }

  /** The batch that the next write joins. */
  batch(): WriteBatch {
    if (this.open !== null) return this.open;
    const batch = new WriteBatch();
    this.open = batch;
    setImmediate(() => {
      if (this.open === batch) this.flush(batch);
    });
    return batch;
  }

  /** The batch that writes join now, if one is open (not yet flushed). */
  openBatch(): WriteBatch | null {
    return this.open;
  }

  /**
   * Flushes the open batch now, if there is one. Background work (compaction, snapshots) calls
   * it at the start of every slice, so that it never runs while a batch is open: the index it
   * sees then holds only writes that made it to the files, and no rollback can follow.
   */
  flushNow(): void {
    if (this.open !== null) this.flush(this.open);
  }

  /**
   * Appends a record too large to buffer (a staged value, staged-value.ts) straight to
   * `segment`'s file, a piece at a time, in a batch of its own: the caller flushes the open batch
   * first, so that the file ends where the record starts. Writes made after this join that batch
   * and share its flush (and fsync), which resolves it. A failure is a failed batch's: the bytes
   * are cut off, and a failed write latches the failed state unless the disk is full. A piece
   * that cannot be produced (the staging file cannot be read) is not the log's failure and
   * latches nothing. Throws the batch's error when the record could not be written.
   */
  writeThrough(segment: Segment, pieces: Iterable<Uint8Array>): WriteBatch {
    if (this.open !== null) throw new Error("a write-through needs the open batch flushed first");
    const batch = this.batch();
    batch.touch(segment);
    const iterator = pieces[Symbol.iterator]();
    for (;;) {
      let piece: IteratorResult<Uint8Array>;
      try {
        piece = iterator.next();
      } catch (error) {
        throw this.failAlone(batch, error);
      }
      if (piece.done === true) return batch;
      try {
        batch.wroteThrough = true;
        this.hooks.faultInjector?.("write");
        segment.writeThrough(piece.value);
        this.unsyncedSegments.add(segment);
      } catch (error) {
        const failure = isDiskFull(error)
          ? error
          : this.hooks.failure.latch(`write to ${segment.path}`, error);
        throw this.failAlone(batch, failure);
      }
    }
  }

  /** A new segment file was created; its directory entry must be made durable too. */
  noteNewFile(): void {
    this.directoryDirty = true;
  }

  /**
   * fsyncs every segment written since the last fsync, and the directory if it changed. A
   * failure latches the store's failed state and throws its `StorageFailedError`; running out of
   * file descriptors to open the directory with only throws.
   */
  syncAll(): void {
    this.hooks.failure.assertWritable();
    for (const segment of this.unsyncedSegments) {
      try {
        this.hooks.faultInjector?.("fsync");
        segment.sync();
      } catch (error) {
        throw this.hooks.failure.latch(`fdatasync of ${segment.path}`, error);
      }
      this.unsyncedSegments.delete(segment);
      this.fsyncs++;
    }
    if (this.directoryDirty) {
      try {
        this.hooks.fs.syncDirectory(this.hooks.dir);
      } catch (error) {
        // The directory could not even be opened (slow readers hold every descriptor, say): no
        // fsync ran, so nothing is in doubt. This batch fails; the next one tries again.
        const code = errorCode(error);
        if (code === "EMFILE" || code === "ENFILE") throw error;
        throw this.hooks.failure.latch(`fsync of the directory ${this.hooks.dir}`, error);
      }
      this.directoryDirty = false;
    }
  }

  /** Segments that left the write path (e.g. removed by compaction) must not be synced. */
  forget(segment: Segment): void {
    this.unsyncedSegments.delete(segment);
  }

  stop(): void {
    if (this.intervalTimer !== null) clearInterval(this.intervalTimer);
    this.intervalTimer = null;
  }

  private flush(batch: WriteBatch): void {
    this.open = null;
    this.batches++;
    // Latched since the batch opened (a background fsync failed): nothing more of it reaches a
    // file. A write-through record already did, and a background fsync may have made it durable:
    // its cut must be made durable too (or noted), like any failed write that reached a file.
    if (this.hooks.failure.error !== null) {
      this.fail(batch, this.hooks.failure.error, batch.wroteThrough);
      return;
    }
    let writing: Segment | null = null;
    try {
      for (const segment of batch.segments) {
        writing = segment;
        this.hooks.faultInjector?.("write");
        segment.writeBuffered();
        this.unsyncedSegments.add(segment);
      }
    } catch (error) {
      const failure = isDiskFull(error)
        ? error
        : this.hooks.failure.latch(`write to ${writing?.path}`, error);
      this.fail(batch, failure, true);
      return;
    }
    if (this.sync === "always") {
      try {
        this.syncAll();
      } catch (error) {
        this.fail(batch, error, true);
        return;
      }
    }
    batch.resolve();
  }

  /**
   * Undoes a failed batch: the index first (so that no read sees it from here on), then its
   * bytes, cut off each file and made durable, so that a restart cannot replay a write its
   * caller was told had failed. A cut that fails latches the failed state and leaves a note
   * that makes recovery cut there (rejected-tail.ts).
   *
   * A batch that filled its segment goes on in the next one. The newest segment is cut first,
   * and once a cut has failed no older one is cut (its note makes recovery cut it): what is
   * left of the batch, in the page cache if the process dies meanwhile or for good if no note
   * can be written, is then a prefix of it, never a later write without the earlier ones.
   */
  private fail(batch: WriteBatch, error: unknown, reachedFiles: boolean): unknown {
    this.hooks.rollback(batch);
    let cutFailed = false;
    for (let i = batch.segments.length - 1; i >= 0; i--) {
      const segment = batch.segments[i] as Segment;
      const sizeBefore = batch.sizesBefore[i] as number;
      // Bytes that reached no file only leave the buffer: there is no order to keep.
      if (!cutFailed || !reachedFiles) {
        try {
          segment.truncate(sizeBefore);
          // Written bytes may reach the disk at any time: the cut must reach it too.
          if (reachedFiles) segment.sync();
          continue;
        } catch (cutError) {
          this.hooks.failure.latch(`cutting a failed write off ${segment.path}`, cutError);
          cutFailed = true;
        }
      }
      const noted = markRejectedTail(this.hooks.fs, this.hooks.dir, segment.id, sizeBefore, this.logger);
      // Recovery will keep this part of the batch: it must keep the older parts too.
      if (!noted && reachedFiles) break;
    }
    const latched = this.hooks.failure.error;
    // A latched failure was logged when it latched.
    if (latched === null) {
      this.logger.error(`write failed, ${batch.undoKeys.length} writes undone: ${describeCause(error)}`);
    }
    const reported = latched ?? (isDiskFull(error) ? this.diskFull(error) : error);
    batch.failure = reported;
    batch.reject(reported);
    return reported;
  }

  /** Fails a write-through's batch, which holds nothing else yet; returns the error it got. */
  private failAlone(batch: WriteBatch, error: unknown): unknown {
    // Nothing else joined it (no await since it opened): no flush of it must follow.
    this.open = null;
    return this.fail(batch, error, true);
  }

  private diskFull(error: unknown): DiskFullError {
    this.hooks.diskFull(error);
    return new DiskFullError(
      `the disk holding the store is full (${errorCode(error)}); nothing was written. ` +
        "Delete keys and compact, or free space (see README, Durability and failures)",
    );
  }

  private syncQuietly(): void {
    try {
      this.syncAll();
    } catch {
      // syncAll latched the failed state and logged it (writes are refused from now on), or
      // found no descriptor to open the directory with: the next sync tries again.
    }
  }
}
