// One record of a segment file, little-endian:
//
// +-------+----+---------+---------+-----+-------+-------+
// | magic | op | key_len | val_len | key | value | crc32 |
// |  2 B  | 1B |  u32 LE |  u32 LE |     |       |  4 B  |
// +-------+----+---------+---------+-----+-------+-------+
//
// crc32 is the IEEE CRC-32 (Bun.hash.crc32) of every byte before it in the record.

export const MAGIC_0 = 0xf0;
export const MAGIC_1 = 0xf1;
export const HEADER_BYTES = 11;
const CRC_BYTES = 4;
export const RECORD_OVERHEAD = HEADER_BYTES + CRC_BYTES;

export const Op = { Set: 1, Delete: 2 } as const;
export type Op = (typeof Op)[keyof typeof Op];

export function recordLength(keyBytes: number, valueBytes: number): number {
  return RECORD_OVERHEAD + keyBytes + valueBytes;
}

/**
 * Writes one record at `at` in `target`, which must have room for
 * `recordLength(keyBytes, value.length)` bytes; `keyBytes` is the UTF-8 length of `key`.
 * Returns the record's length.
 */
export function encodeRecord(
  target: Uint8Array,
  at: number,
  op: Op,
  key: string,
  keyBytes: number,
  value: Uint8Array | null,
): number {
  const valueBytes = value === null ? 0 : value.length;
  const valueStart = encodeRecordHead(target, at, op, key, keyBytes, valueBytes);
  if (value !== null) target.set(value, valueStart);
  const crcAt = valueStart + valueBytes;
  writeU32(target, crcAt, Bun.hash.crc32(target.subarray(at, crcAt)));
  return crcAt + CRC_BYTES - at;
}

/**
 * Writes a record's header and key (its first `HEADER_BYTES + keyBytes` bytes) at `at` in
 * `target`, for a value of `valueBytes`; returns where the value goes.
 */
export function encodeRecordHead(
  target: Uint8Array,
  at: number,
  op: Op,
  key: string,
  keyBytes: number,
  valueBytes: number,
): number {
  target[at] = MAGIC_0;
  target[at + 1] = MAGIC_1;
  target[at + 2] = op;
  writeU32(target, at + 3, keyBytes);
  writeU32(target, at + 7, valueBytes);
  const keyStart = at + HEADER_BYTES;
  if (keyBytes === key.length) {
    // Pure ASCII (the common case): a byte per UTF-16 unit, no encoder needed.
    for (let i = 0; i < keyBytes; i++) target[keyStart + i] = key.charCodeAt(i);
  } else {
    encoder.encodeInto(key, target.subarray(keyStart, keyStart + keyBytes));
  }
  return keyStart + keyBytes;
}

/** A record's last `CRC_BYTES` bytes, for a value written apart from its head (staged-value.ts). */
export function encodeRecordCrc(crc: number): Uint8Array {
  const out = new Uint8Array(CRC_BYTES);
  writeU32(out, 0, crc);
  return out;
}

const encoder = new TextEncoder();

/** A record found by `parseRecord`; positions are absolute in the buffer that was parsed. */
export interface ParsedRecord {
  op: Op;
  keyStart: number;
  keyBytes: number;
  valueStart: number;
  valueBytes: number;
  length: number;
}

/** Why bytes are not a record: too few of them left, or they are not a valid record. */
export type ParseFailure = "truncated" | "bad-magic" | "bad-op" | "bad-crc";

/**
 * Reads the record that starts at `at` in `source`, looking no further than `end`.
 * A record is accepted only when its magic, op, lengths and CRC all agree.
 */
export function parseRecord(source: Uint8Array, at: number, end: number): ParsedRecord | ParseFailure {
  if (end - at < HEADER_BYTES) return end - at >= 2 && !hasMagic(source, at) ? "bad-magic" : "truncated";
  if (!hasMagic(source, at)) return "bad-magic";
  const op = source[at + 2];
  if (op !== Op.Set && op !== Op.Delete) return "bad-op";
  const keyBytes = readU32(source, at + 3);
  const valueBytes = readU32(source, at + 7);
  if (op === Op.Delete && valueBytes !== 0) return "bad-op";
  const length = RECORD_OVERHEAD + keyBytes + valueBytes;
  if (length > end - at) return "truncated";
  const crcAt = at + length - CRC_BYTES;
  if (Bun.hash.crc32(source.subarray(at, crcAt)) !== readU32(source, crcAt)) return "bad-crc";
  const keyStart = at + HEADER_BYTES;
  return { op, keyStart, keyBytes, valueStart: keyStart + keyBytes, valueBytes, length };
}

/**
 * The value of the SET record of `length` bytes at `at` in `source`, copied out, once its
 * magic, op, lengths and CRC check out; otherwise why not. The read path: no object is made
 * but the copy.
 */
export function copyValue(source: Uint8Array, at: number, length: number): Uint8Array | ParseFailure {
  if (!hasMagic(source, at)) return "bad-magic";
  if (source[at + 2] !== Op.Set) return "bad-op";
  const keyBytes = readU32(source, at + 3);
  const valueBytes = readU32(source, at + 7);
  if (RECORD_OVERHEAD + keyBytes + valueBytes !== length) return "bad-op";
  const crcAt = at + length - CRC_BYTES;
  if (Bun.hash.crc32(source.subarray(at, crcAt)) !== readU32(source, crcAt)) return "bad-crc";
  const valueStart = at + HEADER_BYTES + keyBytes;
  return source.slice(valueStart, valueStart + valueBytes);
}

/**
 * A record's CRC computed a piece at a time, for a value too large to read whole: `add` every
 * byte of the record before its CRC, in order (header, key, then the value in pieces of any
 * size: CRC-32 continues from the seed it is given), then ask whether it `matches` the
 * `STORED_BYTES` stored after the value.
 */
export class RecordCrc {
  static readonly STORED_BYTES = CRC_BYTES;
  private crc = 0;

  add(bytes: Uint8Array): void {
    this.crc = Bun.hash.crc32(bytes, this.crc);
  }

  matches(stored: Uint8Array): boolean {
    return stored.length === CRC_BYTES && readU32(stored, 0) === this.crc;
  }
}

function hasMagic(source: Uint8Array, at: number): boolean {
  return source[at] === MAGIC_0 && source[at + 1] === MAGIC_1;
}

// Byte-wise little-endian access: a DataView needs the array's `.buffer`, which is slow to
// materialise in JavaScriptCore for every record read.
export function readU32(bytes: Uint8Array, at: number): number {
  return (
    ((bytes[at] as number) | ((bytes[at + 1] as number) << 8) | ((bytes[at + 2] as number) << 16)) +
    (bytes[at + 3] as number) * 0x1000000
  );
}

export function writeU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = value >>> 24;
}
