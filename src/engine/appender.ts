import type { Compactor } from "./compactor.ts";
import { crc32Combine } from "./crc32-combine.ts";
import type { DiskSpace } from "./disk-space.ts";
import { DiskFullError } from "./errors.ts";
import { isDiskFull } from "./file-system.ts";
import type { KeyIndex } from "./index/key-index.ts";
import {
  encodeRecord,
  encodeRecordCrc,
  encodeRecordHead,
  HEADER_BYTES,
  metadataBlockBytes,
  Op,
  recordLength,
} from "./record.ts";
import type { SegmentSet } from "./segment-set.ts";
import type { Snapshotter } from "./snapshotter.ts";
import type { StagedValue } from "./staged-value.ts";
import type { Location } from "./store-types.ts";
import { type GroupCommitter, UNDO_FIELDS, type WriteBatch } from "./writer.ts";

/**
 * Encodes records at the end of the active segment, rotating to a new one when it is full (and
 * then letting the compactor decide whether to start), and counts the bytes towards the next
 * index snapshot. The store checks the request and applies the result to the index.
 */
export class Appender {
  constructor(
    private readonly maxSegmentBytes: number,
    private readonly segments: SegmentSet,
    private readonly committer: GroupCommitter,
    private readonly space: DiskSpace,
    private readonly snapshotter: Snapshotter,
    private readonly compactor: Pick<Compactor, "maybeStart">,
  ) {}

  /** Encodes a record at the end of the active segment (rotating first if it is full). */
  append(
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

  /**
   * Writes a staged value's record straight to the active segment, its value copied from the
   * staging file, in a batch of its own that later writes join (GroupCommitter.writeThrough).
   * The open batch must have been flushed: the file must end where the record starts.
   */
  appendStaged(
    staged: StagedValue,
    keyBytes: number,
    metadata: Uint8Array | null,
  ): { batch: WriteBatch; location: Location } {
    const metaBytes = metadataBlockBytes(metadata);
    const length = recordLength(keyBytes, staged.size, metaBytes);
    this.makeRoomFor(length);
    const segment = this.segments.active;
    const head = new Uint8Array(HEADER_BYTES + keyBytes + metaBytes);
    const op = metadata === null ? Op.Set : Op.SetWithMetadata;
    encodeRecordHead(head, 0, op, staged.key, keyBytes, staged.size, metadata);
    const crc = crc32Combine(Bun.hash.crc32(head), staged.crc32, staged.size);
    const offset = segment.size;
    const batch = this.committer.writeThrough(segment, staged.recordPieces(head, encodeRecordCrc(crc)));
    this.snapshotter.noteAppended(length);
    return { batch, location: { segmentId: segment.id, offset, length, metaBytes } };
  }

  /** Rotates to a new segment if the active one has no room for a record of `length` bytes. */
  private makeRoomFor(length: number): void {
    const active = this.segments.active;
    if (active.size === 0 || active.size + length <= this.maxSegmentBytes) return;
    try {
      this.segments.rotate(active.id + 1);
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
}

/** Puts back the index entries that a failed batch changed, newest change first. */
export function rollBack(index: KeyIndex, batch: WriteBatch): void {
  const { undoKeys, undoLocations } = batch;
  const previous = { segmentId: 0, offset: 0, length: 0, metaBytes: 0 };
  for (let i = undoKeys.length - 1; i >= 0; i--) {
    const key = undoKeys[i] as string;
    const at = i * UNDO_FIELDS;
    previous.length = undoLocations[at + 2] as number;
    if (previous.length === 0) {
      index.delete(key);
      continue;
    }
    previous.segmentId = undoLocations[at] as number;
    previous.offset = undoLocations[at + 1] as number;
    previous.metaBytes = undoLocations[at + 3] as number;
    index.set(key, previous);
  }
}
