import { type CompactionResult, compact } from "./compaction.ts";
import { CopyWorker } from "./copy-in-worker.ts";
import type { DiskSpace } from "./disk-space.ts";
import { DiskFullError } from "./errors.ts";
import { isDiskFull, realFileSystem } from "./file-system.ts";
import type { KeyIndex } from "./index/key-index.ts";
import type { IndexWalks } from "./index-walks.ts";
import { MiB, type ResolvedOptions } from "./options.ts";
import type { Segment } from "./segment.ts";
import type { SegmentSet } from "./segment-set.ts";
import { nextTurn } from "./slices.ts";
import type { Snapshotter } from "./snapshotter.ts";
import type { StorageFailure } from "./storage-failure.ts";
import type { GroupCommitter } from "./writer.ts";

/** Free space a compaction leaves untouched beyond what its outputs need. */
const COMPACTION_HEADROOM_BYTES = MiB;

/** The parts of the store a compaction works with. */
export interface CompactorParts {
  dir: string;
  options: ResolvedOptions;
  index: KeyIndex;
  segments: SegmentSet;
  committer: GroupCommitter;
  failure: StorageFailure;
  space: DiskSpace;
  indexWalks: IndexWalks;
  snapshotter: Snapshotter;
  /** Backups under way: they may still link or copy the segments a compaction would delete. */
  backups: ReadonlySet<Promise<unknown>>;
  /** True once the store's close() has begun. */
  isClosed(): boolean;
}

/**
 * Decides when to compact (`maybeStart`) and runs one compaction at a time (compaction.ts does
 * the copy, relocation and retirement), keeping its figures for `stats()`.
 */
export class Compactor {
  compactions = 0;
  /** Bytes of segment files that compactions deleted, less the bytes they wrote. */
  bytesReclaimed = 0;
  lastMs = 0;
  lastLiveRecords = 0;
  /** Compactions that failed (their inputs stay in use). */
  failures = 0;
  private current: Promise<void> | null = null;
  /** Where compactions copy; null: on the main thread. A Worker can only use the real file
   * system, so a store on another one (a test's) copies on the main thread. */
  private readonly copyWorker: CopyWorker | null;

  constructor(private readonly parts: CompactorParts) {
    const { options } = parts;
    this.copyWorker =
      options.compactionWorker && options.fileSystem === realFileSystem ? new CopyWorker() : null;
  }

  /** The compaction under way, or null. */
  get running(): Promise<void> | null {
    return this.current;
  }

  /** Ends the copy Worker, if any (the store's close, once no compaction runs). */
  async endWorker(): Promise<void> {
    await this.copyWorker?.terminate();
  }

  /**
   * Starts a compaction when the sealed segments are more than `compactionThreshold` (and their
   * live data would fit in that many), or when their dead fraction reaches `compactionDeadRatio`.
   */
  maybeStart(): void {
    const { options, segments, index } = this.parts;
    if (!options.autoCompaction || this.current !== null || this.parts.isClosed()) return;
    let sealed = 0;
    let sealedBytes = 0;
    let sealedLive = 0;
    for (const segment of segments.values()) {
      if (segment === segments.active) continue;
      sealed++;
      sealedBytes += segment.size;
      sealedLive += index.liveBytesOf(segment.id);
    }
    const dead = sealedBytes - sealedLive;
    const tooMany =
      sealed > options.compactionThreshold &&
      Math.ceil(sealedLive / options.maxSegmentBytes) <= options.compactionThreshold;
    const tooDead = dead > 0 && dead / sealedBytes >= options.compactionDeadRatio;
    if (!tooMany && !tooDead) return;
    // A failure is counted and logged by start.
    this.start().catch(() => {});
  }

  start(): Promise<void> {
    const run = this.run()
      .catch((error) => {
        this.failures++;
        this.parts.options.logger.error(`compaction failed: ${String(error)}`);
        throw error;
      })
      .finally(() => {
        this.current = null;
      });
    this.current = run;
    return run;
  }

