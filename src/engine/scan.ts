import {
  HEADER_BYTES,
  MAGIC_0,
  MAGIC_1,
  type ParsedRecord,
  type ParseFailure,
  parseRecord,
  RECORD_OVERHEAD,
  readU32,
} from "./record.ts";

export interface ScanResult {
  /** Offset just past the last valid record: where a torn tail starts, if there is one. */
  validEnd: number;
  /** Why the bytes from `validEnd` to the end are not a record, when there are any. */
  tail: ParseFailure | null;
}

/** Where whole records resume after a damaged record, and whether its own header points there. */
interface Resync {
  at: number;
  pointed: boolean;
}

/** A record or damaged stretch read after damage, reported once records after it are trusted. */
type Held =
  | { record: ParsedRecord; offset: number }
  | { record: null; offset: number; length: number; reason: ParseFailure };

/**
 * Walks the records of a segment's bytes in order. A damaged stretch in the middle is reported
 * through `onCorrupt` and skipped; damage with nothing trusted after it is a torn tail, which the
 * caller truncates.
 *
 * After damage, the scan resumes at the first whole record with a valid CRC (see `resync`). A
 * value can hold the bytes of a record (a blob that is a copy of a segment), and when the
 * value's own record is damaged the scan may land inside it, so what it finds there is held
 * back until it is trusted. Records from a resync point are trusted when:
 *
 * - the damaged record's own header (its lengths) points exactly at them;
 * - there are two in a row, or they run to the end of the segment;
 * - the damage after them resyncs onto trusted records in turn: a genuine record between two
 *   damaged ones is kept however close they are (a tombstone there must still delete);
 * - one record is followed by a torn tail that starts with the magic, as an interrupted write
 *   of the next record leaves it.
 *
 * A lone record image inside a damaged value followed by the rest of that value, with nothing
 * trusted after, is none of these and goes with the tail. An intact record is parsed whole, so a
 * record image inside its value is never looked at.
 */
export function scanRecords(
  bytes: Uint8Array,
  onRecord: (record: ParsedRecord, offset: number) => void,
  onCorrupt: (offset: number, length: number, reason: ParseFailure) => void,
): ScanResult {
  const end = bytes.length;
  const held: Held[] = [];
  const release = () => {
    for (const item of held) {
      if (item.record !== null) onRecord(item.record, item.offset);
      else onCorrupt(item.offset, item.length, item.reason);
    }
    held.length = 0;
  };
  let validEnd = 0;
  let trusted = true;
  let recordsSinceDamage = 0;
  let at = 0;
  while (at < end) {
    const parsed = parseRecord(bytes, at, end);
    if (typeof parsed !== "string") {
      if (trusted) onRecord(parsed, at);
      else held.push({ record: parsed, offset: at });
      at += parsed.length;
      if (!trusted && (++recordsSinceDamage === 2 || at === end)) {
        release();
        trusted = true;
      }
      if (trusted) validEnd = at;
      continue;
    }
    const next = resync(bytes, at, end);
    if (next === null) {
      // Untrusted here means one record since the damage before it (two would be trusted).
      if (!trusted && bytes[at] === MAGIC_0 && bytes[at + 1] === MAGIC_1) {
        release();
        validEnd = at;
      }
      // What is still held goes with the tail, which starts with the damage that began it.
      const first = held[0];
      return { validEnd, tail: first !== undefined && first.record === null ? first.reason : parsed };
    }
    held.push({ record: null, offset: at, length: next.at - at, reason: parsed });
    at = next.at;
    recordsSinceDamage = 0;
    trusted = next.pointed;
    if (trusted) {
      release();
      validEnd = at;
    }
  }
  return { validEnd, tail: null };
}

/**
 * Where whole records resume after the damaged record at `at`, or null if nowhere: where the
 * record's own lengths say it ends, when a record starts there or the segment ends there (a
 * flipped byte leaves the lengths right more often than not); else the next offset from which
 * a whole record with a valid CRC parses.
 */
function resync(bytes: Uint8Array, at: number, end: number): Resync | null {
  if (end - at >= HEADER_BYTES) {
    const claimedEnd = at + RECORD_OVERHEAD + readU32(bytes, at + 3) + readU32(bytes, at + 7);
    if (claimedEnd === end) return { at: end, pointed: true };
    if (claimedEnd < end && typeof parseRecord(bytes, claimedEnd, end) !== "string")
      return { at: claimedEnd, pointed: true };
  }
  let candidate = bytes.indexOf(MAGIC_0, at + 1);
  while (candidate !== -1 && candidate < end - 1) {
    if (bytes[candidate + 1] === MAGIC_1 && typeof parseRecord(bytes, candidate, end) !== "string")
      return { at: candidate, pointed: false };
    candidate = bytes.indexOf(MAGIC_0, candidate + 1);
  }
  return null;
}
