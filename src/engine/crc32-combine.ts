// CRC-32 (IEEE, as Bun.hash.crc32) of a concatenation from the CRCs of its parts: zlib's
// crc32_combine. CRC-32 is linear over GF(2), so appending `lengthB` bytes to A changes A's CRC
// by a fixed 32x32 bit matrix (one zero bit shifted through the register, raised to the power
// 8 * lengthB by repeated squaring), and the CRC of B is then XORed in. A streamed value's record
// CRC covers its header, which holds the value's length, known only when the value ends; this
// joins the header's CRC to the value's, computed as it arrived, without reading the value again.

const POLYNOMIAL = 0xedb88320;
const BITS = 32;

/** The CRC-32 of A followed by B, from `crcA`, `crcB` and B's length in bytes. */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB <= 0) return crcA >>> 0;
  const even = new Uint32Array(BITS);
  const odd = new Uint32Array(BITS);
  // The operator for one zero bit.
  odd[0] = POLYNOMIAL;
  for (let n = 1, row = 1; n < BITS; n++, row <<= 1) odd[n] = row;
  // Two zero bits, then four: `odd` is the operator for four bits, `even` for two.
  squareMatrix(even, odd);
  squareMatrix(odd, even);
  let crc = crcA >>> 0;
  let remaining = lengthB;
  // Each pass squares the operator (one byte, then two, four, ...) and applies it for every
  // set bit of the length.
  for (;;) {
    squareMatrix(even, odd);
    if (remaining % 2 === 1) crc = timesMatrix(even, crc);
    remaining = Math.floor(remaining / 2);
    if (remaining === 0) break;
    squareMatrix(odd, even);
    if (remaining % 2 === 1) crc = timesMatrix(odd, crc);
    remaining = Math.floor(remaining / 2);
    if (remaining === 0) break;
  }
  return (crc ^ crcB) >>> 0;
}

function timesMatrix(matrix: Uint32Array, vector: number): number {
  let sum = 0;
  for (let i = 0, v = vector >>> 0; v !== 0; i++, v >>>= 1) if (v & 1) sum ^= matrix[i] as number;
  return sum >>> 0;
}

function squareMatrix(square: Uint32Array, matrix: Uint32Array): void {
  for (let n = 0; n < BITS; n++) square[n] = timesMatrix(matrix, matrix[n] as number);
}