  private async run(): Promise<void> {
    const { options, segments, committer, failure } = this.parts;
    await nextTurn();
    // Backups under way may still link or copy the segments this would delete (see KVStore.backup).
    await Promise.allSettled(this.parts.backups);
    if (this.parts.isClosed()) return;
    segments.deleteRetiredNow();
    const retired = segments.retiredFileNames();
    if (retired.length > 0) {
      // File names without the directory: an HTTP client may be shown this message.
      const names = retired.join(", ");
      throw new Error(`cannot compact until the files of the last compaction are deleted: ${names}`);
    }
    // Every slice of compaction starts with no write batch open (see compaction.ts).
    committer.flushNow();
    failure.assertWritable();
    const started = performance.now();
    // An empty active segment (such as the one a failed compaction leaves) is replaced rather
    // than sealed: failed attempts must not pile up segment files.
    const emptyActive = segments.active.size === 0 ? segments.active : null;
    const { inputs, live } = this.inputs(emptyActive);
    // Outputs take the ids between the sealed active segment and the next one. Packing records
    // in order into segments of at most maxSegmentBytes needs at most 2 * ceil(live / max) + 1.
    const sealedActive = segments.active.id;
    const gap = 2 * Math.ceil(live / options.maxSegmentBytes) + 2;
    segments.rotate(sealedActive + gap);
    const firstNewSegment = segments.active.id;
    if (emptyActive !== null) segments.dropEmpty(emptyActive);
    // With sync "interval" or "never" the inputs may hold records not yet on disk. Their
    // tombstones are not copied, and the inputs stay on disk until their deletion is made
    // durable: were the copies durable while a tombstone was not, a power cut would bring its
    // key back. So the inputs are made durable before any copy is.
    committer.syncAll();
    let result: CompactionResult;
    try {
      const fallingBehind = () => segments.active.id - firstNewSegment >= options.compactionThreshold;
      result = await this.compactInto(inputs, sealedActive + 1, sealedActive + gap - 1, fallingBehind);
    } catch (error) {
      if (failure.error !== null) throw failure.error;
      if (isDiskFull(error)) {
        throw new DiskFullError("compaction ran out of disk space; its inputs stay in use", { cause: error });
      }
      throw error;
    }
    if (result.aborted) {
      // Stopped by a disk failure of the write path (rather than by close): say so.
      if (failure.error !== null && !this.parts.isClosed()) throw failure.error;
      return;
    }
    this.compactions++;
    this.bytesReclaimed += result.bytesBefore - result.bytesAfter;
    this.lastMs = performance.now() - started;
    this.lastLiveRecords = result.liveRecords;
    options.logger.info(
      `compacted ${result.inputs} segments into ${result.outputs}: ${result.liveRecords} live records, ` +
        `${result.bytesBefore - result.bytesAfter} bytes reclaimed in ${this.lastMs.toFixed(0)} ms ` +
        `(copied on the ${result.copiedIn})`,
    );
    // The old snapshot names the deleted segments; replace it (close saves its own). The
    // compaction is done either way: without a new snapshot the next open replays every segment.
    if (!this.parts.isClosed()) {
      await this.parts.snapshotter.queueSnapshot().catch((error) => {
        options.logger.error(`could not save the index snapshot after a compaction: ${String(error)}`);
      });
    }
  }

  /**
   * The segments to compact: all of them (the active one is sealed for it) when their live
   * bytes fit in the free disk space; on a fuller disk, the oldest ones whose live bytes fit.
   * Only a run of the oldest segments may be compacted alone: compaction drops tombstones,
   * which is safe only when every older record of their keys goes with them.
   */
  private inputs(skip: Segment | null): { inputs: Segment[]; live: number } {
    const { index, options } = this.parts;
    const segments = this.parts.segments.oldestFirst().filter((s) => s !== skip);
    // Sealing the active segment (below, before the copy) gives its preallocated zeros back.
    const active = this.parts.segments.active;
    const free = this.parts.space.freeBytes() + (active === skip ? 0 : active.preallocatedBytes);
    const budget = free - COMPACTION_HEADROOM_BYTES;
    const inputs: Segment[] = [];
    let live = 0;
    for (const segment of segments) {
      const segmentLive = index.liveBytesOf(segment.id);
      if (live + segmentLive > budget) break;
      inputs.push(segment);
      live += segmentLive;
    }
    if (inputs.length === 0 && segments.length > 0) {
      const oldest = segments[0] as Segment;
      throw new DiskFullError(
        `compaction needs about ${index.liveBytesOf(oldest.id) + COMPACTION_HEADROOM_BYTES} bytes free ` +
          `to rewrite the oldest segment, and ${Math.max(0, free)} are free: ` +
          "delete keys or free space first",
      );
    }
    if (inputs.length < segments.length) {
      options.logger.warn(
        `compacting the oldest ${inputs.length} of ${segments.length} segments: only ${free} bytes are free`,
      );
    }
    return { inputs, live };
  }

  private compactInto(
    inputs: Segment[],
    firstOutputId: number,
    lastOutputId: number,
    fallingBehind: () => boolean,
  ): Promise<CompactionResult> {
    const { options, failure } = this.parts;
    return compact({
      fs: options.fileSystem,
      dir: this.parts.dir,
      index: this.parts.index,
      inputs,
      firstOutputId,
      lastOutputId,
      maxSegmentBytes: options.maxSegmentBytes,
      copyWorker: this.copyWorker,
      logger: options.logger,
      faults: options.faultInjector,
      failure,
      aborted: () => this.parts.isClosed() || failure.error !== null,
      fallingBehind,
      writes: this.parts.committer,
      indexWalks: this.parts.indexWalks,
      segments: this.parts.segments,
    });
  }
}
