// Growing the index's append-only arrays without copying them.
//
// Each array lives in a growable SharedArrayBuffer that reserves address space up front
// (`maxByteLength`) and grows in place: Linux maps a page only when it is first written, so
// capacity not yet written costs no resident memory, and growth copies nothing. (Copying into a
// 1.5x larger array instead left 57 bytes per key resident at one million keys where 46 were
// used: the allocator handed back pages of freed arrays, already mapped, for the slack.)
// Shared buffers also let a Worker read the index later: Bun supports growable ones, and a
// worker given the buffer sees it grow.
//
// Reserving is cheap but not free (Bun refuses a few reservations of 16 GiB), so a buffer
// reserves eight times what it needs; outgrowing that copies once into a new reservation,
// which happens about log8(n) times as an index grows.

export type Growable = Uint8Array | Uint16Array | Uint32Array | Float64Array;
export type GrowableConstructor<T extends Growable> = {
  new (buffer: SharedArrayBuffer, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
};

const MIN_RESERVE_BYTES = 1 << 20;
/** Key offsets are u32, so no array of the index needs more. */
const MAX_RESERVE_BYTES = 2 ** 32;

export function grownCapacity(current: number, needed: number): number {
  return Math.max(needed, Math.ceil(current * 1.5), 16);
}

/** A growable array of `length` zeroed elements. */
export function growableArray<T extends Growable>(kind: GrowableConstructor<T>, length: number): T {
  const bytes = length * kind.BYTES_PER_ELEMENT;
  const reserve = Math.min(MAX_RESERVE_BYTES, Math.max(MIN_RESERVE_BYTES, bytes * 8));
  if (bytes > reserve) throw new RangeError(`the key index cannot hold an array of ${bytes} bytes`);
  return new kind(new SharedArrayBuffer(bytes, { maxByteLength: reserve }), 0, length);
}

/**
 * `array` if it holds `needed` elements; else a view of the same buffer grown in place, or, past
 * its reservation (or for an array that is not growable), a growable copy of its first `used`
 * elements. A loaded index's growing arrays are growable from the start (serialization.ts).
 */
export function ensureLength<T extends Growable>(array: T, needed: number, used: number): T {
  if (needed <= array.length) return array;
  const kind = array.constructor as GrowableConstructor<T>;
  const length = grownCapacity(array.length, needed);
  const buffer = array.buffer;
  if (buffer instanceof SharedArrayBuffer && buffer.growable && array.byteOffset === 0) {
    const bytes = Math.min(buffer.maxByteLength, length * kind.BYTES_PER_ELEMENT);
    if (bytes >= needed * kind.BYTES_PER_ELEMENT) {
      if (bytes > buffer.byteLength) buffer.grow(bytes);
      return new kind(buffer, 0, bytes / kind.BYTES_PER_ELEMENT);
    }
  }
  const larger = growableArray(kind, length);
  larger.set(array.subarray(0, used));
  return larger;
}
