import { DamagedIndexError } from "../errors.ts";
import { type Growable, growableArray } from "./growth.ts";

// The key index as bytes: its own arrays one after another, so that loading is a read per
// array and a CRC, with no per-key work. Little-endian, like the typed arrays it copies.
//
// offset  size        field
// 0       8           magic "KVKEYIX1"
// 8       4           format version (2; version 1 had a u16 metadata column)
// 12      4           hash seed
// 16      4           flags: bit 0 set when the expiry column is present, bit 1 the metadata one
// 20      4           E  entries, live and dead
// 24      4           L  live entries
// 28      4           K  key bytes (dead keys' bytes included)
// 32      4           D  dead key bytes
// 36      4           S  hash slots (a power of two)
// 40      4           P  length of the sorted run
// 44      4           R  length of the recent run
// 48      4           Q  how much of the recent run is in key order
// 52      4           G  segments with live bytes
// 56      8           zero
// 64      then, each section starting at a multiple of 8 (zero padding between):
//         4 (E + 1)   key starts, u32: entry i's key is key bytes [start i, start i+1)
//         K           key bytes
//         4 E         segment ids, u32
//         4 E         record offsets, u32
//         4 E         record lengths, u32 (0: dead entry)
//         4 E         metadata bytes, u32 (only when flags bit 1)
//         8 E         expiries, f64 ms since the epoch, 0 for none (only when flags bit 0)
//         4 S         hash slots, u32: entry id + 1, 0 when empty
//         4 P         sorted run, u32 entry ids
//         4 R         recent run, u32 entry ids
//         4 G         segment ids with live bytes, u32
//         8 G         their live bytes, f64
// end-4   4           crc32 (IEEE) of every byte before it
//
// The hash seed is saved because the hash slots are: loading reuses the table as it was.

const MAGIC = new TextEncoder().encode("KVKEYIX1");
export const INDEX_FORMAT_VERSION = 2;
const HEADER_BYTES = 64;
const CRC_BYTES = 4;
const FLAG_EXPIRY = 1;
const FLAG_META = 2;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1)
  throw new Error("the key index format assumes a little-endian machine");

/** Everything a key index is made of, with each array's used length. */
export interface IndexState {
  seed: number;
  entryCount: number;
  liveCount: number;
  deadKeyBytes: number;
  keyStarts: Uint32Array;
  keyBytes: Uint8Array;
  segmentIds: Uint32Array;
  offsets: Uint32Array;
  lengths: Uint32Array;
  metaBytes: Uint32Array | null;
  expiresAt: Float64Array | null;
  slots: Uint32Array;
  sorted: Uint32Array;
  sortedCount: number;
  recent: Uint32Array;
  recentCount: number;
  recentSortedCount: number;
  liveBytes: Map<number, number>;
}

/** Rounds up to a multiple of 8; arithmetic, not bitwise: a damaged header's sizes pass 2^32. */
const align8 = (n: number): number => Math.ceil(n / 8) * 8;

/** The byte size of each section, in file order, for E entries and the given counts. */
function sectionSizes(
  entries: number,
  keyBytes: number,
  hasMeta: boolean,
  hasExpiry: boolean,
  slots: number,
  sorted: number,
  recent: number,
  segments: number,
): number[] {
  return [
    4 * (entries + 1),
    keyBytes,
    4 * entries,
    4 * entries,
    4 * entries,
    hasMeta ? 4 * entries : 0,
    hasExpiry ? 8 * entries : 0,
    4 * slots,
    4 * sorted,
    4 * recent,
    4 * segments,
    8 * segments,
  ];
}

export function encodeIndex(state: IndexState): Uint8Array {
  const entries = state.entryCount;
  const keyByteCount = state.keyStarts[entries] as number;
  const segments = [...state.liveBytes];
  const hasMeta = state.metaBytes !== null;
  const hasExpiry = state.expiresAt !== null;
  const sizes = sectionSizes(
    entries,
    keyByteCount,
    hasMeta,
    hasExpiry,
    state.slots.length,
    state.sortedCount,
    state.recentCount,
    segments.length,
  );
  const total = sizes.reduce((sum, size) => sum + align8(size), HEADER_BYTES) + CRC_BYTES;
  const out = new Uint8Array(total);
  const header = new DataView(out.buffer);
  out.set(MAGIC);
  const fields = [
    INDEX_FORMAT_VERSION,
    state.seed,
    (hasExpiry ? FLAG_EXPIRY : 0) | (hasMeta ? FLAG_META : 0),
    entries,
    state.liveCount,
    keyByteCount,
    state.deadKeyBytes,
    state.slots.length,
    state.sortedCount,
    state.recentCount,
    state.recentSortedCount,
    segments.length,
  ];
  for (const [i, value] of fields.entries()) header.setUint32(8 + 4 * i, value, true);
  const segmentIds = new Uint32Array(segments.map(([id]) => id));
  const segmentLiveBytes = new Float64Array(segments.map(([, bytes]) => bytes));
  const arrays = [
    state.keyStarts,
    state.keyBytes,
    state.segmentIds,
    state.offsets,
    state.lengths,
    state.metaBytes ?? new Uint32Array(0),
    state.expiresAt ?? new Float64Array(0),
    state.slots,
    state.sorted,
    state.recent,
    segmentIds,
    segmentLiveBytes,
  ];
  let at = HEADER_BYTES;
  arrays.forEach((array, i) => {
    const size = sizes[i] as number;
    out.set(new Uint8Array(array.buffer, array.byteOffset, size), at);
    at += align8(size);
  });
  header.setUint32(at, Bun.hash.crc32(out.subarray(0, at)), true);
  return out;
}

