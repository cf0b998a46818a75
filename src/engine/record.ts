import { crc32Range } from "./crc32-range.ts";

// One record of a segment file, little-endian:
//
// +-------+----+---------+---------+-----+-------+-------+
// | magic | op | key_len | val_len | key | value | crc32 |
// |  2 B  | 1B |  u32 LE |  u32 LE |     |       |  4 B  |
// +-------+----+---------+---------+-----+-------+-------+
//
// crc32 is the IEEE CRC-32 (Bun.hash.crc32) of every byte before it in the record.
//
// op 1 SET: the payload is the value. op 2 DELETE: no payload (val_len 0).
// op 3 SET with metadata: val_len counts the whole payload, which starts with the metadata:
//
//   payload = +----------+------------+-------+
//             | meta_len | meta bytes | value |
//             |  u16 LE  |            |       |
//             +----------+------------+-------+
//
// The metadata is opaque to the engine (a blob server keeps its content type there). Its
// block, meta_len included, is what a Location's `metaBytes` counts.

export const MAGIC_0 = 0xf0;
export const MAGIC_1 = 0xf1;
export const HEADER_BYTES = 11;
export const CRC_BYTES = 4;
export const RECORD_OVERHEAD = HEADER_BYTES + CRC_BYTES;
export const META_LENGTH_BYTES = 2;
export const MAX_METADATA_BYTES = 0xffff;

export const Op = { Set: 1, Delete: 2, SetWithMetadata: 3 } as const;
export type Op = (typeof Op)[keyof typeof Op];

/** Bytes of a record whose payload is `valueBytes` of value after `metaBytes` of metadata block. */
export function recordLength(keyBytes: number, valueBytes: number, metaBytes = 0): number {
  return RECORD_OVERHEAD + keyBytes + metaBytes + valueBytes;
}

/** Bytes of the metadata block that `metadata` takes in an op 3 record (0 without metadata). */
export function metadataBlockBytes(metadata: Uint8Array | null): number {
  return metadata === null ? 0 : META_LENGTH_BYTES + metadata.length;
}

/**
 * Writes one record at `at` in `target`, which must have room for
 * `recordLength(keyBytes, value.length, metadataBlockBytes(metadata))` bytes; `keyBytes` is the
 * UTF-8 length of `key`. `metadata` (at most MAX_METADATA_BYTES) goes with op 3 only.
 * Returns the record's length.
 */
export function encodeRecord(
  target: Uint8Array,
  at: number,
  op: Op,
  key: string,
  keyBytes: number,
  value: Uint8Array | null,
  metadata: Uint8Array | null = null,
): number {
  const valueBytes = value === null ? 0 : value.length;
  const valueStart = encodeRecordHead(target, at, op, key, keyBytes, valueBytes, metadata);
  if (value !== null) target.set(value, valueStart);
  const crcAt = valueStart + valueBytes;
  writeU32(target, crcAt, Bun.hash.crc32(target.subarray(at, crcAt)));
  return crcAt + CRC_BYTES - at;
}

/**
 * Writes a record's header, key and metadata block (everything before the value) at `at` in
 * `target`, for a value of `valueBytes`; returns where the value goes.
 */
export function encodeRecordHead(
  target: Uint8Array,
  at: number,
  op: Op,
  key: string,
  keyBytes: number,
  valueBytes: number,
  metadata: Uint8Array | null = null,
): number {
  const metaBytes = metadataBlockBytes(metadata);
  target[at] = MAGIC_0;
  target[at + 1] = MAGIC_1;
  target[at + 2] = op;
  writeU32(target, at + 3, keyBytes);
  writeU32(target, at + 7, metaBytes + valueBytes);
  const keyStart = at + HEADER_BYTES;
  if (keyBytes === key.length) {
    // Pure ASCII (the common case): a byte per UTF-16 unit, no encoder needed.
    for (let i = 0; i < keyBytes; i++) target[keyStart + i] = key.charCodeAt(i);
  } else {
    encoder.encodeInto(key, target.subarray(keyStart, keyStart + keyBytes));
  }
  const payloadStart = keyStart + keyBytes;
  if (metadata !== null) {
    target[payloadStart] = metadata.length & 0xff;
    target[payloadStart + 1] = metadata.length >>> 8;
    target.set(metadata, payloadStart + META_LENGTH_BYTES);
  }
  return payloadStart + metaBytes;
}

/** A record's last `CRC_BYTES` bytes, for a value written apart from its head (staged-value.ts). */
export function encodeRecordCrc(crc: number): Uint8Array {
  const out = new Uint8Array(CRC_BYTES);
  writeU32(out, 0, crc);
  return out;
}

const encoder = new TextEncoder();

/**
 * A record found by `parseRecord`; positions are absolute in the buffer that was parsed. The
 * value is the payload after the metadata block (`metaBytes` long, 0 unless op 3).
 */
