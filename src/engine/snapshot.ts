import { join } from "node:path";
import { type FileSystem, writeAll } from "./file-system.ts";
import type { Location } from "./keydir.ts";
import type { FaultInjector } from "./options.ts";
import { readU32, writeU32 } from "./record.ts";

// index.snapshot: the index as it was at one moment, so that open need not replay everything.
// It is a hint, never the source of truth: open uses it only if it is intact and agrees with
// the segment files, then replays whatever was written after it.
//
// +----------+-----------+------------------------------+-----------+---------+--------------+---------+-------+
// | KVINDEX2 | seg_count | seg_count x                  | key_count | entries | repeat_count | entries | crc32 |
// | 8 bytes  | u32 LE    | (u32 id, u32 covered_length, | u32 LE    |         | u32 LE       |         |  4 B  |
// |          |           |  u32 crc32 of the last       |           |         |              |         |       |
// |          |           |  <= 4 KiB before it)         |           |         |              |         |       |
// +----------+-----------+------------------------------+-----------+---------+--------------+---------+-------+
// entry: u16 key_len, key (UTF-8), u32 segment id, u32 record offset, u32 record length,
//        u32 meta_bytes (the record's metadata block, see Location)
//
// Version 1 (magic KVINDEX1) had no meta_bytes in its entries. It is still loaded, every
// entry with metaBytes 0: it was written before op 3 records existed, and records written since
// are replayed.
//
// The segment table comes first so that it can be checked against the files before any key is
// loaded. The first entries name distinct keys; the repeated entries come after and replace
// what the first ones said of the same key (see `SnapshotEncoder`). crc32 covers every byte
// before it.

export const SNAPSHOT_FILE = "index.snapshot";
const SNAPSHOT_TEMP_FILE = "index.snapshot.tmp";
const MAGIC = new TextEncoder().encode("KVINDEX2");
const MAGIC_V1 = new TextEncoder().encode("KVINDEX1");
/** Bytes of an entry after its key, by version: segment id, offset, length (, meta_bytes). */
const ENTRY_TAIL_BYTES = 16;
const ENTRY_TAIL_BYTES_V1 = 12;
const TAIL_CHECK_BYTES = 4096;

/** How much of one segment a snapshot covers, and a checksum of the bytes just before that. */
export interface CoveredSegment {
  id: number;
  coveredLength: number;
  tailCrc: number;
}

export interface DecodedSnapshot {
  segments: CoveredSegment[];
  /** Distinct keys and their locations. */
  keys: string[];
  locations: Location[];
  /** Entries applied after those, replacing what they said of the same key. */
  repeats: { keys: string[]; locations: Location[] };
}

/** A snapshot of the index at one instant, encoded, with what it covered at that instant. */
export interface EncodedSnapshot {
  /** Every segment, oldest first, with its length at the instant; the last is the active one. */
  segments: CoveredSegment[];
  keys: number;
  bytes: Uint8Array;
}

/** CRC-32 of the last (up to) 4 KiB before `coveredLength` of a segment's bytes. */
export function tailCrc(
  segmentBytes: (offset: number, length: number) => Uint8Array,
  coveredLength: number,
): number {
  const from = Math.max(0, coveredLength - TAIL_CHECK_BYTES);
  return Bun.hash.crc32(segmentBytes(from, coveredLength - from));
}

/**
 * Builds a snapshot a few entries at a time, so that a large index can be written out between
 * other work. `add` takes entries of distinct keys; after `startRepeats`, `add` takes entries
 * that replace any earlier one of the same key.
 */
export class SnapshotEncoder {
  private out: Uint8Array;
  private at: number;
  private countAt: number;
  private count = 0;

  constructor(segments: CoveredSegment[], expectedKeys: number) {
    this.out = new Uint8Array(MAGIC.length + 16 + segments.length * 12 + expectedKeys * 40);
    this.out.set(MAGIC);
    let at = MAGIC.length;
    writeU32(this.out, at, segments.length);
    at += 4;
    for (const segment of segments) {
      writeU32(this.out, at, segment.id);
      writeU32(this.out, at + 4, segment.coveredLength);
      writeU32(this.out, at + 8, segment.tailCrc);
      at += 12;
    }
    this.countAt = at;
    this.at = at + 4;
  }

  add(key: string, location: Location): void {
    const keyBytes = Buffer.byteLength(key, "utf8");
    this.ensureRoom(keyBytes + 2 + ENTRY_TAIL_BYTES);
    const out = this.out;
    let at = this.at;
    out[at] = keyBytes & 0xff;
    out[at + 1] = keyBytes >>> 8;
    if (keyBytes === key.length) {
      for (let i = 0; i < keyBytes; i++) out[at + 2 + i] = key.charCodeAt(i);
    } else {
      encoder.encodeInto(key, out.subarray(at + 2, at + 2 + keyBytes));
    }
    at += 2 + keyBytes;
    writeU32(out, at, location.segmentId);
    writeU32(out, at + 4, location.offset);
    writeU32(out, at + 8, location.length);
    writeU32(out, at + 12, location.metaBytes);
    this.at = at + ENTRY_TAIL_BYTES;
    this.count++;
  }

