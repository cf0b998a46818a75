import { KeyIndex } from "./index/key-index.ts";
import { readU32 } from "./record.ts";

// index.snapshot as versions 1 and 2 wrote it, read into a KeyIndex so that a store written by
// an older build opens without a full replay once. The current format is in snapshot.ts.
//
// +----------+-----------+------------------------------+-----------+---------+--------------+---------+-------+
// | KVINDEX2 | seg_count | seg_count x                  | key_count | entries | repeat_count | entries | crc32 |
// | 8 bytes  | u32 LE    | (u32 id, u32 covered_length, | u32 LE    |         | u32 LE       |         |  4 B  |
// |          |           |  u32 crc32 of the last       |           |         |              |         |       |
// |          |           |  <= 4 KiB before it)         |           |         |              |         |       |
// +----------+-----------+------------------------------+-----------+---------+--------------+---------+-------+
// entry: u16 key_len, key (UTF-8), u32 segment id, u32 record offset, u32 record length,
//        u32 meta_bytes (the record's metadata block)
//
// Version 1 (magic KVINDEX1) had no meta_bytes in its entries: every entry gets metaBytes 0
// (it was written before op 3 records existed, and records written since are replayed). The
// first entries name distinct keys; the repeated entries replace what they said of the same
// key. crc32 covers every byte before it.

const MAGIC_V2 = new TextEncoder().encode("KVINDEX2");
const MAGIC_V1 = new TextEncoder().encode("KVINDEX1");
/** Bytes of an entry after its key, by version: segment id, offset, length (, meta_bytes). */
const ENTRY_TAIL_BYTES_V2 = 16;
const ENTRY_TAIL_BYTES_V1 = 12;

/** What snapshot.ts decodes (its `DecodedSnapshot`), spelled out to keep the import one-way. */
interface LegacySnapshot {
  segments: { id: number; coveredLength: number; tailCrc: number }[];
  index: KeyIndex;
}

const startsWith = (bytes: Uint8Array, magic: Uint8Array): boolean =>
  magic.every((byte, i) => bytes[i] === byte);

export function isLegacySnapshot(bytes: Uint8Array): boolean {
  return startsWith(bytes, MAGIC_V1) || startsWith(bytes, MAGIC_V2);
}

/** Decodes a version 1 or 2 snapshot into a new index, or says why it is not valid. */
export function decodeLegacySnapshot(bytes: Buffer): LegacySnapshot | string {
  const entryTailBytes = startsWith(bytes, MAGIC_V1) ? ENTRY_TAIL_BYTES_V1 : ENTRY_TAIL_BYTES_V2;
  const end = bytes.length - 4;
  if (Bun.hash.crc32(bytes.subarray(0, end)) !== readU32(bytes, end)) return "checksum mismatch";
  let at = MAGIC_V2.length;
  const segmentCount = readU32(bytes, at);
  at += 4;
  if (at + segmentCount * 12 + 4 > end) return "segment table overruns the file";
  const segments: LegacySnapshot["segments"] = [];
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
  const index = KeyIndex.create();
  // The distinct entries, then the repeats, which replace them: both are plain sets.
  const firstEnd = readEntries(bytes, at, end, covered, entryTailBytes, index);
  if (typeof firstEnd === "string") return firstEnd;
  const repeatsEnd = readEntries(bytes, firstEnd, end, covered, entryTailBytes, index);
  if (typeof repeatsEnd === "string") return repeatsEnd;
  if (repeatsEnd !== end) return "trailing bytes after the entries";
  return { segments, index };
}

/**
 * Sets each entry of one counted list starting at `start` in `index`, checked against the
 * covered segments; returns where the list ends, or what is wrong with it.
 */
function readEntries(
  bytes: Buffer,
  start: number,
  end: number,
  covered: Map<number, number>,
  entryTailBytes: number,
  index: KeyIndex,
): number | string {
  if (start + 4 > end) return "entries overrun the file";
  const count = readU32(bytes, start);
  let at = start + 4;
  for (let i = 0; i < count; i++) {
    if (at + 2 > end) return "entries overrun the file";
    const keyBytes = (bytes[at] as number) | ((bytes[at + 1] as number) << 8);
    at += 2;
    if (at + keyBytes + entryTailBytes > end) return "entries overrun the file";
    const key = bytes.subarray(at, at + keyBytes);
    at += keyBytes;
    const location = {
      segmentId: readU32(bytes, at),
      offset: readU32(bytes, at + 4),
      length: readU32(bytes, at + 8),
      metaBytes: entryTailBytes === ENTRY_TAIL_BYTES_V2 ? readU32(bytes, at + 12) : 0,
    };
    at += entryTailBytes;
    const segmentCovered = covered.get(location.segmentId);
    if (segmentCovered === undefined || location.offset + location.length > segmentCovered) {
      return `key ${i} points outside the segments the snapshot covers`;
    }
    if (location.metaBytes > location.length || location.metaBytes > 0xffff || location.length === 0) {
      return `key ${i} has an impossible record length or metadata size`;
    }
    index.set(key, location);
  }
  return at;
}
