import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { listLeftovers, listSegmentIds } from "./directory.ts";
import { readFileRange, realFileSystem } from "./file-system.ts";
import { KeyIndex } from "./index/key-index.ts";
import { parseRecord } from "./record.ts";
import { firstTearable, mismatch, replayRecords, type ShortSegment, shortSegments } from "./recovery.ts";
import { rejectedTailOffsets } from "./rejected-tail.ts";
import { zeroTailStart } from "./scan.ts";
import { segmentFileName } from "./segment.ts";
import { type DecodedSnapshot, decodeSnapshot, readSnapshotFile, SNAPSHOT_FILE } from "./snapshot.ts";

export interface DamagedRegion {
  file: string;
  offset: number;
  length: number;
  reason: string;
  /** A torn tail (nothing valid after it), which open would cut off. */
  tail: boolean;
  /** Bytes that index.snapshot covered, so fsynced, and the file no longer has: acknowledged
   * writes are gone, and open serves what is left. */
  lost: boolean;
}

/** Records a write failure left in a segment, which the next open cuts off (rejected-tail.ts). */
export interface RejectedTail {
  file: string;
  offset: number;
  length: number;
}

export interface SegmentReport {
  file: string;
  bytes: number;
  records: number;
}

export type SnapshotStatus =
  /** No index.snapshot: open replays every segment. */
  | "absent"
  /** Intact, matches the segments, and gives the same index as a full replay. */
  | "ok"
  /** Intact but written before the segment files last changed (e.g. before a compaction
   * finished): open would ignore it and replay. Not an error. */
  | "stale"
  /** Intact, but it covered bytes that a segment no longer has (listed in `damaged`): open
   * would ignore it, replay what is left and log an error. */
  | "ahead"
  /** Damaged (bad checksum, bad layout): open would ignore it. */
  | "corrupt"
  /** Intact and matching, yet it gives a different index than a full replay: a bug. */
  | "disagrees";

export interface VerifyReport {
  dir: string;
  /** False when any record, the snapshot or the two together are damaged. */
  ok: boolean;
  segments: SegmentReport[];
  /** Valid records in all segments, tombstones included. */
  records: number;
  liveKeys: number;
  liveBytes: number;
  deadBytes: number;
  totalBytes: number;
  damaged: DamagedRegion[];
  snapshot: { status: SnapshotStatus; detail: string | null };
  /** Temp files of an interrupted write, which the next open deletes. */
  leftovers: string[];
  /** Refused writes still in their segments, which the next open cuts off; not counted above. */
  rejectedTails: RejectedTail[];
}

/**
 * Bytes of refused writes in `tail`, what a rejected-tail note cuts: its whole records when only
 * zeros follow them (preallocated past the records, segment.ts, and no refused write of theirs:
 * a report of megabytes refused for one small write misleads), else all of it.
 */
function refusedBytes(tail: Uint8Array): number {
  let end = 0;
  for (;;) {
    const parsed = parseRecord(tail, end, tail.length);
    if (typeof parsed === "string") break;
    end += parsed.length;
  }
  return zeroTailStart(tail) <= end ? end : tail.length;
}

/**
 * Reads every record of every segment and the snapshot of the store in `dir`, and reports what
 * it found. It changes nothing and takes no lock, so it can run beside a live store (whose
 * newest bytes may then show as a torn tail).
 */
