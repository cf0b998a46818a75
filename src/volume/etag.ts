/** A blob's entity tag: the CRC-32 (IEEE) of its bytes as 8 lowercase hex digits, as in the original API. */
export function etagOf(bytes: Uint8Array): string {
  return Bun.hash.crc32(bytes).toString(16).padStart(8, "0");
}