  startRepeats(): void {
    this.closeSection();
    this.countAt = this.at;
    this.at += 4;
  }

  finish(): Uint8Array {
    this.closeSection();
    this.ensureRoom(4);
    writeU32(this.out, this.at, Bun.hash.crc32(this.out.subarray(0, this.at)));
    return this.out.subarray(0, this.at + 4);
  }

  private closeSection(): void {
    writeU32(this.out, this.countAt, this.count);
    this.count = 0;
  }

  private ensureRoom(bytes: number): void {
    // Room for the next section's count too.
    if (this.at + bytes + 4 <= this.out.length) return;
    const grown = new Uint8Array(Math.max(this.out.length * 2, this.at + bytes + 4));
    grown.set(this.out.subarray(0, this.at));
    this.out = grown;
  }
}

const encoder = new TextEncoder();

/** Decodes a snapshot file's bytes, or says why they are not a valid snapshot. */
export function decodeSnapshot(bytes: Buffer): DecodedSnapshot | string {
  if (bytes.length < MAGIC.length + 12) return "too short";
  const version1 = MAGIC_V1.every((byte, i) => bytes[i] === byte);
  if (!version1 && !MAGIC.every((byte, i) => bytes[i] === byte)) return "wrong magic";
  const entryTailBytes = version1 ? ENTRY_TAIL_BYTES_V1 : ENTRY_TAIL_BYTES;
  const end = bytes.length - 4;
  if (Bun.hash.crc32(bytes.subarray(0, end)) !== readU32(bytes, end)) return "checksum mismatch";
  let at = MAGIC.length;
  const segmentCount = readU32(bytes, at);
  at += 4;
  if (at + segmentCount * 12 + 4 > end) return "segment table overruns the file";
  const segments: CoveredSegment[] = [];
  const covered = new Map<number, number>();
  for (let i = 0; i < segmentCount; i++, at += 12) {
    const segment = {
      id: readU32(bytes, at),
      coveredLength: readU32(bytes, at + 4),
      tailCrc: readU32(bytes, at + 8),
    };
    segments.push(segment);
    covered.set(segment.id, segment.coveredLength);
  }
  const first = readEntries(bytes, at, end, covered, entryTailBytes);
  if (typeof first === "string") return first;
  const repeats = readEntries(bytes, first.end, end, covered, entryTailBytes);
  if (typeof repeats === "string") return repeats;
  if (repeats.end !== end) return "trailing bytes after the entries";
  return {
    segments,
    keys: first.keys,
    locations: first.locations,
    repeats: { keys: repeats.keys, locations: repeats.locations },
  };
}

interface Entries {
  keys: string[];
  locations: Location[];
  end: number;
}

/** One counted list of entries starting at `at`, each checked against the covered segments. */
function readEntries(
  bytes: Buffer,
  start: number,
  end: number,
  covered: Map<number, number>,
  entryTailBytes: number,
): Entries | string {
  if (start + 4 > end) return "entries overrun the file";
  const count = readU32(bytes, start);
  let at = start + 4;
  const keys: string[] = new Array(count);
  const locations: Location[] = new Array(count);
  for (let i = 0; i < count; i++) {
    if (at + 2 > end) return "entries overrun the file";
    const keyBytes = (bytes[at] as number) | ((bytes[at + 1] as number) << 8);
    at += 2;
    if (at + keyBytes + entryTailBytes > end) return "entries overrun the file";
    keys[i] = bytes.toString("utf8", at, at + keyBytes);
    at += keyBytes;
    const location = {
      segmentId: readU32(bytes, at),
      offset: readU32(bytes, at + 4),
      length: readU32(bytes, at + 8),
      metaBytes: entryTailBytes === ENTRY_TAIL_BYTES ? readU32(bytes, at + 12) : 0,
    };
    at += entryTailBytes;
    const segmentCovered = covered.get(location.segmentId);
    if (segmentCovered === undefined || location.offset + location.length > segmentCovered) {
      return `key ${i} points outside the segments the snapshot covers`;
    }
    if (location.metaBytes > location.length) return `key ${i} has more metadata than record`;
    locations[i] = location;
  }
  return { keys, locations, end: at };
}

export function readSnapshotFile(fs: FileSystem, dir: string): Buffer | null {
  return fs.readWhole(join(dir, SNAPSHOT_FILE));
}

/**
 * Replaces index.snapshot atomically: the bytes go to a temp file that is fsynced, renamed over
 * the old snapshot, and the directory is fsynced, so a crash leaves the old or the new one whole.
 */
export async function writeSnapshotFile(
  fs: FileSystem,
  dir: string,
  bytes: Uint8Array,
  faults: FaultInjector | null,
): Promise<void> {
  const temp = join(dir, SNAPSHOT_TEMP_FILE);
  try {
    const fd = fs.open(temp, "replace");
    try {
      writeAll(fs, fd, bytes, 0);
      await fs.datasyncInBackground(fd);
    } finally {
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