export function verify(dir: string): VerifyReport {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
  const ids = listSegmentIds(realFileSystem, dir);
  const cuts = rejectedTailOffsets(realFileSystem, dir);
  const full = KeyIndex.create();
  const segments: SegmentReport[] = [];
  const damaged: DamagedRegion[] = [];
  const rejectedTails: RejectedTail[] = [];
  /** Each segment's length once the next open has cut its rejected tail. */
  const sizes = new Map<number, number>();
  let records = 0;
  let totalBytes = 0;
  // The segments a crash can have torn, read as the next open reads them (recovery.ts).
  const tearable = firstTearable(realFileSystem, dir, ids);
  for (const id of ids) {
    const file = segmentFileName(id);
    let bytes = readFileSync(join(dir, file));
    const cut = cuts.get(id);
    if (cut !== undefined && cut < bytes.length) {
      rejectedTails.push({ file, offset: cut, length: refusedBytes(bytes.subarray(cut)) });
      bytes = bytes.subarray(0, cut);
    }
    sizes.set(id, bytes.length);
    const replayed = replayRecords(
      full,
      id,
      bytes,
      0,
      (offset, length, reason) => damaged.push({ file, offset, length, reason, tail: false, lost: false }),
      id >= tearable,
    );
    const { validEnd, tail } = replayed;
    if (tail !== null)
      damaged.push({
        file,
        offset: validEnd,
        length: bytes.length - validEnd,
        reason: tail,
        tail: true,
        lost: false,
      });
    records += replayed.records;
    // Zeros preallocated past the records are not the segment's bytes (segment.ts).
    const recordBytes = tail === null ? validEnd : bytes.length;
    segments.push({ file, bytes: recordBytes, records: replayed.records });
    totalBytes += recordBytes;
  }
  const snapshotBytes = readSnapshotFile(realFileSystem, dir);
  const decoded = snapshotBytes === null ? null : decodeSnapshot(snapshotBytes);
  const short =
    decoded === null || typeof decoded === "string" ? [] : shortSegments(realFileSystem, dir, ids, decoded);
  for (const { file, coveredLength, size } of short) {
    const has = size === null ? "the file is gone" : `the file has ${size}`;
    const reason = `${SNAPSHOT_FILE} covered ${coveredLength} bytes, ${has}`;
    const offset = size ?? 0;
    damaged.push({ file, offset, length: coveredLength - offset, reason, tail: false, lost: true });
  }
  const snapshot = checkSnapshot(dir, ids, decoded, short, full, sizes);
  return {
    dir,
    ok: damaged.length === 0 && snapshot.status !== "corrupt" && snapshot.status !== "disagrees",
    segments,
    records,
    liveKeys: full.size,
    liveBytes: full.totalLiveBytes,
    deadBytes: totalBytes - full.totalLiveBytes,
    totalBytes,
    damaged,
    snapshot,
    leftovers: listLeftovers(realFileSystem, dir),
    rejectedTails,
  };
}

function checkSnapshot(
  dir: string,
  ids: number[],
  snapshot: DecodedSnapshot | string | null,
  short: ShortSegment[],
  full: KeyIndex,
  sizes: Map<number, number>,
): VerifyReport["snapshot"] {
  if (snapshot === null) return { status: "absent", detail: null };
  if (typeof snapshot === "string") return { status: "corrupt", detail: snapshot };
  if (short.length > 0) {
    const files = short.map((segment) => segment.file).join(", ");
    return { status: "ahead", detail: `${files} lost bytes it covered` };
  }
  const problem = mismatch(realFileSystem, dir, ids, snapshot);
  if (problem !== null) return { status: "stale", detail: problem };
  // Rebuild the index as open would (snapshot, then what follows it) and compare.
  const fromSnapshot = snapshot.index;
  const covered = new Map(snapshot.segments.map((s) => [s.id, s.coveredLength]));
  for (const id of ids) {
    const from = covered.get(id) ?? 0;
    // Only the bytes after what the snapshot covers: the rest was read once already.
    const path = join(dir, segmentFileName(id));
    const size = sizes.get(id) ?? statSync(path).size;
    const bytes = readFileRange(realFileSystem, path, from, size - from);
    replayRecords(fromSnapshot, id, bytes, from, () => {}, id === ids.at(-1));
  }
  if (fromSnapshot.size !== full.size) {
    return {
      status: "disagrees",
      detail: `${SNAPSHOT_FILE} gives ${fromSnapshot.size} keys, the segments ${full.size}`,
    };
  }
  let misplaced: string | null = null;
  full.forEachEntry((id) => {
    const other = fromSnapshot.find(full.keyBytesOf(id));
    if (
      other === -1 ||
      fromSnapshot.segmentIdOf(other) !== full.segmentIdOf(id) ||
      fromSnapshot.offsetOf(other) !== full.offsetOf(id)
    ) {
      misplaced = full.keyOf(id);
      return false;
    }
    return true;
  });
  if (misplaced !== null) {
    return {
      status: "disagrees",
      detail: `${SNAPSHOT_FILE} places key ${JSON.stringify(misplaced)} elsewhere`,
    };
  }
  return { status: "ok", detail: null };
}
