/** A blob's entity tag: the CRC-32 (IEEE) of its bytes as 8 lowercase hex digits, as in the original API. */
export function etagOf(bytes: Uint8Array): string {
  return etagOfCrc(Bun.hash.crc32(bytes));
}

/** The entity tag of bytes whose CRC-32 is `crc` (computed a chunk at a time for a large blob). */
export function etagOfCrc(crc: number): string {
  return crc.toString(16).padStart(8, "0");
}
