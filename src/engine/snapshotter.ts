import type { KeyIndex } from "./index/key-index.ts";
import type { IndexWalks } from "./index-walks.ts";
import type { ResolvedOptions } from "./options.ts";
import type { SegmentSet } from "./segment-set.ts";
import { SlicePacer } from "./slices.ts";
import { type EncodedSnapshot, encodeSnapshot, tailCrc, writeSnapshotFile } from "./snapshot.ts";
import type { GroupCommitter } from "./writer.ts";

/** What a scheduled background snapshot checks before it starts. */
export interface SnapshotGate {
  /** close() has begun: it saves its own snapshot. */
  isClosed(): boolean;
  /** A compaction is running: it saves one when it finishes. */
  isCompacting(): boolean;
}

/**
 * Saves the index to index.snapshot: in the background every `snapshotEveryBytes` appended, and
 * when asked (a compaction's end, close, `saveSnapshot`), one at a time. Also captures the index
 * for a backup.
 */
export class Snapshotter {
  /** Snapshots saved since the store opened. */
  saved = 0;
  private queue: Promise<void> = Promise.resolve();
  /** A background snapshot is scheduled, queued or being written (see schedule). */
  private background = false;
  private bytesSinceSnapshot = 0;

  constructor(
    private readonly dir: string,
    private readonly options: Pick<
      ResolvedOptions,
      "fileSystem" | "faultInjector" | "logger" | "snapshotEveryBytes"
    >,
    private readonly index: KeyIndex,
    private readonly segments: SegmentSet,
    private readonly committer: Pick<GroupCommitter, "flushNow" | "syncAll" | "batches">,
    private readonly walks: IndexWalks,
    private readonly gate: SnapshotGate,
  ) {}

  /** Counts `length` appended bytes towards the next index snapshot. */
  noteAppended(length: number): void {
    this.bytesSinceSnapshot += length;
    const every = this.options.snapshotEveryBytes;
    if (every > 0 && this.bytesSinceSnapshot >= every) this.schedule();
  }

  /** Snapshots are saved one at a time, in the order asked for. */
  queueSnapshot(): Promise<void> {
    const run = this.queue.then(() => this.writeSnapshot());
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * Resolves once every snapshot queued so far has ended, saved or not (it never rejects). A
   * snapshot is written over many event-loop turns (snapshot.ts): close() waits for this before
   * it releases the LOCK even when it saves no snapshot of its own (after a disk failure), or
   * the one under way went on writing, and renamed itself into place, in a directory the store
   * no longer owned.
   */
  settled(): Promise<void> {
    return this.queue;
  }

  /**
   * Encodes the index as it is when this starts, with every write before it fsynced: one
   * synchronous `serialize()` (a copy of each column, no per-key work), so no write can come
   * between the segment lengths saved and the index saved. `atStart` runs at that instant.
   */
  captureIndex(atStart: () => void = () => {}): Promise<EncodedSnapshot> {
    return this.walks.exclusive(async () => {
      this.committer.flushNow();
      // The start: every write so far is in the files and fsynced; the segment lengths saved
      // here are what the index below describes.
      this.committer.syncAll();
      const covered = this.segments.oldestFirst().map((segment) => ({
        id: segment.id,
        coveredLength: segment.size,
        tailCrc: tailCrc((offset, length) => segment.bytes(offset, length), segment.size),
      }));
      atStart();
      return { segments: covered, keys: this.index.size, pieces: encodeSnapshot(covered, this.index) };
    });
  }

  /**
   * Queues a background snapshot unless one is already scheduled, queued or being written: the
   * writes that cross the threshold meanwhile are in the next one anyway. (Queuing one per
   * crossing piled up full snapshots faster than they were written.)
   */
  private schedule(): void {
    if (this.background) return;
    this.background = true;
    setImmediate(() => {
      // A running compaction saves one when it finishes.
      if (this.gate.isClosed() || this.gate.isCompacting()) {
        this.background = false;
        return;
      }
      this.queueSnapshot()
        .catch((error) => {
          this.options.logger.error(`background index snapshot failed: ${String(error)}`);
        })
        .finally(() => {
          this.background = false;
        });
    });
  }

  /** Saves the index as it is when this starts (see `captureIndex`) to index.snapshot. */
  private async writeSnapshot(): Promise<void> {
    const { pieces } = await this.captureIndex(() => {
      this.bytesSinceSnapshot = 0;
    });
    // Written in slices that give way to the store's writes (slices.ts).
    const pacer = new SlicePacer(() => this.committer.batches);
    await writeSnapshotFile(this.options.fileSystem, this.dir, pieces, this.options.faultInjector, pacer);
    this.saved++;
  }
}
