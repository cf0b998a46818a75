import { MAGIC_0, MAGIC_1, type ParsedRecord, type ParseFailure, parseRecord } from "./record.ts";

export interface ScanResult {
  /** Offset just past the last valid record: where a torn tail starts, if there is one. */
  validEnd: number;
  /** Why the bytes from `validEnd` to the end are not a record, when there are any. */
  tail: ParseFailure | null;
}

/**
 * Walks the records of a segment's bytes in order. A damaged stretch in the middle is reported
 * through `onCorrupt` and skipped: the scan resynchronises on the next offset where a whole
 * record with a valid CRC starts. Damage with no valid record after it is a torn tail, which
 * the caller truncates.
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
    const next = findNextRecord(bytes, at + 1, end);
    if (next === -1) return { validEnd: at, tail: parsed };
    onCorrupt(at, next - at, parsed);
    at = next;
  }
  return { validEnd: end, tail: null };
}

export function findNextRecord(bytes: Uint8Array, from: number, end: number): number {
  let at = bytes.indexOf(MAGIC_0, from);
  while (at !== -1 && at < end - 1) {
    if (bytes[at + 1] === MAGIC_1 && typeof parseRecord(bytes, at, end) !== "string") return at;
    at = bytes.indexOf(MAGIC_0, at + 1);
  }
  return -1;
}
