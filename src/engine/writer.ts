import type { Location } from "./keydir.ts";
import type { FaultInjector, Logger, SyncMode } from "./options.ts";
import type { Segment } from "./segment.ts";

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
  /** Pairs of key and the location it had before this batch changed it (undefined: absent). */
  readonly undo: (string | Location | undefined)[] = [];

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

  noteUndo(key: string, previous: Location | undefined): void {
    this.undo.push(key, previous);
  }
}

export interface GroupCommitHooks {
  /** fsyncs the data directory, so that newly created segment files survive power loss. */
  syncDirectory(): void;
  /** Puts the index back as it was before `batch`, after its write failed. */
  rollback(batch: WriteBatch): void;
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

  /**
   * Flushes the open batch now, if there is one. Background work (compaction, snapshots) calls
   * it at the start of every slice, so that it never runs while a batch is open: the index it
   * sees then holds only writes that made it to the files, and no rollback can follow.
   */
  flushNow(): void {
    if (this.open !== null) this.flush(this.open);
  }

  /** A new segment file was created; its directory entry must be made durable too. */
  noteNewFile(): void {
    this.directoryDirty = true;
  }

  /** fsyncs every segment written since the last fsync, and the directory if it changed. */
  syncAll(): void {
    for (const segment of this.unsyncedSegments) {
      this.hooks.faultInjector?.("fsync");
      segment.sync();
      this.fsyncs++;
    }
    this.unsyncedSegments.clear();
    if (this.directoryDirty) {
      this.hooks.syncDirectory();
      // Only now: after a failed directory fsync, the next sync must try again.
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
    try {
      for (const segment of batch.segments) {
        this.hooks.faultInjector?.("write");
        segment.writeBuffered();
        this.unsyncedSegments.add(segment);
      }
      if (this.sync === "always") this.syncAll();
    } catch (error) {
      this.fail(batch, error);
      return;
    }
    batch.resolve();
  }

  private fail(batch: WriteBatch, error: unknown): void {
    this.logger.error(`write failed, ${batch.undo.length / 2} writes undone: ${String(error)}`);
    this.hooks.rollback(batch);
    batch.segments.forEach((segment, i) => {
      try {
        segment.truncate(batch.sizesBefore[i] as number);
      } catch (truncateError) {
        this.logger.error(
          `could not cut ${segment.path} back after a failed write: ${String(truncateError)}`,
        );
      }
    });
    batch.reject(error);
  }

  private syncQuietly(): void {
    try {
      this.syncAll();
    } catch (error) {
      this.logger.error(`background fsync failed: ${String(error)}`);
    }
  }
}
