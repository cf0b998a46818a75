import { join } from "node:path";
import { listSegmentIds, removeLeftovers } from "./directory.ts";
import { type FileSystem, readFileRange } from "./file-system.ts";
import { KeyIndex } from "./index/key-index.ts";
import type { Logger } from "./options.ts";
import { CRC_BYTES, HEADER_BYTES, MAGIC_0, MAGIC_1, Op, RECORD_OVERHEAD, readU32 } from "./record.ts";
import { cutRejectedTails } from "./rejected-tail.ts";
import { type ScanResult, scanRecords } from "./scan.ts";
import { Segment, segmentFileName } from "./segment.ts";
import { type DecodedSnapshot, readSnapshotFromFile, SNAPSHOT_FILE, tailCrc } from "./snapshot.ts";

/** What happened to index.snapshot on open. */
export type SnapshotUse = "loaded" | "absent" | "ignored";

export interface RecoveredState {
  index: KeyIndex;
  /** Every segment, oldest first; the last one is the active segment. */
  segments: Segment[];
  corruptRecords: number;
  truncatedBytes: number;
  snapshot: SnapshotUse;
  /** Bytes of segment files read to rebuild the index (all of them without a snapshot). */
  replayedBytes: number;
}

/**
 * Rebuilds the index: from index.snapshot when it is intact and agrees with the segment files,
 * then by replaying, in id order, every byte written after what the snapshot covered (all of
 * every segment without one), so that the newest record of each key wins. Torn tails are cut
 * off; corrupt records in the middle are skipped and counted.
 */
export function recover(fs: FileSystem, dir: string, logger: Logger): RecoveredState {
  removeLeftovers(fs, dir, logger);
  cutRejectedTails(fs, dir, logger);
  const ids = listSegmentIds(fs, dir);
  const decoded = readSnapshotFromFile(fs, dir);
  // Such a snapshot is ignored below, like any that does not match; but what it covered had
  // been acknowledged, and the replay can only serve what is left (older values, deleted keys).
  const lost = decoded === null || typeof decoded === "string" ? [] : shortSegments(fs, dir, ids, decoded);
  for (const short of lost) logger.error(describeLoss(short));
  const snapshot = decoded === null ? "absent" : usableSnapshot(fs, dir, ids, decoded, logger);
  const state: RecoveredState = {
    index: typeof snapshot === "string" ? KeyIndex.create() : snapshot.index,
    segments: [],
    corruptRecords: lost.length,
    truncatedBytes: 0,
    snapshot: snapshot === "absent" ? "absent" : typeof snapshot === "string" ? "ignored" : "loaded",
    replayedBytes: 0,
  };
  const covered = new Map<number, number>();
  if (typeof snapshot !== "string") for (const s of snapshot.segments) covered.set(s.id, s.coveredLength);
  const tearable = firstTearable(fs, dir, ids);
  try {
    for (const id of ids)
      state.segments.push(
        replaySegment(
          fs,
          dir,
          id,
          { tearable: id >= tearable, active: id === ids.at(-1) },
          covered.get(id) ?? 0,
          logger,
          state,
        ),
      );
    if (state.segments.length === 0) state.segments.push(Segment.create(fs, dir, 1));
    // Names removed (leftovers) and created (the first segment) here must be durable too.
    fs.syncDirectory(dir);
  } catch (error) {
    for (const segment of state.segments) segment.close();
    throw error;
  }
  return state;
}

/**
 * The id of the oldest segment a crash can have torn (see `scanRecords`' `newest`): the newest
 * one, and before it each one that a newer one with no whole record at its start follows. A
 * batch that fills its segment goes on in the next (writer.ts), whose file is made at the
 * rotation: a power cut before the batch's fdatasync can leave that file's name on disk, empty
 * (or holding the batch's torn rest, or zeros), while the segment the batch filled ends in a torn
 * record. Scanned as a sealed segment, that record's value would be searched for records, and
 * record images in a client's value deleted or overwrote other keys. A newer segment that starts
 * with a whole record was written to by a later batch (or by this one, its pages reaching the
 * disk before the older segment's, which this cannot tell apart): the one before it is sealed.
 */
