import * as sortedBtree from "sorted-btree";
import type { DecodedSnapshot } from "./snapshot.ts";

// sorted-btree is CommonJS with `exports.default = BTree`. A default import gets the class under
// `bun run`, but the whole exports object in a `bun build --compile` binary: accept both.
const BTree =
  (sortedBtree.default as unknown as { default?: typeof sortedBtree.default }).default ?? sortedBtree.default;

/**
 * Where the newest record of a key lives. Values stay on disk; the index holds only this.
 * Compaction moves a record by updating its Location in place (see `relocate`), so that every
 * holder of the object, the index and the undo log of a write batch alike, follows the move.
 */
export interface Location {
  segmentId: number;
  /** Offset of the record's first byte in its segment. */
  offset: number;
  /** Whole record length, header and CRC included. */
  readonly length: number;
  /** Bytes of the record's metadata block, its u16 length included (record.ts); 0 for op 1. */
  readonly metaBytes: number;
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
  /** Live bytes moved by `relocate` and not yet applied: from segment, to segment, bytes. */
  private readonly pendingMoves = new Map<number, Map<number, number>>();
  private watched: Map<string, Location | undefined> | null = null;

  /**
   * An index loaded from a snapshot: parallel arrays of distinct keys and their locations, then
   * entries that replace what those said of the same key.
   */
  static fromSnapshot(snapshot: DecodedSnapshot): KeyDir {
    const keydir = new KeyDir();
    const { keys, locations, repeats } = snapshot;
    // Distinct keys: no need to look for a previous location.
    for (let i = 0; i < keys.length; i++) {
      const location = locations[i] as Location;
      keydir.locations.set(keys[i] as string, location);
      keydir.addLive(location.segmentId, location.length);
    }
    // The sorted tree is built on the first listing, like for any other new keys.
    keydir.changedKeys = keys;
    for (let i = 0; i < repeats.keys.length; i++)
      keydir.set(repeats.keys[i] as string, repeats.locations[i] as Location);
    return keydir;
  }

  /**
   * From now until `stopWatching()`, remembers the location each key had before its first
   * change (undefined: it had none). A snapshot written a slice at a time uses it to save the
   * index as it was when the snapshot began.
   */
  startWatching(): void {
    this.watched = new Map();
  }

  isWatched(key: string): boolean {
    return this.watched?.has(key) ?? false;
  }

  stopWatching(): Map<string, Location | undefined> {
    const watched = this.watched ?? new Map();
    this.watched = null;
    return watched;
  }

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
    if (this.watched !== null && !this.watched.has(key)) this.watched.set(key, previous);
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
    if (this.watched !== null && !this.watched.has(key)) this.watched.set(key, previous);
    this.locations.delete(key);
    this.noteChanged(key);
    this.addLive(previous.segmentId, -previous.length);
    return previous;
  }

  /**
   * Moves a record that compaction copied: `location` now says `segmentId` and `offset`. Live
   * bytes move with it if the index still points to it (a key overwritten meanwhile does not);
   * they are tallied per segment pair and applied by `settleRelocations()`, which compaction
   * calls before it lets other code run.
   */
  relocate(key: string, location: Location, segmentId: number, offset: number): void {
    if (this.locations.get(key) === location) {
      let to = this.pendingMoves.get(location.segmentId);
      if (to === undefined) {
        to = new Map();
        this.pendingMoves.set(location.segmentId, to);
      }
      to.set(segmentId, (to.get(segmentId) ?? 0) + location.length);
    }
    location.segmentId = segmentId;
    location.offset = offset;
  }

  settleRelocations(): void {
    for (const [from, to] of this.pendingMoves) {
      for (const [segmentId, bytes] of to) {
        this.addLive(from, -bytes);
        this.addLive(segmentId, bytes);
      }
    }
    this.pendingMoves.clear();
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
