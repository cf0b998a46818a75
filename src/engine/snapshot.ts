import { join } from "node:path";
import { DamagedIndexError } from "./errors.ts";
import { errorCode, type FileSystem, writeAll } from "./file-system.ts";
import { KeyIndex } from "./index/key-index.ts";
import type { IndexReader } from "./index/serialization.ts";
import type { FaultInjector } from "./options.ts";
import { readU32, writeU32 } from "./record.ts";
import { SlicePacer } from "./slices.ts";
import { decodeLegacySnapshot, isLegacySnapshot } from "./snapshot-legacy.ts";

// index.snapshot: the index as it was at one moment, so that open need not replay everything.
// It is a hint, never the source of truth: open uses it only if it is intact and agrees with
// the segment files, then replays whatever was written after it.
//
// +----------+-----------+-------------------------------+---------+---------+-------------------+
// | KVINDEX3 | seg_count | seg_count x                   | padding | crc32   | index             |
// | 8 bytes  | u32 LE    | (u32 id, u32 covered_length,  | 0 or 4  | of the  | KeyIndex bytes    |
// |          |           |  u32 crc32 of the last        | zeros   | bytes   | (index/           |
// |          |           |  <= 4 KiB before it)          |         | before  | serialization.ts, |
// |          |           |                               |         |         | its own crc32)    |
// +----------+-----------+-------------------------------+---------+---------+-------------------+
//
// The padding puts the index at a multiple of 8 bytes into the file. Every byte is under a
// CRC: the header's, or the index's own. Loading reads each of the index's arrays from the file
// into its final buffer (`KeyIndex.read`), no work per key. The segment table comes first so
// that it can be checked against the files before the index is loaded.
//
// Versions 1 and 2 (KVINDEX1, KVINDEX2: a list of key and location entries) are still loaded,
// into the same index, by snapshot-legacy.ts.

export const SNAPSHOT_FILE = "index.snapshot";
const SNAPSHOT_TEMP_FILE = "index.snapshot.tmp";
const MAGIC = new TextEncoder().encode("KVINDEX3");
const TAIL_CHECK_BYTES = 4096;

/** How much of one segment a snapshot covers, and a checksum of the bytes just before that. */
export interface CoveredSegment {
  id: number;
  coveredLength: number;
  tailCrc: number;
}

export interface DecodedSnapshot {
  segments: CoveredSegment[];
  index: KeyIndex;
}

/** A snapshot of the index at one instant, encoded, with what it covered at that instant. */
export interface EncodedSnapshot {
  /** Every segment, oldest first, with its length at the instant; the last is the active one. */
  segments: CoveredSegment[];
  keys: number;
  /** The file's bytes, in pieces written one after another (see `encodeSnapshot`). */
  pieces: Uint8Array[];
}

/** CRC-32 of the last (up to) 4 KiB before `coveredLength` of a segment's bytes. */
export function tailCrc(
  segmentBytes: (offset: number, length: number) => Uint8Array,
  coveredLength: number,
): number {
  const from = Math.max(0, coveredLength - TAIL_CHECK_BYTES);
  return Bun.hash.crc32(segmentBytes(from, coveredLength - from));
}

/** Bytes before the index: magic, count, table, padding to a multiple of 8 after the CRC. */
function headerBytes(segmentCount: number): number {
  return Math.ceil((MAGIC.length + 4 + segmentCount * 12 + 4) / 8) * 8;
}

/**
 * The snapshot file's bytes for `segments` and `index` (one `serialize()`, at this instant), as
 * two pieces, the header and the index: the index's bytes are not copied again (at 1M keys they
 * are about 44 MB, and this runs on the main thread).
 */
export function encodeSnapshot(segments: CoveredSegment[], index: KeyIndex): Uint8Array[] {
  const indexBytes = index.serialize();
  const header = headerBytes(segments.length);
  const out = new Uint8Array(header);
  out.set(MAGIC);
  let at = MAGIC.length;
  writeU32(out, at, segments.length);
  at += 4;
  for (const segment of segments) {
    writeU32(out, at, segment.id);
    writeU32(out, at + 4, segment.coveredLength);
    writeU32(out, at + 8, segment.tailCrc);
    at += 12;
  }
  writeU32(out, header - 4, Bun.hash.crc32(out.subarray(0, header - 4)));
  return [out, indexBytes];
}

/** Decodes a snapshot file's bytes, or says why they are not a valid snapshot. */
export function decodeSnapshot(bytes: Buffer): DecodedSnapshot | string {
  if (bytes.length >= MAGIC.length + 12 && isLegacySnapshot(bytes)) return decodeLegacySnapshot(bytes);
  return readSnapshot((into, position) => {
    const got = bytes.subarray(position, position + into.length);
    into.set(got);
    return got.length;
  }, bytes.length);
}

/**
 * Reads index.snapshot, or says why it is not a valid snapshot; null when there is none. The
 * index's arrays are read from the file straight into the buffers the index keeps (at 1M keys
 * the file is about 44 MB: a whole-file buffer and a copy out of it cost as much as the read).
 */
