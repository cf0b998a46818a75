import type { KeyArena } from "./key-arena.ts";
import { hashBytes } from "./key-bytes.ts";

/**
 * At most 3 of 4 slots used. With linear probing a lookup then reads about 2.5 slots when the key
 * is there and 8.5 when it is not; past 0.75 the miss cost climbs fast (32 slots at 0.875).
 * Each slot is 4 bytes, so the table costs 5.3 to 10.7 bytes per key (8 at one million keys),
 * which fits the 48-bytes-per-key budget beside 16 bytes of key and 20 of offsets, columns and order.
 */
const MAX_LOAD_NUMERATOR = 3;
const MAX_LOAD_DENOMINATOR = 4;
const MIN_CAPACITY = 16;

/**
 * Open-addressing hash table from key bytes to entry id, with linear probing. A slot holds
 * entry id + 1, or 0 when empty. Removal shifts the following entries of the probe run back
 * (no tombstones), so a table never fills up with deleted markers and never needs cleaning.
 * Keys are not copied here: the table compares against the arena.
 */
export class HashSlots {
  /** Live entries in the table. */
  count: number;

  constructor(
    public slots: Uint32Array,
    count: number,
    private readonly arena: KeyArena,
    private readonly seed: number,
  ) {
    this.count = count;
  }

  static empty(arena: KeyArena, seed: number): HashSlots {
    return new HashSlots(new Uint32Array(MIN_CAPACITY), 0, arena, seed);
  }

  /** The smallest power-of-two capacity that holds `keys` within the load limit. */
  static capacityFor(keys: number): number {
    let capacity = MIN_CAPACITY;
    while (keys * MAX_LOAD_DENOMINATOR > capacity * MAX_LOAD_NUMERATOR) capacity *= 2;
    return capacity;
  }

  /** The entry id of `key[0, length)` (whose hash is `hash`), or -1. */
  find(key: Uint8Array, length: number, hash: number): number {
    const slots = this.slots;
    const mask = slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const held = slots[slot] as number;
      if (held === 0) return -1;
      if (this.arena.equals(held - 1, key, length)) return held - 1;
    }
  }

  /** Adds entry `id`, whose key is absent from the table and hashes to `hash`. */
  insert(id: number, hash: number): void {
    if ((this.count + 1) * MAX_LOAD_DENOMINATOR > this.slots.length * MAX_LOAD_NUMERATOR)
      this.resize(this.slots.length * 2);
    this.place(id, hash);
    this.count++;
  }

  /** Takes entry `id` (whose key hashes to `hash`) out of the table. */
  remove(id: number, hash: number): void {
    const slots = this.slots;
    const mask = slots.length - 1;
    let hole = this.slotOf(id, hash);
    // Backward shift: an entry further along the run moves into the hole unless its home slot
    // lies after the hole (it would then sit before its home, where no probe would find it).
    for (let slot = (hole + 1) & mask; ; slot = (slot + 1) & mask) {
      const held = slots[slot] as number;
      if (held === 0) break;
      const home = this.arena.hash(held - 1, this.seed) & mask;
      const distanceToHole = (hole - home) & mask;
      const distanceToSlot = (slot - home) & mask;
      if (distanceToHole <= distanceToSlot) {
        slots[hole] = held;
        hole = slot;
      }
    }
    slots[hole] = 0;
    this.count--;
  }

  /** Rebuilds the table with `capacity` slots from the live entries `ids`. */
  rebuild(capacity: number, ids: Uint32Array, count: number): void {
    this.slots = new Uint32Array(capacity);
    this.count = 0;
    for (let i = 0; i < count; i++) {
      const id = ids[i] as number;
      this.place(id, this.arena.hash(id, this.seed));
      this.count++;
    }
  }

  hashOf(key: Uint8Array, length: number): number {
    return hashBytes(key, 0, length, this.seed);
  }

  private resize(capacity: number): void {
    const old = this.slots;
    this.slots = new Uint32Array(capacity);
    for (let i = 0; i < old.length; i++) {
      const held = old[i] as number;
      if (held !== 0) this.place(held - 1, this.arena.hash(held - 1, this.seed));
    }
  }

  private place(id: number, hash: number): void {
    const slots = this.slots;
    const mask = slots.length - 1;
    let slot = hash & mask;
    while (slots[slot] !== 0) slot = (slot + 1) & mask;
    slots[slot] = id + 1;
  }

  private slotOf(id: number, hash: number): number {
    const slots = this.slots;
    const mask = slots.length - 1;
    let slot = hash & mask;
    while (slots[slot] !== id + 1) {
      if (slots[slot] === 0) throw new Error(`key index: entry ${id} is missing from its hash table`);
      slot = (slot + 1) & mask;
    }
    return slot;
  }
}
