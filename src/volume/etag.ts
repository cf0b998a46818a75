/**
 * A blob's entity tag, sent as its strong `ETag`: a 64-bit xxHash of its bytes as 16 lowercase
 * hex digits. A CRC-32 (the JSON `etag`, see crc-etag.ts) is too short: values with the same CRC
 * are easy to make, and a client holding one would be told it holds the other.
 *
 * xxHash64 cannot be resumed mid-value, so a value is hashed in blocks of ETAG_BLOCK_BYTES, each
 * seeded with the hash so far: the same tag whether the value is hashed whole (small values, a
 * PUT's body) or a block at a time as it is read from disk (large values, stored-value-check.ts).
 */
export const ETAG_BLOCK_BYTES = 1024 * 1024;

/** Builds an entity tag from a value's blocks, in order; every block but the last is ETAG_BLOCK_BYTES long. */
export class EtagHasher {
  private hash = 0n;

  add(block: Uint8Array): void {
    this.hash = Bun.hash.xxHash64(block, this.hash);
  }

  get etag(): string {
    return formatEtag(this.hash);
  }
}

/** The entity tag of `bytes`. */
export function etagOf(bytes: Uint8Array): string {
  // One block (every small value, and an empty one: its tag is a hash too) is hashed at once.
  if (bytes.length <= ETAG_BLOCK_BYTES) return formatEtag(Bun.hash.xxHash64(bytes, 0n));
  const hasher = new EtagHasher();
  for (let start = 0; start < bytes.length; start += ETAG_BLOCK_BYTES) {
    hasher.add(bytes.subarray(start, start + ETAG_BLOCK_BYTES));
  }
  return hasher.etag;
}

/** Where a hash is put to be written out as hex, with no BigInt formatting. */
const hashBytes = new Uint8Array(8);
const hashView = new DataView(hashBytes.buffer);

/** A 64-bit hash as 16 lowercase hex digits, most significant first. */
function formatEtag(hash: bigint): string {
  hashView.setBigUint64(0, hash);
  return etagAt(hashBytes, 0);
}

const HEX_OF_BYTE = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

/**
 * The entity tag kept as 8 bytes at `at` of `bytes`, most significant first (blob-metadata.ts):
 * 16 lowercase hex digits. A view's `.buffer`, for a native hex encoding, would cost more.
 */
export function etagAt(bytes: Uint8Array, at: number): string {
  let hex = "";
  for (let i = at; i < at + 8; i++) hex += HEX_OF_BYTE[bytes[i] as number];
  return hex;
}
