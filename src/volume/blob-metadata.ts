import { DEFAULT_CONTENT_TYPE, isMediaType } from "./media-type.ts";

// What the blob server keeps with each blob it writes, as the engine's opaque metadata
// (src/engine/record.ts, op 3):
//
// +---------+------------------+--------------+
// | version | last_modified_ms | content_type |
// | u8 = 1  | u64 LE           | ASCII, rest  |
// +---------+------------------+--------------+
//
// last_modified_ms: milliseconds since the epoch when the blob was written. A blob written
// through the library has no metadata, and metadata this code cannot read (another version,
// another writer) counts as none: both are served with DEFAULT_CONTENT_TYPE and no date.

const VERSION = 1;
const HEADER_BYTES = 9;
/** Dates past this are not a time a blob was written (ECMAScript's largest date). */
const MAX_DATE_MS = 8.64e15;

/** What a read answers with a blob beside its bytes. */
export interface BlobAttributes {
  contentType: string;
  /** When the blob was written, in ms since the epoch; null when not recorded. */
  lastModified: number | null;
}

/** The metadata of a blob of type `contentType` (a valid media type) written at `lastModified`. */
export function encodeBlobMetadata(contentType: string, lastModified: number): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + contentType.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, VERSION);
  view.setBigUint64(1, BigInt(Math.trunc(lastModified)), true);
  for (let i = 0; i < contentType.length; i++) out[HEADER_BYTES + i] = contentType.charCodeAt(i);
  return out;
}

/** The attributes `metadata` records, or the defaults when there is none or it cannot be read. */
export function decodeBlobMetadata(metadata: Uint8Array | null): BlobAttributes {
  if (metadata === null || metadata.length < HEADER_BYTES || metadata[0] !== VERSION) return NONE;
  // u64 LE as two u32 halves: dates stay far below 2^53 (MAX_DATE_MS).
  const low = (metadata[1] as number) | ((metadata[2] as number) << 8) | ((metadata[3] as number) << 16);
  const lowTop = (metadata[4] as number) * 2 ** 24;
  const high =
    (metadata[5] as number) |
    ((metadata[6] as number) << 8) |
    ((metadata[7] as number) << 16) |
    ((metadata[8] as number) << 24);
  const lastModified = (high >>> 0) * 2 ** 32 + lowTop + low;
  let contentType = "";
  for (let i = HEADER_BYTES; i < metadata.length; i++)
    contentType += String.fromCharCode(metadata[i] as number);
  if (!isKnownMediaType(contentType) || lastModified > MAX_DATE_MS) return NONE;
  return { contentType, lastModified };
}

const NONE: BlobAttributes = Object.freeze({ contentType: DEFAULT_CONTENT_TYPE, lastModified: null });

/**
 * Media types already found valid: a blob server reads the same few types over and over, and
 * the check is a long regular expression. Bounded like the types a client can make up.
 */
const validTypes = new Set<string>();
const VALID_TYPES = 1024;

function isKnownMediaType(contentType: string): boolean {
  if (validTypes.has(contentType)) return true;
  if (!isMediaType(contentType)) return false;
  if (validTypes.size >= VALID_TYPES) validTypes.clear();
  validTypes.add(contentType);
  return true;
}