export function firstTearable(fs: FileSystem, dir: string, ids: number[]): number {
  let at = ids.length - 1;
  while (at > 0 && !startsWithRecord(fs, join(dir, segmentFileName(ids[at] as number)))) at--;
  return ids[at] ?? 0;
}

/** Read a piece at a time: a segment's first record may be a value of gigabytes (staged-value.ts). */
const CRC_CHUNK_BYTES = 1024 * 1024;

/** Whether the file at `path` starts with a whole record: its magic, and a CRC that matches. */
function startsWithRecord(fs: FileSystem, path: string): boolean {
  const size = fs.size(path);
  if (size < RECORD_OVERHEAD) return false;
  const header = readFileRange(fs, path, 0, HEADER_BYTES);
  if (header[0] !== MAGIC_0 || header[1] !== MAGIC_1) return false;
  const crcAt = RECORD_OVERHEAD + readU32(header, 3) + readU32(header, 7) - CRC_BYTES;
  if (crcAt + CRC_BYTES > size) return false;
  let crc = 0;
  for (let at = 0; at < crcAt; at += CRC_CHUNK_BYTES) {
    crc = Bun.hash.crc32(readFileRange(fs, path, at, Math.min(CRC_CHUNK_BYTES, crcAt - at)), crc);
  }
  return crc === readU32(readFileRange(fs, path, crcAt, CRC_BYTES), 0);
}

/**
 * The snapshot if it can be trusted with these segment files; otherwise why not. `decoded` is
 * what decoding index.snapshot gave: the snapshot, or why it is damaged.
 */
function usableSnapshot(
  fs: FileSystem,
  dir: string,
  ids: number[],
  decoded: DecodedSnapshot | string,
  logger: Logger,
): DecodedSnapshot | string {
  const problem = typeof decoded === "string" ? decoded : mismatch(fs, dir, ids, decoded);
  if (problem === null) return decoded;
  logger.warn(`ignoring ${SNAPSHOT_FILE} (${problem}); replaying every segment`);
  return problem;
}

/** A segment file that is shorter than index.snapshot covered, or gone (`size` null). */
export interface ShortSegment {
  file: string;
  coveredLength: number;
  size: number | null;
}

/**
 * The segments that no longer hold every byte `snapshot` covered. A snapshot covers only bytes
 * that were fsynced, and nothing cuts a segment back below that (a failed write is cut back to
 * where it began, after every fsynced byte; a torn tail lies after them too), so a shorter
 * segment has lost acknowledged writes: not a stale snapshot but damage.
 *
 * A covered segment that is gone altogether may be a compaction's input, deleted after its
 * records were copied. But compaction takes the oldest segments, deletes them oldest first, and
 * starts a segment newer than all of them: a gone segment with an older covered one still on
 * disk, or with none newer, was lost too.
 */
export function shortSegments(
  fs: FileSystem,
  dir: string,
  ids: number[],
  snapshot: DecodedSnapshot,
): ShortSegment[] {
  const onDisk = new Set(ids);
  const newestOnDisk = ids.length === 0 ? 0 : (ids[ids.length - 1] as number);
  const short: ShortSegment[] = [];
  let olderOnDisk = false;
  for (const { id, coveredLength } of [...snapshot.segments].sort((a, b) => a.id - b.id)) {
    const file = segmentFileName(id);
    if (!onDisk.has(id)) {
      const compacted = !olderOnDisk && id < newestOnDisk;
      if (coveredLength > 0 && !compacted) short.push({ file, coveredLength, size: null });
      continue;
    }
    olderOnDisk = true;
    const size = fs.size(join(dir, file));
    if (size < coveredLength) short.push({ file, coveredLength, size });
  }
  return short;
}

function describeLoss({ file, coveredLength, size }: ShortSegment): string {
  const now = size === null ? "is gone" : `is ${size} bytes`;
  return (
    `${file} ${now} but ${SNAPSHOT_FILE} covered ${coveredLength} fsynced bytes of it: ` +
    `${coveredLength - (size ?? 0)} bytes of acknowledged writes are lost`
  );
}

