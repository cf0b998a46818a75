/**
 * The `etag` field of a PUT's JSON answer: the CRC-32 (IEEE) of the bytes as 8 lowercase hex
 * digits, as in the original API. Kept for its clients; the `ETag` header is etag.ts's.
 */
export function crcEtagOf(bytes: Uint8Array): string {
  return crcEtagOfCrc(Bun.hash.crc32(bytes));
}

/** The same tag from a CRC-32 computed elsewhere (a staged value's, chained as it arrived). */
export function crcEtagOfCrc(crc: number): string {
  return crc.toString(16).padStart(8, "0");
}