export interface ParsedRecord {
  op: Op;
  keyStart: number;
  keyBytes: number;
  metaBytes: number;
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
  if (op !== Op.Set && op !== Op.Delete && op !== Op.SetWithMetadata) return "bad-op";
  const keyBytes = readU32(source, at + 3);
  const payloadBytes = readU32(source, at + 7);
  if (op === Op.Delete && payloadBytes !== 0) return "bad-op";
  if (op === Op.SetWithMetadata && payloadBytes < META_LENGTH_BYTES) return "bad-op";
  const length = RECORD_OVERHEAD + keyBytes + payloadBytes;
  if (length > end - at) return "truncated";
  const crcAt = at + length - CRC_BYTES;
  if (Bun.hash.crc32(source.subarray(at, crcAt)) !== readU32(source, crcAt)) return "bad-crc";
  const keyStart = at + HEADER_BYTES;
  const payloadStart = keyStart + keyBytes;
  const metaBytes = op === Op.SetWithMetadata ? metadataBlockAt(source, payloadStart, payloadBytes) : 0;
  if (metaBytes < 0) return "bad-op";
  return {
    op,
    keyStart,
    keyBytes,
    metaBytes,
    valueStart: payloadStart + metaBytes,
    valueBytes: payloadBytes - metaBytes,
    length,
  };
}

/** Bytes of the metadata block at the start of an op 3 payload, or -1 if it overruns the payload. */
function metadataBlockAt(source: Uint8Array, payloadStart: number, payloadBytes: number): number {
  const metaBytes =
    META_LENGTH_BYTES + ((source[payloadStart] as number) | ((source[payloadStart + 1] as number) << 8));
  return metaBytes <= payloadBytes ? metaBytes : -1;
}

/**
 * The value of the SET record (op 1 or 3) of `length` bytes at `at` in `source`, copied out,
 * once its magic, op, lengths and CRC check out; otherwise why not. The read path: no object is
 * made but the copy.
 */
export function copyValue(source: Uint8Array, at: number, length: number): Uint8Array | ParseFailure {
  const payload = uncheckedPayload(source, at, length);
  if (typeof payload === "string") return payload;
  // The copy first, then the CRC: the head's in JavaScript, continued natively over the copy, so
  // that no view of the source is made. A damaged record's copy is dropped.
  const valueStart = payload.start + payload.metaBytes;
  const value = source.slice(valueStart, payload.end);
  const crc = Bun.hash.crc32(value, crc32Range(source, at, valueStart));
  return crc === readU32(source, payload.end) ? value : "bad-crc";
}

/**
 * The metadata of the SET record of `length` bytes at `at` in `source`, copied out (null for
 * op 1, which has none), once the record checks out like for `copyValue`.
 */
export function copyMetadata(
  source: Uint8Array,
  at: number,
  length: number,
): Uint8Array | null | ParseFailure {
  const payload = checkedPayload(source, at, length);
  if (typeof payload === "string") return payload;
  if (payload.metaBytes === 0) return null;
  return source.slice(payload.start + META_LENGTH_BYTES, payload.start + payload.metaBytes);
}

/**
 * The value and the metadata (null for op 1) of the SET record of `length` bytes at `at` in
 * `source`, each copied out, once the record checks out: one CRC check for both.
 */
export function copyValueAndMetadata(
  source: Uint8Array,
  at: number,
  length: number,
): ValueWithMetadata | ParseFailure {
  const value = copyValue(source, at, length);
  if (typeof value === "string") return value;
  // `payload` still describes the record `copyValue` just checked.
  const metadata =
    payload.metaBytes === 0
      ? null
      : source.slice(payload.start + META_LENGTH_BYTES, payload.start + payload.metaBytes);
  return { value, metadata };
}

/** A value with the metadata stored beside it (null when it has none). */
export interface ValueWithMetadata {
  value: Uint8Array;
  metadata: Uint8Array | null;
}

/** What `checkedPayload` returns, reused: a read allocates nothing but the value it returns
 * (and, but for `copyValue`, the view the CRC is computed over). Read its fields before the
 * next call. */
const payload = { start: 0, end: 0, metaBytes: 0 };

/** Where the payload of a checked SET record is, and its metadata block's bytes. */
function checkedPayload(source: Uint8Array, at: number, length: number): typeof payload | ParseFailure {
  const found = uncheckedPayload(source, at, length);
  if (typeof found === "string") return found;
  return crcMatches(source, at, found.end) ? found : "bad-crc";
}

/**
 * As `checkedPayload`, but the CRC is left to the caller: it is checked here only when the
 * metadata block is found wrong, so that a damaged record is still told as "bad-crc" first.
 */
function uncheckedPayload(source: Uint8Array, at: number, length: number): typeof payload | ParseFailure {
  if (!hasMagic(source, at)) return "bad-magic";
  const op = source[at + 2];
  if (op !== Op.Set && op !== Op.SetWithMetadata) return "bad-op";
  const keyBytes = readU32(source, at + 3);
  const payloadBytes = readU32(source, at + 7);
  if (RECORD_OVERHEAD + keyBytes + payloadBytes !== length) return "bad-op";
  const crcAt = at + length - CRC_BYTES;
  const start = at + HEADER_BYTES + keyBytes;
  let metaBytes = 0;
  if (op === Op.SetWithMetadata) {
    if (payloadBytes < META_LENGTH_BYTES) return crcMatches(source, at, crcAt) ? "bad-op" : "bad-crc";
    metaBytes = metadataBlockAt(source, start, payloadBytes);
    if (metaBytes < 0) return crcMatches(source, at, crcAt) ? "bad-op" : "bad-crc";
  }
  payload.start = start;
  payload.end = crcAt;
  payload.metaBytes = metaBytes;
  return payload;
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

function crcMatches(source: Uint8Array, at: number, crcAt: number): boolean {
  return Bun.hash.crc32(source.subarray(at, crcAt)) === readU32(source, crcAt);
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
