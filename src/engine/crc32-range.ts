// CRC-32 (IEEE, as Bun.hash.crc32) of a range of a buffer, in JavaScript. Bun.hash.crc32 takes a
// whole array: a range of a segment's memory map needs a `subarray` view first, an allocation
// that cost about 40 ns of a 100-byte read. A read checks a record's head (header, key,
// metadata) here, then goes on with Bun.hash.crc32 over the value it copied out anyway.
// Slicing-by-8 (eight 256-entry tables, one step per 8 bytes), as zlib does.

const POLYNOMIAL = 0xedb88320;
const TABLE = new Int32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
  TABLE[n] = c;
}
// Table t advances a byte through t more zero bytes.
for (let t = 1; t < 8; t++) {
  for (let n = 0; n < 256; n++) {
    const previous = TABLE[(t - 1) * 256 + n] as number;
    TABLE[t * 256 + n] = (previous >>> 8) ^ (TABLE[previous & 0xff] as number);
  }
}

/**
 * The CRC-32 of `bytes[from, to)`, continuing from `crc` (the CRC of the bytes before them, 0
 * for none): the same value as `Bun.hash.crc32(bytes.subarray(from, to), crc)`. Unsigned.
 */
export function crc32Range(bytes: Uint8Array, from: number, to: number, crc = 0): number {
  let c = ~crc;
  let i = from;
  for (; i + 8 <= to; i += 8) {
    const low =
      c ^
      ((bytes[i] as number) |
        ((bytes[i + 1] as number) << 8) |
        ((bytes[i + 2] as number) << 16) |
        ((bytes[i + 3] as number) << 24));
    c =
      (TABLE[1792 + (low & 0xff)] as number) ^
      (TABLE[1536 + ((low >>> 8) & 0xff)] as number) ^
      (TABLE[1280 + ((low >>> 16) & 0xff)] as number) ^
      (TABLE[1024 + (low >>> 24)] as number) ^
      (TABLE[768 + (bytes[i + 4] as number)] as number) ^
      (TABLE[512 + (bytes[i + 5] as number)] as number) ^
      (TABLE[256 + (bytes[i + 6] as number)] as number) ^
      (TABLE[bytes[i + 7] as number] as number);
  }
  for (; i < to; i++) c = (TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}
