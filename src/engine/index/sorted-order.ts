import { ensureLength } from "./growth.ts";
import type { KeyArena } from "./key-arena.ts";
import { sortByKey } from "./key-sort.ts";

/**
 * Entry ids in unsigned byte order of their keys, for listing.
 *
 * Sorting on every insert would cost a memmove of the order per write, so new entries are only
 * noted in `recent`; a listing sorts what was noted since the previous one and walks both runs
 * side by side. Once `recent` grows past a sixteenth of `sorted`, the two are merged into one
 * (each merge is linear, and at most one per sixteenth of growth keeps it amortised O(1) per
 * key). Dead entries may linger in either run: their key bytes stay in the arena, so they keep
 * their place for binary search, and listings skip them; a merge drops them.
 *
 * For ranges and reverse listing (gt/gte/lt/lte, reverse): both runs are sorted arrays, so a
 * range is two binary searches per run (`seek` with exclusive or not), and reverse order is the
 * same merge walked from the upper bound downwards. Nothing here depends on the direction.
 */
export class SortedOrder {
  constructor(
    private readonly arena: KeyArena,
    private readonly isLive: (id: number) => boolean,
    public sorted: Uint32Array,
    public sortedCount: number,
    public recent: Uint32Array,
    public recentCount: number,
    /** `recent[0, recentSortedCount)` is in key order; the rest is in insertion order. */
    public recentSortedCount: number,
  ) {}

  static empty(arena: KeyArena, isLive: (id: number) => boolean): SortedOrder {
    return new SortedOrder(arena, isLive, new Uint32Array(0), 0, new Uint32Array(16), 0, 0);
  }

  /** Notes a new entry (a key that was absent). */
  noteInserted(id: number): void {
    this.recent = ensureLength(this.recent, this.recentCount + 1, this.recentCount);
    this.recent[this.recentCount++] = id;
  }

  /** Replaces the whole order with `ids`, already in key order (after a rebuild). */
  reset(ids: Uint32Array, count: number): void {
    this.sorted = ids;
    this.sortedCount = count;
    this.recent = new Uint32Array(16);
    this.recentCount = 0;
    this.recentSortedCount = 0;
  }

  /** Sorts what was noted since the last listing; merges it into `sorted` once it is large. */
  catchUp(): void {
    if (this.recentSortedCount < this.recentCount) {
      const tail = this.recent.subarray(this.recentSortedCount, this.recentCount);
      sortByKey(this.arena, this.recent, this.recentSortedCount, this.recentCount);
      if (this.recentSortedCount > 0) {
        const merged = this.merge(this.recent, this.recentSortedCount, tail, tail.length);
        this.recent = ensureLength(merged.ids, 16, merged.count);
        this.recentCount = merged.count;
      }
      this.recentSortedCount = this.recentCount;
    }
    if (this.recentCount > 1024 && this.recentCount * 16 > this.sortedCount) this.mergeRecent();
  }

  /** Live entry ids in key order, merged into `sorted` (for a rebuild or a full walk). */
  allInOrder(): { ids: Uint32Array; count: number } {
    this.catchUp();
    this.mergeRecent();
    return { ids: this.sorted, count: this.sortedCount };
  }

  /**
   * Calls `visit` with each live entry id in key order, starting at the first key >= `start`
   * (> `start` when `exclusive`), until it returns false. Call `catchUp` first.
   */
  walk(start: Uint8Array, exclusive: boolean, visit: (id: number) => boolean): void {
    const { sorted, recent, arena, isLive } = this;
    let i = this.seek(sorted, this.sortedCount, start, exclusive);
    let j = this.seek(recent, this.recentCount, start, exclusive);
    const sortedEnd = this.sortedCount;
    const recentEnd = this.recentCount;
    while (i < sortedEnd || j < recentEnd) {
      let id: number;
      if (j >= recentEnd || (i < sortedEnd && arena.compare(sorted[i] as number, recent[j] as number) < 0))
        id = sorted[i++] as number;
      else id = recent[j++] as number;
      if (isLive(id) && !visit(id)) return;
    }
  }

  /** First index of `ids[0, count)` whose key is >= `key` (> when `exclusive`). */
  private seek(ids: Uint32Array, count: number, key: Uint8Array, exclusive: boolean): number {
    let low = 0;
    let high = count;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const order = this.arena.compareWith(ids[mid] as number, key, key.length);
      if (order < 0 || (exclusive && order === 0)) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  private mergeRecent(): void {
    if (this.sortedCount === 0 && this.recentSortedCount === this.recentCount && this.allLive()) {
      // The first listing after a load: merging into an empty run would copy the recent run as
      // it is, into a second array of 4 bytes per key. It becomes the sorted run instead.
      this.sorted = this.recent;
      this.sortedCount = this.recentCount;
    } else {
      const merged = this.merge(this.sorted, this.sortedCount, this.recent, this.recentCount);
      this.sorted = merged.ids.length === merged.count ? merged.ids : merged.ids.slice(0, merged.count);
      this.sortedCount = merged.count;
    }
    this.recent = new Uint32Array(16);
    this.recentCount = 0;
    this.recentSortedCount = 0;
  }

  /** Whether every entry of the recent run is live (a merge would drop the dead ones). */
  private allLive(): boolean {
    const { recent, isLive } = this;
    for (let i = 0; i < this.recentCount; i++) if (!isLive(recent[i] as number)) return false;
    return true;
  }

  /** Merges two runs in key order, leaving out dead entries. */
  private merge(
    a: Uint32Array,
    aCount: number,
    b: Uint32Array,
    bCount: number,
  ): { ids: Uint32Array; count: number } {
    const { arena, isLive } = this;
    const out = new Uint32Array(aCount + bCount);
    let n = 0;
    let i = 0;
    let j = 0;
    while (i < aCount || j < bCount) {
      let id: number;
      if (j >= bCount || (i < aCount && arena.compare(a[i] as number, b[j] as number) < 0))
        id = a[i++] as number;
      else id = b[j++] as number;
      if (isLive(id)) out[n++] = id;
    }
    return { ids: out, count: n };
  }
}
