import { etagAt } from "./etag.ts";
import { DEFAULT_CONTENT_TYPE, isMediaType } from "./media-type.ts";

// What the blob server keeps with each blob it writes, as the engine's opaque metadata
// (src/engine/record.ts, op 3). Version 2, written today:
//
// +---------+------------------+---------+--------------+
// | version | last_modified_ms | etag    | content_type |
// | u8 = 2  | u64 LE           | 8 bytes | ASCII, rest  |
// +---------+------------------+---------+--------------+
//
// Version 1, read still: the same without `etag` (its blobs' tags are hashed when read).
//
// last_modified_ms: milliseconds since the epoch when the blob was written. etag: the blob's
// entity tag (etag.ts), the 64-bit hash most significant byte first, so that a read of a small
// blob hashes nothing; the record's CRC covers it with the value. A blob written through the
// library has no metadata, and metadata this code cannot read (another version, another writer)
// counts as none: both are served with DEFAULT_CONTENT_TYPE, no date and a hashed tag.

const VERSION_WITH_ETAG = 2;
const VERSION_WITHOUT_ETAG = 1;
const DATE_AT = 1;
const ETAG_AT = 9;
const ETAG_BYTES = 8;
/** Dates past this are not a time a blob was written (ECMAScript's largest date). */
const MAX_DATE_MS = 8.64e15;

/** What a read answers with a blob beside its bytes. */
export interface BlobAttributes {
  contentType: string;
  /** When the blob was written, in ms since the epoch; null when not recorded. */
  lastModified: number | null;
  /** The entity tag kept at write time (etag.ts); null when not recorded. */
  etag: string | null;
}

/**
 * The metadata of a blob of type `contentType` (a valid media type) written at `lastModified`,
 * whose entity tag is `etag` (16 hex digits, etag.ts).
 */
export function encodeBlobMetadata(contentType: string, lastModified: number, etag: string): Uint8Array {
  const typeAt = ETAG_AT + ETAG_BYTES;
  const out = new Uint8Array(typeAt + contentType.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, VERSION_WITH_ETAG);
  view.setBigUint64(DATE_AT, BigInt(Math.trunc(lastModified)), true);
  view.setBigUint64(ETAG_AT, BigInt(`0x${etag}`));
  for (let i = 0; i < contentType.length; i++) out[typeAt + i] = contentType.charCodeAt(i);
  return out;
}

/** The attributes `metadata` records, or the defaults when there is none or it cannot be read. */
export function decodeBlobMetadata(metadata: Uint8Array | null): BlobAttributes {
  if (metadata === null) return NONE;
  const version = metadata[0];
  const typeAt =
    version === VERSION_WITH_ETAG ? ETAG_AT + ETAG_BYTES : version === VERSION_WITHOUT_ETAG ? ETAG_AT : -1;
  if (typeAt === -1 || metadata.length < typeAt) return NONE;
  // u64 LE as two u32 halves: dates stay far below 2^53 (MAX_DATE_MS).
  const low = (metadata[1] as number) | ((metadata[2] as number) << 8) | ((metadata[3] as number) << 16);
  const lowTop = (metadata[4] as number) * 2 ** 24;
  const high =
    (metadata[5] as number) |
    ((metadata[6] as number) << 8) |
    ((metadata[7] as number) << 16) |
    ((metadata[8] as number) << 24);
  const lastModified = (high >>> 0) * 2 ** 32 + lowTop + low;
  const contentType = contentTypeAt(metadata, typeAt);
  if (contentType === null || lastModified > MAX_DATE_MS) return NONE;
  const etag = version === VERSION_WITH_ETAG ? etagAt(metadata, ETAG_AT) : null;
  return { contentType, lastModified, etag };
}

const NONE: BlobAttributes = Object.freeze({
  contentType: DEFAULT_CONTENT_TYPE,
  lastModified: null,
  etag: null,
});

/**
 * Media types already found valid, with their bytes: a blob server reads the same few types over
 * and over, and building the string and checking it (a long regular expression) would cost more
 * than the rest of a small read. Bounded like the types a client can make up.
 */
const knownTypes: { bytes: Uint8Array; type: string }[] = [];
const KNOWN_TYPES = 64;

/** The media type that `metadata` holds from `at` on, or null when it is not a valid one. */
function contentTypeAt(metadata: Uint8Array, at: number): string | null {
  const length = metadata.length - at;
  for (const known of knownTypes) {
    if (known.bytes.length === length && sameBytes(known.bytes, metadata, at)) return known.type;
  }
  let type = "";
  for (let i = at; i < metadata.length; i++) type += String.fromCharCode(metadata[i] as number);
  if (!isMediaType(type)) return null;
  if (knownTypes.length >= KNOWN_TYPES) knownTypes.shift();
  knownTypes.push({ bytes: metadata.slice(at), type });
  return type;
}

/** Whether `bytes` equals `source` from `at` on (for bytes.length bytes). */
function sameBytes(bytes: Uint8Array, source: Uint8Array, at: number): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== source[at + i]) return false;
  return true;
}
