/**
 * `prefix` followed by 4 bytes chosen so that the CRC-32 of the whole is `target`: a value that
 * collides with any other of that CRC. CRC-32 is affine over GF(2) in its input bits, so the 4
 * bytes are the solution of 32 linear equations, found by Gaussian elimination.
 */
export function withCrc32(prefix: Uint8Array, target: number): Uint8Array {
  const candidate = new Uint8Array(prefix.length + 4);
  candidate.set(prefix);
  const crcWithSuffix = (suffix: number): number => {
    new DataView(candidate.buffer).setUint32(prefix.length, suffix);
    return Bun.hash.crc32(candidate);
  };
  const base = crcWithSuffix(0);
  // Each equation: the CRC bits that a set of suffix bits flips (one suffix bit to begin with).
  const equations = Array.from({ length: 32 }, (_, bit) => ({
    flips: (crcWithSuffix(2 ** bit) ^ base) >>> 0,
    suffix: 2 ** bit,
  }));
  // Reduced row echelon form: each pivot alone flips its CRC bit.
  const pivots: { crcBit: number; flips: number; suffix: number }[] = [];
  for (let bit = 31; bit >= 0; bit--) {
    const crcBit = 2 ** bit;
    const index = equations.findIndex((equation) => (equation.flips & crcBit) !== 0);
    if (index < 0) throw new Error("4 appended bytes cannot reach every CRC");
    const [chosen] = equations.splice(index, 1) as [{ flips: number; suffix: number }];
    for (const other of [...equations, ...pivots]) {
      if ((other.flips & crcBit) !== 0) {
        other.flips = (other.flips ^ chosen.flips) >>> 0;
        other.suffix = (other.suffix ^ chosen.suffix) >>> 0;
      }
    }
    pivots.push({ crcBit, ...chosen });
  }
  const wanted = (target ^ base) >>> 0;
  let suffix = 0;
  for (const pivot of pivots) if ((wanted & pivot.crcBit) !== 0) suffix = (suffix ^ pivot.suffix) >>> 0;
  crcWithSuffix(suffix);
  return candidate;
}
