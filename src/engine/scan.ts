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
  /**
   * Offset just past the last valid record: where a torn tail starts, if there is one, or the
   * preallocated zeros that end the bytes (then `tail` is null).
   */
  validEnd: number;
  /** Why the bytes from `validEnd` to the end are not records, when they are neither records nor zeros. */
  tail: ParseFailure | null;
}

/** Where whole records resume after a damaged record, and whether its own header points there. */
interface Resync {
  at: number;
  pointed: boolean;
}

/** A damaged stretch, not reported until the records after it are trusted. */
interface Damage {
  offset: number;
  length: number;
  reason: ParseFailure;
}

/**
 * Walks the records of a segment's bytes in order. A damaged stretch in the middle is reported
 * through `onCorrupt` and skipped; damage with nothing trusted after it is a torn tail, which the
 * caller truncates.
 *
 * After damage, the scan resumes at the first whole record with a valid CRC (see `resync`). A
 * value can hold the bytes of records (a blob that is a copy of a segment), and when the value's
 * own record is damaged the scan may land inside it, so what it finds there is held back until
 * it is trusted. Records from a resync point are trusted when:
 *
 * - the damaged record's own lengths point at them;
 * - there are two in a row, or they run to the end of the segment;
 * - a lone record is followed by what looks like another damaged record: bytes that start with
 *   the record magic, or whose lengths point at a record or at the end (as one flipped byte, or
 *   a torn write of the next record, leaves them). So a record between two damaged ones is kept
 *   however close they are, and a tombstone there still deletes.
 *
 * A lone record followed by anything else is taken for a record image inside the damaged value
 * and goes with the damage before it. An intact record is parsed whole, so a record image inside
 * its value is never looked at.
 *
 * Zeros that run to the end of the bytes are space preallocated past the records (segment.ts):
 * the records end where they begin, and records before them run to the end. In the `newest`
 * segments, the only ones a crash can tear (recovery.ts, `firstTearable`), a record whose header
 * is whole but whose lengths run past the end is the torn last write: everything from it is the
 * tail; so is a damaged record whose lengths run into the zeros that end it (where a torn write
 * leaves its unwritten bytes).
 */
export function scanRecords(
  bytes: Uint8Array,
  onRecord: (record: ParsedRecord, offset: number) => void,
  onCorrupt: (offset: number, length: number, reason: ParseFailure) => void,
  newest = false,
): ScanResult {
  const end = bytes.length;
  // Since the last trusted byte (`validEnd`): a damaged stretch, then at most one record.
  let damage: Damage | null = null;
  let lone: { record: ParsedRecord; offset: number } | null = null;
  let validEnd = 0;
  let at = 0;
  /** Where the zeros that end `bytes` start; found at the first record that does not parse. */
  let zeroTail: number | undefined;
  const trustUpTo = (offset: number) => {
    if (damage !== null) onCorrupt(damage.offset, damage.length, damage.reason);
    if (lone !== null) onRecord(lone.record, lone.offset);
    damage = null;
    lone = null;
    validEnd = offset;
  };
  while (at < end) {
    const parsed = parseRecord(bytes, at, end);
    if (typeof parsed !== "string") {
      if (damage === null) onRecord(parsed, at);
      else if (lone === null) lone = { record: parsed, offset: at };
      else {
        trustUpTo(at);
        onRecord(parsed, at);
      }
      at += parsed.length;
      if (damage === null || at === end) trustUpTo(at);
      continue;
    }
    zeroTail ??= zeroTailStart(bytes);
    if (at >= zeroTail) {
      // Only zeros from here: space preallocated past the records (segment.ts), their end, so
      // no tail unless damage comes before them.
      if (damage !== null && lone !== null) trustUpTo(at);
      return { validEnd, tail: damage?.reason ?? null };
    }
    if (newest && (parsed === "truncated" || runsIntoZeroTail(bytes, at, zeroTail))) {
      // The newest segment ends inside a record whose magic and op are whole: the write a crash
      // tore. Cut from here and never search its bytes for records: they are a client's value,
      // which may hold record images that would delete or overwrite other keys.
      if (damage !== null && lone !== null) trustUpTo(at);
      return { validEnd, tail: damage?.reason ?? parsed };
    }
    const next = resync(bytes, at, end);
    if (damage !== null) {
      // A lone record since the damage before (two would be trusted), now followed by damage.
      if (next?.pointed || (bytes[at] === MAGIC_0 && bytes[at + 1] === MAGIC_1)) trustUpTo(at);
      else lone = null;
    }
    if (next === null) return { validEnd, tail: damage?.reason ?? parsed };
    // A lone record not trusted joins the damage before it, with this one.
    if (damage !== null) damage.length = next.at - damage.offset;
    else damage = { offset: at, length: next.at - at, reason: parsed };
    at = next.at;
    if (next.pointed) trustUpTo(at);
  }
  return { validEnd, tail: null };
}

