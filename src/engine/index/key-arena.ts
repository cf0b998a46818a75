import { ensureLength, growableArray } from "./growth.ts";
import { compareBytes, decodeKey, hashBytes } from "./key-bytes.ts";

/** Keys are kept in at most 4 GiB of bytes: offsets are u32. */
export const MAX_ARENA_BYTES = 0xffff_ffff;

/**
 * The bytes of every entry's key, back to back in one growable Uint8Array, in entry order.
 * Entry `id`'s key is `bytes[starts[id], starts[id + 1])`: since keys are only ever appended,
 * the next entry's start is this one's end, and no length needs storing. Entries are never
 * reused; a deleted key's bytes stay until the index rebuilds itself (see key-index.ts).
 */
export class KeyArena {
  constructor(
    public bytes: Uint8Array,
    public starts: Uint32Array,
    /** Number of entries; `starts` holds count + 1 offsets. */
    public count: number,
  ) {}

  static empty(capacity = 16): KeyArena {
    return new KeyArena(
      growableArray(Uint8Array, capacity * 16),
      growableArray(Uint32Array, capacity + 1),
      0,
    );
  }

  /** Takes over `other`'s keys (a rebuilt arena). */
  adopt(other: KeyArena): void {
    this.bytes = other.bytes;
    this.starts = other.starts;
    this.count = other.count;
  }

  /** A new arena of the keys of `ids[0, count)`, in that order (`byteLength` bytes of them). */
  select(ids: Uint32Array, count: number, byteLength: number): KeyArena {
    const bytes = growableArray(Uint8Array, byteLength);
    const starts = growableArray(Uint32Array, count + 1);
    const from = this.bytes;
    let at = 0;
    for (let i = 0; i < count; i++) {
      const id = ids[i] as number;
      const end = this.starts[id + 1] as number;
      for (let k = this.starts[id] as number; k < end; k++) bytes[at++] = from[k] as number;
      starts[i + 1] = at;
    }
    return new KeyArena(bytes, starts, count);
  }

  /** Bytes used by keys. */
  get byteLength(): number {
    return this.starts[this.count] as number;
  }

  /** Appends a key; returns its entry id. */
  append(key: Uint8Array, length: number): number {
    const id = this.count;
    const start = this.starts[id] as number;
    const end = start + length;
    if (end > MAX_ARENA_BYTES)
      throw new RangeError(`the key index holds at most ${MAX_ARENA_BYTES} bytes of keys`);
    this.bytes = ensureLength(this.bytes, end, start);
    this.starts = ensureLength(this.starts, id + 2, id + 1);
    // Short keys byte by byte: a subarray for `set` would allocate on every insert.
    const bytes = this.bytes;
    if (length <= 64) for (let i = 0; i < length; i++) bytes[start + i] = key[i] as number;
    else bytes.set(key.subarray(0, length), start);
    this.starts[id + 1] = end;
    this.count = id + 1;
    return id;
  }

  lengthOf(id: number): number {
    return (this.starts[id + 1] as number) - (this.starts[id] as number);
  }

  equals(id: number, key: Uint8Array, length: number): boolean {
    const start = this.starts[id] as number;
    if ((this.starts[id + 1] as number) - start !== length) return false;
    const bytes = this.bytes;
    for (let i = 0; i < length; i++) if (bytes[start + i] !== key[i]) return false;
    return true;
  }

  hash(id: number, seed: number): number {
    return hashBytes(this.bytes, this.starts[id] as number, this.starts[id + 1] as number, seed);
  }

  /** Byte order of two entries' keys. */
  compare(a: number, b: number): number {
    const { bytes, starts } = this;
    return compareBytes(
      bytes,
      starts[a] as number,
      starts[a + 1] as number,
      bytes,
      starts[b] as number,
      starts[b + 1] as number,
    );
  }

  /** Byte order of an entry's key against `key[0, length)`. */
  compareWith(id: number, key: Uint8Array, length: number): number {
    return compareBytes(this.bytes, this.starts[id] as number, this.starts[id + 1] as number, key, 0, length);
  }

  startsWith(id: number, prefix: Uint8Array): boolean {
    const start = this.starts[id] as number;
    if ((this.starts[id + 1] as number) - start < prefix.length) return false;
    for (let i = 0; i < prefix.length; i++) if (this.bytes[start + i] !== prefix[i]) return false;
    return true;
  }

  /** The key as a string (UTF-8 decoded). */
  decode(id: number): string {
    return decodeKey(this.bytes, this.starts[id] as number, this.starts[id + 1] as number);
  }

  /** A view of the key's bytes; valid until the next append or rebuild. */
  view(id: number): Uint8Array {
    return this.bytes.subarray(this.starts[id] as number, this.starts[id + 1] as number);
  }
}
