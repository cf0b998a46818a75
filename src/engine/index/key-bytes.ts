// Keys as bytes: encoding strings without allocating, hashing, and unsigned byte order.

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: false });

/**
 * A reusable buffer that holds one key's UTF-8 bytes. ASCII keys (the common case) are copied a
 * char at a time with no allocation; others go through `TextEncoder.encodeInto`.
 */
export class KeyScratch {
  bytes = new Uint8Array(256);
  length = 0;
  /** False when the last string encoded had a lone surrogate (encoded as U+FFFD: not its bytes). */
  wellFormed = true;

  /** Encodes `key` into `bytes[0, length)`; returns this. */
  encode(key: string): this {
    const n = key.length;
    // Three bytes of UTF-8 at most per UTF-16 unit (a surrogate pair is 4 bytes for 2 units).
    if (n * 3 > this.bytes.length) this.bytes = new Uint8Array(n * 3 + 64);
    const bytes = this.bytes;
    for (let i = 0; i < n; i++) {
      const unit = key.charCodeAt(i);
      if (unit >= 0x80) {
        this.length = utf8.encodeInto(key, bytes).written;
        this.wellFormed = key.isWellFormed();
        return this;
      }
      bytes[i] = unit;
    }
    this.length = n;
    this.wellFormed = true;
    return this;
  }

  /** Copies `key` into the buffer (a caller's Uint8Array may be reused by them afterwards). */
  copy(key: Uint8Array): this {
    if (key.length > this.bytes.length) this.bytes = new Uint8Array(key.length + 64);
    this.bytes.set(key);
    this.length = key.length;
    return this;
  }
}

/** A key given as a string or as bytes, as a fresh Uint8Array of its bytes. */
export function keyToBytes(key: string | Uint8Array): Uint8Array {
  return typeof key === "string" ? utf8.encode(key) : key;
}

export function decodeKey(bytes: Uint8Array, from: number, to: number): string {
  // Short ASCII keys: String.fromCharCode beats a TextDecoder call.
  if (to - from <= 32) {
    let ascii = true;
    for (let i = from; i < to; i++) {
      if ((bytes[i] as number) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      let out = "";
      for (let i = from; i < to; i++) out += String.fromCharCode(bytes[i] as number);
      return out;
    }
  }
  return utf8Decoder.decode(bytes.subarray(from, to));
}

/**
 * 32-bit hash of `bytes[from, to)`: FNV-1a over the bytes, seeded, then murmur3's finalizer so
 * that the low bits (the table uses them as the slot number) depend on every byte. The seed is
 * random per index and saved with it, so that keys cannot be chosen to collide in every index.
 */
export function hashBytes(bytes: Uint8Array, from: number, to: number, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = from; i < to; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Unsigned byte order of `a[aFrom, aTo)` and `b[bFrom, bTo)`: negative, zero or positive. */
export function compareBytes(
  a: Uint8Array,
  aFrom: number,
  aTo: number,
  b: Uint8Array,
  bFrom: number,
  bTo: number,
): number {
  const aLength = aTo - aFrom;
  const bLength = bTo - bFrom;
  const n = Math.min(aLength, bLength);
  for (let i = 0; i < n; i++) {
    const d = (a[aFrom + i] as number) - (b[bFrom + i] as number);
    if (d !== 0) return d;
  }
  return aLength - bLength;
}
