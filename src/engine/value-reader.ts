import { CorruptionError } from "./errors.ts";
import type { FileSystem } from "./file-system.ts";
import type { KeyIndex } from "./index/key-index.ts";
import {
  copyMetadata,
  copyValue,
  copyValueAndMetadata,
  HEADER_BYTES,
  META_LENGTH_BYTES,
  RECORD_OVERHEAD,
  type ValueWithMetadata,
} from "./record.ts";
import type { SegmentSet } from "./segment-set.ts";
import type { OpenValue } from "./store-types.ts";
import type { GroupCommitter } from "./writer.ts";

/** Reads values and their metadata out of the segment records the index points to. */
export class ValueReader {
  constructor(
    private readonly fs: FileSystem,
    private readonly index: KeyIndex,
    private readonly segments: SegmentSet,
    private readonly committer: Pick<GroupCommitter, "flushNow">,
  ) {}

  /** See `KVStore.get`. */
  get(key: string): Uint8Array | null {
    // A view the index reuses (no allocation): read before anything else touches the index.
    const location = this.index.get(key);
    if (location === undefined) return null;
    return this.copyFromRecord(copyValue, location.segmentId, location.offset, location.length);
  }

  /** See `KVStore.getMetadata`. */
  getMetadata(key: string): Uint8Array | null {
    const location = this.index.get(key);
    if (location === undefined || location.metaBytes === 0) return null;
    return this.copyFromRecord(copyMetadata, location.segmentId, location.offset, location.length);
  }

  /** See `KVStore.getWithMetadata`. */
  getWithMetadata(key: string): ValueWithMetadata | null {
    const location = this.index.get(key);
    if (location === undefined) return null;
    return this.copyFromRecord(copyValueAndMetadata, location.segmentId, location.offset, location.length);
  }

  /**
   * Copies a part of a record (`copy`: its value or its metadata) out of the segment's memory
   * map, or out of a read when the map does not reach it; throws CorruptionError when the
   * record is damaged.
   */
  private copyFromRecord<Part>(
    copy: (source: Uint8Array, at: number, length: number) => Part | string,
    segmentId: number,
    offset: number,
    length: number,
  ): Part {
    const segment = this.segments.segmentOf(segmentId);
    const mapped = segment.mappedUpTo(offset + length);
    const part =
      mapped !== null ? copy(mapped, offset, length) : copy(segment.read(offset, length), 0, length);
    if (typeof part === "string") throw new CorruptionError(segment.path, offset, part);
    return part;
  }

  /** See `KVStore.valueLength`. */
  valueLength(key: string): number | null {
    const index = this.index;
    const id = index.find(key);
    if (id === -1) return null;
    // The key's byte length from the index: no second UTF-8 pass over the key.
    return index.lengthOf(id) - RECORD_OVERHEAD - index.keyBytesLengthOf(id) - index.metaBytesOf(id);
  }

  /** See `KVStore.openValue`. */
  openValue(key: string): OpenValue | null {
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
    const fs = this.fs;
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
}