/**
 * Reads serialized index bytes: fills `into` from `position` (0 is the index's first byte) and
 * returns how many bytes it got, fewer only where the bytes end.
 */
export type IndexReader = (into: Uint8Array, position: number) => number;

/** Reads what `encodeIndex` wrote; throws DamagedIndexError if any byte is wrong or missing. */
export function decodeIndex(bytes: Uint8Array): IndexState {
  return readIndex((into, position) => {
    const got = bytes.subarray(position, position + into.length);
    into.set(got);
    return got.length;
  }, bytes.length);
}

/**
 * Reads what `encodeIndex` wrote, `length` bytes in all, from `read`: each section straight into
 * the array the index will own (no whole-file buffer, no second copy), and the CRC-32 computed
 * section by section on the way. Throws DamagedIndexError if any byte is wrong or missing.
 */
export function readIndex(read: IndexReader, length: number): IndexState {
  if (length < HEADER_BYTES + CRC_BYTES)
    throw new DamagedIndexError(`${length} bytes is shorter than the ${HEADER_BYTES}-byte header`);
  const headerBytes = new Uint8Array(HEADER_BYTES);
  let at = 0;
  let crc = 0;
  /** Fills `into` with the next bytes and adds them to the CRC. */
  const next = (into: Uint8Array): void => {
    const got = read(into, at);
    if (got !== into.length)
      throw new DamagedIndexError(`its bytes end at ${at + got} of the ${length} announced`);
    at += got;
    crc = Bun.hash.crc32(into, crc);
  };
  next(headerBytes);
  for (let i = 0; i < MAGIC.length; i++)
    if (headerBytes[i] !== MAGIC[i]) throw new DamagedIndexError("it does not start with KVKEYIX1");
  const header = new DataView(headerBytes.buffer);
  const field = (i: number): number => header.getUint32(8 + 4 * i, true);
  const version = field(0);
  if (version !== INDEX_FORMAT_VERSION)
    throw new DamagedIndexError(`format version ${version}, this build reads ${INDEX_FORMAT_VERSION}`);
  const seed = field(1);
  const flags = field(2);
  const entries = field(3);
  const liveCount = field(4);
  const keyByteCount = field(5);
  const deadKeyBytes = field(6);
  const slots = field(7);
  const sorted = field(8);
  const recent = field(9);
  const recentSorted = field(10);
  const segments = field(11);
  const hasExpiry = (flags & FLAG_EXPIRY) !== 0;
  const hasMeta = (flags & FLAG_META) !== 0;
  const sizes = sectionSizes(entries, keyByteCount, hasMeta, hasExpiry, slots, sorted, recent, segments);
  // Before any allocation: sizes that add up to the length are no larger than the input.
  const expected = sizes.reduce((sum, size) => sum + align8(size), HEADER_BYTES) + CRC_BYTES;
  if (length !== expected)
    throw new DamagedIndexError(`${length} bytes where its header announces ${expected}`);

  // The arrays that grow as keys are added are growable ones (growth.ts), so that the first
  // write after a load grows them in place instead of copying them; the others are plain.
  const padding = new Uint8Array(8);
  let section = 0;
  const fill = <T extends Growable>(array: T): T => {
    const size = sizes[section++] as number;
    next(new Uint8Array(array.buffer, array.byteOffset, size));
    if (align8(size) > size) next(padding.subarray(0, align8(size) - size));
    return array;
  };
  const keyStarts = fill(growableArray(Uint32Array, entries + 1));
  const keyBytes = fill(growableArray(Uint8Array, keyByteCount));
  const segmentIds = fill(growableArray(Uint32Array, entries));
  const offsets = fill(growableArray(Uint32Array, entries));
  const lengths = fill(growableArray(Uint32Array, entries));
  const metaBytes = fill(hasMeta ? growableArray(Uint32Array, entries) : new Uint32Array(0));
  const expiresAt = fill(hasExpiry ? growableArray(Float64Array, entries) : new Float64Array(0));
  const slotArray = fill(new Uint32Array(slots));
  const sortedArray = fill(new Uint32Array(sorted));
  const recentArray = fill(growableArray(Uint32Array, recent));
  const liveSegmentIds = fill(new Uint32Array(segments));
  const liveSegmentBytes = fill(new Float64Array(segments));
  const computed = crc;
  const stored = new Uint8Array(CRC_BYTES);
  next(stored);
  if (computed !== new DataView(stored.buffer).getUint32(0, true))
    throw new DamagedIndexError("its CRC-32 does not match its contents");
  // Past the CRC the header is what was written; these guard against a writer's bug.
  if (
    flags & ~(FLAG_EXPIRY | FLAG_META) ||
    slots < 16 ||
    (slots & (slots - 1)) !== 0 ||
    liveCount > entries ||
    deadKeyBytes > keyByteCount ||
    sorted > entries ||
    recent > entries ||
    recentSorted > recent
  )
    throw new DamagedIndexError("its header is inconsistent");

  const liveBytes = new Map<number, number>();
  for (let i = 0; i < segments; i++)
    liveBytes.set(liveSegmentIds[i] as number, liveSegmentBytes[i] as number);
  return {
    seed,
    entryCount: entries,
    liveCount,
    deadKeyBytes,
    keyStarts,
    keyBytes,
    segmentIds,
    offsets,
    lengths,
    metaBytes: hasMeta ? metaBytes : null,
    expiresAt: hasExpiry ? expiresAt : null,
    slots: slotArray,
    sorted: sortedArray,
    sortedCount: sorted,
    recent: recentArray,
    recentCount: recent,
    recentSortedCount: recentSorted,
    liveBytes,
  };
}
