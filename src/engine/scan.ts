import {
  MAGIC_0,
  MAGIC_1,
  type ParsedRecord,
  type ParseFailure,
  parseRecord,
  RECORD_OVERHEAD,
  readU32,
} from "./record.ts";

/**
 * A resync candidate is trusted once this many whole records follow from it in a row (or the
 * records from it reach the end of the segment): bytes inside a value can look like a record,
 * but not like a run of them, unless the value is itself a copy of a segment.
 */
const TRUSTED_RUN = 8;

export interface ScanResult {
  /** Offset just past the last valid record: where a torn tail starts, if there is one. */
  validEnd: number;
  /** Why the bytes from `validEnd` to the end are not a record, when there are any. */
  tail: ParseFailure | null;
}

/**
 * Walks the records of a segment's bytes in order. A damaged stretch in the middle is reported
 * through `onCorrupt` and skipped: the scan resynchronises on the next offset from which whole
 * records with valid CRCs follow. Damage with no such offset after it is a torn tail, which the
 * caller truncates.
 */
export function scanRecords(
  bytes: Uint8Array,
  onRecord: (record: ParsedRecord, offset: number) => void,
  onCorrupt: (offset: number, length: number, reason: ParseFailure) => void,
): ScanResult {
  const end = bytes.length;
  let at = 0;
  while (at < end) {
    const parsed = parseRecord(bytes, at, end);
    if (typeof parsed !== "string") {
      onRecord(parsed, at);
      at += parsed.length;
      continue;
    }
    const next = resyncPoint(bytes, at, end, parsed);
    if (next === -1) return { validEnd: at, tail: parsed };
    onCorrupt(at, next - at, parsed);
    at = next;
  }
  return { validEnd: end, tail: null };
}

/** Where whole records resume after the damaged record at `at`, or -1 if nowhere. */
function resyncPoint(bytes: Uint8Array, at: number, end: number, failure: ParseFailure): number {
  // Header intact, bytes damaged: the next record most likely starts right after this one.
  if (failure === "bad-crc") {
    const after = at + RECORD_OVERHEAD + readU32(bytes, at + 3) + readU32(bytes, at + 7);
    if (after === end || trustedFrom(bytes, after, end)) return after;
  }
  let candidate = bytes.indexOf(MAGIC_0, at + 1);
  while (candidate !== -1 && candidate < end - 1) {
    if (bytes[candidate + 1] === MAGIC_1 && trustedFrom(bytes, candidate, end)) return candidate;
    candidate = bytes.indexOf(MAGIC_0, candidate + 1);
  }
  return -1;
}

/** Whether whole records follow from `at` to the end, or for at least TRUSTED_RUN of them. */
function trustedFrom(bytes: Uint8Array, at: number, end: number): boolean {
  let run = 0;
  while (at < end) {
    const parsed = parseRecord(bytes, at, end);
    if (typeof parsed === "string") return false;
    if (++run >= TRUSTED_RUN) return true;
    at += parsed.length;
  }
  return run > 0;
}