/** Where the run of zero bytes that ends `bytes` starts (its length when the last byte is not 0). */
export function zeroTailStart(bytes: Uint8Array): number {
  let at = bytes.length;
  while (at > 0 && bytes[at - 1] === 0) at--;
  return at;
}

/** Whether the record at `at` has a whole header whose lengths end past `zeroTail`. */
function runsIntoZeroTail(bytes: Uint8Array, at: number, zeroTail: number): boolean {
  if (at + HEADER_BYTES > bytes.length || bytes[at] !== MAGIC_0 || bytes[at + 1] !== MAGIC_1) return false;
  return at + RECORD_OVERHEAD + readU32(bytes, at + 3) + readU32(bytes, at + 7) > zeroTail;
}

/**
 * Where whole records resume after the damaged record at `at`, or null if nowhere. First where
 * the record's own lengths say it ends, when a record starts there or the segment ends there (a
 * flipped byte leaves the lengths right more often than not), unless intact records before that
 * run exactly to it; else the next offset from which a whole record with a valid CRC parses.
 */
function resync(bytes: Uint8Array, at: number, end: number): Resync | null {
  if (end - at >= HEADER_BYTES) {
    const claimedEnd = at + RECORD_OVERHEAD + readU32(bytes, at + 3) + readU32(bytes, at + 7);
    if (claimedEnd === end || (claimedEnd < end && typeof parseRecord(bytes, claimedEnd, end) !== "string")) {
      return { at: runStartBefore(bytes, at, claimedEnd) ?? claimedEnd, pointed: true };
    }
  }
  for (let candidate = nextMagic(bytes, at + 1, end); candidate !== -1; ) {
    if (typeof parseRecord(bytes, candidate, end) !== "string") return { at: candidate, pointed: false };
    candidate = nextMagic(bytes, candidate + 1, end);
  }
  return null;
}

/**
 * The first offset after `at` from which whole records run exactly to `boundary`, or null. A
 * damaged length can itself point at a later record, past intact ones: those run to it. Record
 * images inside the damaged record's value cannot: its CRC lies between them and its end.
 */
function runStartBefore(bytes: Uint8Array, at: number, boundary: number): number | null {
  for (let candidate = nextMagic(bytes, at + 1, boundary); candidate !== -1; ) {
    let reached = candidate;
    for (;;) {
      const parsed = parseRecord(bytes, reached, boundary);
      if (typeof parsed === "string") break;
      reached += parsed.length;
      if (reached === boundary) return candidate;
    }
    // Offsets inside the records just read belong to them: look on from where they stop.
    candidate = nextMagic(bytes, reached === candidate ? candidate + 1 : reached, boundary);
  }
  return null;
}

/** The first offset from `from` where the record magic starts, with both bytes before `end`; -1 if none. */
function nextMagic(bytes: Uint8Array, from: number, end: number): number {
  for (
    let at = bytes.indexOf(MAGIC_0, from);
    at !== -1 && at < end - 1;
    at = bytes.indexOf(MAGIC_0, at + 1)
  ) {
    if (bytes[at + 1] === MAGIC_1) return at;
  }
  return -1;
}