/** Why the snapshot does not describe these segment files, or null if it does. */
export function mismatch(
  fs: FileSystem,
  dir: string,
  ids: number[],
  snapshot: DecodedSnapshot,
): string | null {
  const onDisk = new Set(ids);
  let newestCovered = 0;
  for (const segment of snapshot.segments) {
    const name = segmentFileName(segment.id);
    if (!onDisk.has(segment.id)) return `${name} is gone`;
    const path = join(dir, name);
    if (fs.size(path) < segment.coveredLength) return `${name} is shorter than the snapshot says`;
    if (
      tailCrc((offset, length) => readFileRange(fs, path, offset, length), segment.coveredLength) !==
      segment.tailCrc
    ) {
      return `${name} does not hold the bytes the snapshot saw`;
    }
    newestCovered = Math.max(newestCovered, segment.id);
  }
  const covered = new Set(snapshot.segments.map((s) => s.id));
  // A segment the snapshot does not know must be newer than all it knows (written after it);
  // an older unknown one means the files changed under it (e.g. a compaction finished later).
  const stranger = ids.find((id) => !covered.has(id) && id < newestCovered);
  return stranger === undefined ? null : `${segmentFileName(stranger)} is not in the snapshot`;
}

function replaySegment(
  fs: FileSystem,
  dir: string,
  id: number,
  /** Whether a crash can have torn it (`firstTearable`), and whether it is appended to next. */
  { tearable, active }: { tearable: boolean; active: boolean },
  from: number,
  logger: Logger,
  state: RecoveredState,
): Segment {
  const name = segmentFileName(id);
  const path = join(dir, name);
  const size = fs.size(path);
  const bytes = readFileRange(fs, path, from, size - from);
  const { validEnd, tail } = replayRecords(
    state.index,
    id,
    bytes,
    from,
    (offset, length, reason) => {
      state.corruptRecords++;
      logger.warn(`skipped ${length} corrupt bytes (${reason}) in ${name} at offset ${offset}`);
    },
    tearable,
  );
  // Preallocated zeros after the records are read, but hold nothing to replay.
  state.replayedBytes += (tail === null ? validEnd : size) - from;
  if (tail === null && validEnd < size) {
    // Zeros preallocated past the records (segment.ts): the records end here. The segment
    // appended to keeps them; an older one is cut to its records (a crash came between the
    // rotation and the cut).
    const segment = Segment.open(fs, dir, id, validEnd, size);
    if (!active) segment.seal();
    return segment;
  }
  const segment = Segment.open(fs, dir, id, size);
  if (tail !== null) {
    const cut = size - validEnd;
    state.truncatedBytes += cut;
    state.corruptRecords++;
    logger.warn(`truncated a torn tail of ${cut} bytes (${tail}) in ${name} at offset ${validEnd}`);
    try {
      segment.truncate(validEnd);
      segment.sync();
    } catch (error) {
      // Not in `state.segments` yet: recover()'s cleanup would not close it.
      segment.close();
      throw error;
    }
  }
  return segment;
}

/**
 * Applies the records in `bytes`, which start at offset `from` of segment `segmentId`, to the
 * index. Offsets passed out, and `validEnd`, are offsets in the segment. When only zeros follow
 * the last record (preallocated space, segment.ts), there is no tail and `validEnd` is where
 * the records end, before the end of `bytes`.
 */
export function replayRecords(
  index: KeyIndex,
  segmentId: number,
  bytes: Buffer,
  from: number,
  onCorrupt: (offset: number, length: number, reason: string) => void,
  /** A segment a crash can have torn (`firstTearable`, `scanRecords`' `newest`). */
  newest: boolean,
): ScanResult & { records: number } {
  let records = 0;
  // One object for every record: the index copies its fields.
  const location = { segmentId, offset: 0, length: 0, metaBytes: 0 };
  const result = scanRecords(
    bytes,
    (record, offset) => {
      records++;
      // The key's bytes as they are in the file: no string per record.
      const key = bytes.subarray(record.keyStart, record.keyStart + record.keyBytes);
      if (record.op === Op.Delete) index.delete(key);
      else {
        location.segmentId = segmentId;
        location.offset = from + offset;
        location.length = record.length;
        location.metaBytes = record.metaBytes;
        index.set(key, location);
      }
    },
    (offset, length, reason) => onCorrupt(from + offset, length, reason),
    newest,
  );
  return { validEnd: from + result.validEnd, tail: result.tail, records };
}
