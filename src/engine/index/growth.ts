// Growing typed arrays. Capacity grows by half again, not double: a 10M-key index keeps less
// slack, and the copy is one memcpy either way. Untouched tails of a fresh array are zero pages
// the kernel has not mapped yet, so slack costs address space more than resident memory.

type Growable = Uint8Array | Uint16Array | Uint32Array | Float64Array;

export function grownCapacity(current: number, needed: number): number {
  return Math.max(needed, Math.ceil(current * 1.5), 16);
}

/** `array` if it holds `needed` elements, else a larger copy of its first `used` elements. */
export function ensureLength<T extends Growable>(array: T, needed: number, used: number): T {
  if (needed <= array.length) return array;
  const larger = new (array.constructor as new (length: number) => T)(grownCapacity(array.length, needed));
  larger.set(array.subarray(0, used));
  return larger;
}
