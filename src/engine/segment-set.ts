import { type CompactionSegments, deleteRetired } from "./compaction.ts";
import { describeCause } from "./errors.ts";
import type { FileSystem } from "./file-system.ts";
import type { FaultInjector, Logger, ResolvedOptions } from "./options.ts";
import { Segment, segmentFileName } from "./segment.ts";
import type { GroupCommitter } from "./writer.ts";

/**
 * The store's segment files: the one being appended to (`active`) and the sealed ones, by id,
 * plus the compacted inputs taken out of use whose files are not deleted yet (`retire`).
 */
export class SegmentSet implements CompactionSegments {
  private readonly byId = new Map<number, Segment>();
  private activeSegment: Segment;
  private readonly retired: Segment[] = [];
  private readonly fs: FileSystem;
  private readonly logger: Logger;
  private readonly faults: FaultInjector | null;
  private readonly preallocateBytes: number;

  /** `segments`: the recovered ones, oldest first (the last one is the active one). */
  constructor(
    private readonly dir: string,
    options: Pick<ResolvedOptions, "fileSystem" | "logger" | "faultInjector" | "preallocateBytes">,
    private readonly committer: Pick<GroupCommitter, "noteNewFile" | "forget">,
    segments: Segment[],
  ) {
    this.fs = options.fileSystem;
    this.logger = options.logger;
    this.faults = options.faultInjector;
    for (const segment of segments) this.byId.set(segment.id, segment);
    this.activeSegment = segments[segments.length - 1] as Segment;
    this.preallocateBytes = options.preallocateBytes;
    this.activeSegment.preallocateBytes = options.preallocateBytes;
  }

  /** The segment being appended to. */
  get active(): Segment {
    return this.activeSegment;
  }

  get count(): number {
    return this.byId.size;
  }

  /** Every segment in use, in no particular order. */
  values(): IterableIterator<Segment> {
    return this.byId.values();
  }

  /** Every segment in use, oldest first. */
  oldestFirst(): Segment[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id);
  }

  /** Bytes of all segment files, and the id of the oldest one. */
  totals(): { totalBytes: number; oldestSegmentId: number } {
    let totalBytes = 0;
    let oldestSegmentId = this.activeSegment.id;
    for (const segment of this.byId.values()) {
      totalBytes += segment.size;
      oldestSegmentId = Math.min(oldestSegmentId, segment.id);
    }
    return { totalBytes, oldestSegmentId };
  }

  segmentOf(segmentId: number): Segment {
    const segment = this.byId.get(segmentId);
    if (segment === undefined) throw new Error(`index points to missing segment ${segmentId}`);
    return segment;
  }

  /** Seals the active segment and starts segment `id`. */
  rotate(id: number): void {
    const next = Segment.create(this.fs, this.dir, id);
    this.byId.set(next.id, next);
    // Its zeros past the records go (now, or once its buffered records are written).
    this.activeSegment.seal();
    next.preallocateBytes = this.preallocateBytes;
    this.activeSegment = next;
    this.committer.noteNewFile();
  }

  dropEmpty(segment: Segment): void {
    this.byId.delete(segment.id);
    this.committer.forget(segment);
    segment.close();
    this.fs.remove(segment.path);
  }

  /** Puts a compaction's output in use. */
  add(segment: Segment): void {
    this.byId.set(segment.id, segment);
  }

  /**
   * Takes compacted inputs out of use and deletes their files at once. A reader streaming a
   * value out of one holds its own open file (`openValue`), which keeps those bytes readable,
   * and their space taken, until it closes it: no timer has to guess how long that takes.
   */
  retire(segments: Segment[]): void {
    for (const segment of segments) {
      this.byId.delete(segment.id);
      this.committer.forget(segment);
      // Retired before it is closed: a file that leaves the index must be deleted (its records
      // would outlive the tombstones that later compactions drop), even if close(2) fails.
      this.retired.push(segment);
      this.closeQuietly(segment);
    }
    this.deleteRetiredNow();
  }

  deleteRetiredNow(): void {
    if (this.retired.length === 0) return;
    try {
      deleteRetired(this.fs, this.dir, this.retired, this.faults);
    } catch (error) {
      // The ones left stay in `retired`: the next compaction tries again first, and will not
      // start while any is left (it would drop tombstones newer than their records). Left on
      // disk at a crash or close they are harmless: open replays them before the copies.
      this.logger.error(`could not delete compacted segments: ${String(error)}`);
    }
  }

  /** File names (without the directory) of retired segments still on disk; empty when none. */
  retiredFileNames(): string[] {
    return this.retired.map((segment) => segmentFileName(segment.id));
  }

  /**
   * Closes every segment file. A failed close(2) is logged, not thrown: it must not keep the
   * other files open or the LOCK held (the disk may be gone, and every call failing), and
   * whatever it reports about the data was already known from the fsyncs before it.
   */
  closeAll(): void {
    for (const segment of this.byId.values()) this.closeQuietly(segment);
  }

  private closeQuietly(segment: Segment): void {
    try {
      segment.close();
    } catch (error) {
      this.logger.error(`could not close ${segment.path}: ${describeCause(error)}`);
    }
  }
}