export function readSnapshotFromFile(fs: FileSystem, dir: string): DecodedSnapshot | string | null {
  const path = join(dir, SNAPSHOT_FILE);
  let fd: number;
  try {
    fd = fs.open(path, "read");
  } catch (error) {
    if (errorCode(error) === "ENOENT") return null;
    throw error;
  }
  try {
    const length = fs.size(path);
    if (length < MAGIC.length + 12) return "too short";
    const read = (into: Uint8Array, position: number): number => {
      let done = 0;
      while (done < into.length) {
        const got = fs.read(fd, into, done, into.length - done, position + done);
        if (got === 0) break;
        done += got;
      }
      return done;
    };
    const magic = new Uint8Array(MAGIC.length);
    if (read(magic, 0) === MAGIC.length && isLegacySnapshot(magic)) {
      const bytes = Buffer.allocUnsafe(length);
      return read(bytes, 0) === length ? decodeLegacySnapshot(bytes) : "too short";
    }
    return readSnapshot(read, length);
  } finally {
    fs.close(fd);
  }
}

/** Reads a KVINDEX3 snapshot of `length` bytes from `read` (see `IndexReader`). */
function readSnapshot(read: IndexReader, length: number): DecodedSnapshot | string {
  if (length < MAGIC.length + 12) return "too short";
  const start = new Uint8Array(MAGIC.length + 4);
  read(start, 0);
  if (!MAGIC.every((byte, i) => start[i] === byte)) return "wrong magic";
  const segmentCount = readU32(start, MAGIC.length);
  const header = headerBytes(segmentCount);
  if (header > length) return "segment table overruns the file";
  const table = new Uint8Array(header);
  if (read(table, 0) !== header) return "segment table overruns the file";
  if (Bun.hash.crc32(table.subarray(0, header - 4)) !== readU32(table, header - 4))
    return "checksum mismatch";
  const segments: CoveredSegment[] = [];
  for (let i = 0, at = MAGIC.length + 4; i < segmentCount; i++, at += 12) {
    segments.push({
      id: readU32(table, at),
      coveredLength: readU32(table, at + 4),
      tailCrc: readU32(table, at + 8),
    });
  }
  let index: KeyIndex;
  try {
    index = KeyIndex.read((into, position) => read(into, header + position), length - header);
  } catch (error) {
    if (error instanceof DamagedIndexError) return error.message;
    throw error;
  }
  // Per segment rather than per key: a segment the index points into must be covered, and hold
  // at least the live bytes the index puts in it.
  const covered = new Map(segments.map((s) => [s.id, s.coveredLength]));
  for (const [segmentId, live] of index.liveBytesBySegment()) {
    const coveredLength = covered.get(segmentId);
    if (coveredLength === undefined || live > coveredLength)
      return "the index points outside the segments it covers";
  }
  return { segments, index };
}

/** The whole of index.snapshot, or null if there is none (see `readSnapshotFromFile`). */
export function readSnapshotFile(fs: FileSystem, dir: string): Buffer | null {
  return fs.readWhole(join(dir, SNAPSHOT_FILE));
}

/** The snapshot file is written in pieces of this size, with event-loop turns between them. */
const SNAPSHOT_WRITE_CHUNK = 1024 * 1024;

/**
 * Replaces index.snapshot atomically: the bytes go to a temp file that is fsynced, renamed over
 * the old snapshot, and the directory is fsynced, so a crash leaves the old or the new one whole.
 * The bytes are written a chunk at a time in `pacer`'s slices, with fdatasyncs in the background
 * as it goes: written at once (40-120 ms at 1M keys) they stalled every read and write, and
 * their one fdatasync of tens of MB held up the store's own for 25 ms. The syncs on the way
 * change no order: the file is renamed into place only after a last fdatasync that follows
 * every write, as before, and any earlier fdatasync error fails the snapshot (it is not retried).
 */
export async function writeSnapshotFile(
  fs: FileSystem,
  dir: string,
  pieces: Uint8Array[],
  faults: FaultInjector | null,
  pacer: SlicePacer = new SlicePacer(null),
): Promise<void> {
  const temp = join(dir, SNAPSHOT_TEMP_FILE);
  try {
    const fd = fs.open(temp, "replace");
    let syncing: Promise<void> | null = null;
    let syncFailure: { error: unknown } | null = null;
    const startSync = () => {
      if (syncing !== null) return;
      const started: Promise<void> = fs
        .datasyncInBackground(fd)
        .catch((error) => {
          syncFailure ??= { error };
        })
        .finally(() => {
          if (syncing === started) syncing = null;
        });
      syncing = started;
    };
    try {
      let position = 0;
      for (const piece of pieces) {
        for (let at = 0; at < piece.length; at += SNAPSHOT_WRITE_CHUNK) {
          const chunk = piece.subarray(at, at + SNAPSHOT_WRITE_CHUNK);
          writeAll(fs, fd, chunk, position);
          position += chunk.length;
          startSync();
          if (pacer.due()) {
            await pacer.yield(undefined, async () => {
              await syncing;
            });
          }
        }
      }
      await syncing;
      if (syncFailure !== null) throw (syncFailure as { error: unknown }).error;
      // The last fdatasync, after every write: only its success says the whole file is on disk.
      await fs.datasyncInBackground(fd);
    } finally {
      await syncing;
      fs.close(fd);
    }
    faults?.("snapshot:written");
    fs.rename(temp, join(dir, SNAPSHOT_FILE));
  } catch (error) {
    // A failed snapshot costs nothing but the next open's replay time: the old one (if any)
    // stays in place, and the temp file goes, not to take disk space from the data. If even that
    // fails, the first error is the one to report (the next open removes the temp file).
    try {
      fs.remove(temp);
    } catch {}
    throw error;
  }
  fs.syncDirectory(dir);
}
