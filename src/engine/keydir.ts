import BTree from "sorted-btree";

/** Where the newest record of a key lives. Values stay on disk; the index holds only this. */
export interface Location {
  readonly segmentId: number;
  /** Offset of the record's first byte in its segment. */
  readonly offset: number;
  /** Whole record length, header and CRC included. */
  readonly length: number;
}

export interface ListOptions {
  /** Only keys that start with this string. */
  prefix?: string;
  /** Only keys sorted after this one (for paging: pass the last key of the previous page). */
  after?: string;
  /** At most this many keys. */
  limit?: number;
}

const compareKeys = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The in-memory index: key to location, plus the live bytes of each segment for compaction.
 *
 * Lookups go through a hash map. Sorted listing needs an ordered structure, but inserting into a
 * B+ tree on every write costs several microseconds at a million keys, more than the write
 * itself. So keys that appear or disappear are only noted, and the tree catches up on the next
 * listing (or when the notes grow as large as the index, which bounds their memory).
 */
export class KeyDir {
  private readonly locations = new Map<string, Location>();
  private readonly sorted = new BTree<string, undefined>(undefined, compareKeys);
  private changedKeys: string[] = [];
  private readonly liveBytes = new Map<number, number>();

  get size(): number {
    return this.locations.size;
  }

  get(key: string): Location | undefined {
    return this.locations.get(key);
  }

  has(key: string): boolean {
    return this.locations.has(key);
  }

  /** Points `key` at `location`; returns the location it replaces. */
  set(key: string, location: Location): Location | undefined {
    const previous = this.locations.get(key);
    this.locations.set(key, location);
    if (previous === undefined) this.noteChanged(key);
    else this.addLive(previous.segmentId, -previous.length);
    this.addLive(location.segmentId, location.length);
    return previous;
  }

  /** Removes `key`; returns the location it had. */
  delete(key: string): Location | undefined {
    const previous = this.locations.get(key);
    if (previous === undefined) return undefined;
    this.locations.delete(key);
    this.noteChanged(key);
    this.addLive(previous.segmentId, -previous.length);
    return previous;
  }

  /** Bytes of the records in `segmentId` that the index still points to. */
  liveBytesOf(segmentId: number): number {
    return this.liveBytes.get(segmentId) ?? 0;
  }

  get totalLiveBytes(): number {
    let total = 0;
    for (const bytes of this.liveBytes.values()) total += bytes;
    return total;
  }

  list({ prefix = "", after, limit = Number.POSITIVE_INFINITY }: ListOptions = {}): string[] {
    this.catchUpSorted();
    const keys: string[] = [];
    if (limit <= 0) return keys;
    const start = after !== undefined && after > prefix ? after : prefix;
    for (const key of this.sorted.keys(start)) {
      if (key === after) continue;
      if (!key.startsWith(prefix)) break;
      keys.push(key);
      if (keys.length >= limit) break;
    }
    return keys;
  }

  entries(): IterableIterator<[string, Location]> {
    return this.locations.entries();
  }

  private addLive(segmentId: number, bytes: number): void {
    const total = (this.liveBytes.get(segmentId) ?? 0) + bytes;
    if (total === 0) this.liveBytes.delete(segmentId);
    else this.liveBytes.set(segmentId, total);
  }

  private noteChanged(key: string): void {
    this.changedKeys.push(key);
    if (this.changedKeys.length > 1024 && this.changedKeys.length > this.locations.size) this.catchUpSorted();
  }

  /** Brings the sorted tree in line with the map for every key noted since the last time. */
  private catchUpSorted(): void {
    if (this.changedKeys.length === 0) return;
    const changed = this.changedKeys;
    this.changedKeys = [];
    // In key order, consecutive tree updates touch neighbouring leaves.
    changed.sort(compareKeys);
    for (const key of changed) {
      if (this.locations.has(key)) this.sorted.set(key, undefined);
      else this.sorted.delete(key);
    }
  }
}
