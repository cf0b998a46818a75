import { EntryColumns, NO_EXPIRY } from "./entry-columns.ts";
import { HashSlots } from "./hash-slots.ts";
import { KeyArena } from "./key-arena.ts";
import { compareBytes, KeyScratch, keyToBytes } from "./key-bytes.ts";
import { LiveBytes } from "./live-bytes.ts";
import { type IndexLocation, LocationView } from "./location.ts";
import { decodeIndex, encodeIndex, type IndexReader, type IndexState, readIndex } from "./serialization.ts";
import { SortedOrder } from "./sorted-order.ts";

export interface KeyListOptions {
  /** Only keys that start with these bytes (a string is taken as its UTF-8). */
  prefix?: string | Uint8Array;
  /** Only keys after this one in byte order (for paging: the last key of the previous page). */
  after?: string | Uint8Array;
  /** At most this many keys. */
  limit?: number;
}

export interface KeyIndexOptions {
  /** Hash seed; random by default (tests fix it). A loaded index keeps the one it was saved with. */
  seed?: number;
  /**
   * A delete rebuilds the index once dead entries (or their key bytes) are a quarter of all and
   * at least this many (default 1024): a rebuild costs a pass over every key.
   */
  minDeadForRebuild?: number;
}

/**
 * The in-memory index of a store: key bytes to the location of the key's newest record, plus
 * each segment's live bytes and the keys in unsigned byte order. No JavaScript object per key:
 * keys sit in one byte arena (key-arena.ts), locations in typed-array columns
 * (entry-columns.ts), lookups go through an open-addressing table of entry ids (hash-slots.ts)
 * and order is a sorted array of entry ids (sorted-order.ts). At 16-byte keys that is about
 * 16 + 4 (key) + 12 (location) + 8 (hash slot at one million keys) + 4 (order) = 44 bytes per
 * key, plus 4 once some record has metadata and 8 once some key has an expiry.
 *
 * Entry ids. Each key present has one entry id, which `find` returns and the `...Of(id)`
 * accessors read. An overwrite keeps the id; a delete kills it, and a later set of the same
 * key gets a new one. Dead entries keep their key bytes until the index rebuilds itself, which
 * a delete triggers once dead entries pass a quarter of all entries: the rebuild renumbers every
 * entry and bumps `layoutVersion`. Code that holds ids across other calls (a walk over the index
 * in slices) calls `pinEntryIds()` first, which defers rebuilds until it is released.
 *
 * Keys are bytes everywhere; each method that takes a key also takes a string, encoded as
 * UTF-8 into a reusable buffer (no allocation for ASCII keys). A string must be well-formed
 * (the store refuses lone surrogates): encoding turns each into U+FFFD, except that a lookup
 * (`find`, `get`, `has`) of such a string finds nothing. `list` decodes keys as
 * UTF-8; binary keys are listed whole by `listBytes`.
 */
export class KeyIndex {
  private readonly arena: KeyArena;
  private readonly columns: EntryColumns;
  private readonly table: HashSlots;
  private readonly order: SortedOrder;
  private readonly live: LiveBytes;
  private readonly seed: number;
  private liveCount: number;
  private deadEntries: number;
  private deadKeyBytes: number;
  private pins = 0;
  private readonly minDeadForRebuild: number;
  private readonly scratch = new KeyScratch();
  private readonly found = new LocationView();
  private readonly previous = new LocationView();
  private rebuilds = 0;

  private constructor(state: IndexState, options: KeyIndexOptions) {
    this.seed = state.seed;
    this.minDeadForRebuild = options.minDeadForRebuild ?? 1024;
    this.arena = new KeyArena(state.keyBytes, state.keyStarts, state.entryCount);
    this.columns = new EntryColumns(
      state.segmentIds,
      state.offsets,
      state.lengths,
      state.metaBytes,
      state.expiresAt,
    );
    this.table = new HashSlots(state.slots, state.liveCount, this.arena, state.seed);
    this.order = new SortedOrder(
      this.arena,
      (id) => this.columns.lengths[id] !== 0,
      state.sorted,
      state.sortedCount,
      state.recent,
      state.recentCount,
      state.recentSortedCount,
    );
    this.live = new LiveBytes(state.liveBytes);
    this.liveCount = state.liveCount;
    this.deadEntries = state.entryCount - state.liveCount;
    this.deadKeyBytes = state.deadKeyBytes;
  }

  static create(options: KeyIndexOptions = {}): KeyIndex {
    const arena = KeyArena.empty();
    const columns = EntryColumns.empty();
    return new KeyIndex(
      {
        seed: options.seed ?? (Math.random() * 2 ** 32) >>> 0,
        entryCount: 0,
        liveCount: 0,
        deadKeyBytes: 0,
        keyStarts: arena.starts,
        keyBytes: arena.bytes,
        segmentIds: columns.segmentIds,
        offsets: columns.offsets,
        lengths: columns.lengths,
        metaBytes: null,
        expiresAt: null,
        slots: new Uint32Array(16),
        sorted: new Uint32Array(0),
        sortedCount: 0,
        recent: new Uint32Array(16),
        recentCount: 0,
        recentSortedCount: 0,
        liveBytes: new Map(),
      },
      options,
    );
  }

  /** An index from `serialize()` output; throws DamagedIndexError if the bytes are damaged. */
  static load(bytes: Uint8Array, options: Omit<KeyIndexOptions, "seed"> = {}): KeyIndex {
    return new KeyIndex(decodeIndex(bytes), options);
  }

  /**
   * An index from `length` bytes of `serialize()` output that `read` supplies (a file, say): each
   * array is read straight into its final buffer. Throws DamagedIndexError if they are damaged.
   */
  static read(read: IndexReader, length: number, options: Omit<KeyIndexOptions, "seed"> = {}): KeyIndex {
    return new KeyIndex(readIndex(read, length), options);
  }

  /** The whole index as bytes (see serialization.ts): a few copies, no per-key work. */
  serialize(): Uint8Array {
    const { arena, columns, table, order } = this;
    return encodeIndex({
      seed: this.seed,
      entryCount: arena.count,
      liveCount: this.liveCount,
      deadKeyBytes: this.deadKeyBytes,
      keyStarts: arena.starts,
      keyBytes: arena.bytes,
      segmentIds: columns.segmentIds,
      offsets: columns.offsets,
      lengths: columns.lengths,
      metaBytes: columns.metaBytes,
      expiresAt: columns.expiresAt,
      slots: table.slots,
      sorted: order.sorted,
      sortedCount: order.sortedCount,
      recent: order.recent,
      recentCount: order.recentCount,
      recentSortedCount: order.recentSortedCount,
      liveBytes: this.live.bySegment,
    });
  }

  get size(): number {
    return this.liveCount;
  }

  /**
   * Bytes of the index's arrays: `used`, the elements that hold entries (what the index needs),
   * and `allocated`, their whole lengths (used plus room to grow; a growable array's unwritten
   * capacity is reserved address space that costs no resident memory until written).
   */
  memoryBytes(): { used: number; allocated: number } {
    const { arena, columns, table, order } = this;
    const entries = arena.count;
    const optional = (columns.metaBytes === null ? 0 : 4) + (columns.expiresAt === null ? 0 : 8);
    const used =
      4 * (entries + 1) +
      arena.byteLength +
      (12 + optional) * entries +
      table.slots.byteLength +
      4 * (order.sortedCount + order.recentCount);
    const allocated = [
      arena.starts,
      arena.bytes,
      columns.segmentIds,
      columns.offsets,
      columns.lengths,
      columns.metaBytes,
      columns.expiresAt,
      table.slots,
      order.sorted,
      order.recent,
    ].reduce((sum, array) => sum + (array?.byteLength ?? 0), 0);
    return { used, allocated };
  }

  /** Changes whenever entry ids change meaning (a rebuild). */
  get layoutVersion(): number {
    return this.rebuilds;
  }

  /** The entry id of `key`, or -1 when absent. */
  find(key: string | Uint8Array): number {
    const bytes = this.bytesOf(key);
    // A string with a lone surrogate has no UTF-8 form, so no key stored equals it; its encoding
    // (U+FFFD in the surrogate's place) would find a different key.
    if (typeof key === "string" && !this.scratch.wellFormed) return -1;
    const length = this.lengthOfKey(key);
    return this.table.find(bytes, length, this.table.hashOf(bytes, length));
  }

  has(key: string | Uint8Array): boolean {
    return this.find(key) !== -1;
  }

  /** The location of `key` in a reused view (see LocationView), or undefined when absent. */
  get(key: string | Uint8Array): LocationView | undefined {
    const id = this.find(key);
    return id === -1 ? undefined : this.readInto(id, this.found);
  }

  /**
   * Points `key` at `location`. Returns the location it replaces in a reused view (copy what you
   * keep before the next set or delete), or undefined if the key was absent.
   */
  set(key: string | Uint8Array, location: IndexLocation): LocationView | undefined {
    checkLocation(location);
    const bytes = this.bytesOf(key);
    const length = this.lengthOfKey(key);
    const hash = this.table.hashOf(bytes, length);
    let id = this.table.find(bytes, length, hash);
    let previous: LocationView | undefined;
    if (id === -1) {
      id = this.arena.append(bytes, length);
      this.columns.ensure(id);
      this.table.insert(id, hash);
      this.order.noteInserted(id);
      this.liveCount++;
    } else {
      previous = this.readInto(id, this.previous);
      this.live.add(previous.segmentId, -previous.length);
    }
    this.write(id, location);
    this.live.add(location.segmentId, location.length);
    return previous;
  }

  /** Removes `key`; returns the location it had in a reused view (as `set`), or undefined. */
  delete(key: string | Uint8Array): LocationView | undefined {
    const bytes = this.bytesOf(key);
    const length = this.lengthOfKey(key);
    const hash = this.table.hashOf(bytes, length);
    const id = this.table.find(bytes, length, hash);
    if (id === -1) return undefined;
    const previous = this.readInto(id, this.previous);
    this.live.add(previous.segmentId, -previous.length);
    this.table.remove(id, hash);
    this.columns.lengths[id] = 0;
    this.liveCount--;
    this.deadEntries++;
    this.deadKeyBytes += length;
    this.rebuildIfWasteful();
    return previous;
  }

  /**
   * Moves a record that compaction copied, if `key` still points to it (at `fromSegmentId`,
   * `fromOffset`); live bytes move with it. Returns whether it moved (false: the key was
   * overwritten or deleted meanwhile, and its newer location stays).
   */
  relocate(
    key: string | Uint8Array,
    fromSegmentId: number,
    fromOffset: number,
    toSegmentId: number,
    toOffset: number,
  ): boolean {
    const id = this.find(key);
    const { segmentIds, offsets, lengths } = this.columns;
    if (id === -1 || segmentIds[id] !== fromSegmentId || offsets[id] !== fromOffset) return false;
    this.live.add(fromSegmentId, -(lengths[id] as number));
    this.live.add(toSegmentId, lengths[id] as number);
    segmentIds[id] = toSegmentId;
    offsets[id] = toOffset;
    return true;
  }

  /** Bytes of the records in `segmentId` that the index points to. */
  liveBytesOf(segmentId: number): number {
    return this.live.of(segmentId);
  }

  /** Every segment the index points into, with its live bytes (read-only: do not change it). */
  liveBytesBySegment(): ReadonlyMap<number, number> {
    return this.live.bySegment;
  }

  get totalLiveBytes(): number {
    return this.live.total;
  }

  // Reading an entry by id (from `find` or `forEachEntry`).

  segmentIdOf(id: number): number {
    return this.columns.segmentIds[id] as number;
  }

  offsetOf(id: number): number {
    return this.columns.offsets[id] as number;
  }

  lengthOf(id: number): number {
    return this.columns.lengths[id] as number;
  }

  metaBytesOf(id: number): number {
    return this.columns.metaBytesOf(id);
  }

  /** Milliseconds since the epoch, or 0 for no expiry. */
  expiresAtOf(id: number): number {
    return this.columns.expiresAtOf(id);
  }

  /** Bytes of the key's UTF-8 (or of a binary key). */
  keyBytesLengthOf(id: number): number {
    return this.arena.lengthOf(id);
  }

  keyOf(id: number): string {
    return this.arena.decode(id);
  }

  /** A copy of the key's bytes. */
  keyBytesOf(id: number): Uint8Array {
    return this.arena.view(id).slice();
  }

  readInto(id: number, view: LocationView): LocationView {
    const columns = this.columns;
    view.segmentId = columns.segmentIds[id] as number;
    view.offset = columns.offsets[id] as number;
    view.length = columns.lengths[id] as number;
    view.metaBytes = columns.metaBytesOf(id);
    view.expiresAt = columns.expiresAtOf(id);
    return view;
  }

  /**
   * Calls `visit` with every live entry id, in entry order (not key order), until it returns
   * false. Entries set during the walk may or may not be visited; none is visited twice.
   */
  forEachEntry(visit: (id: number) => boolean | undefined): void {
    const release = this.pinEntryIds();
    try {
      // Re-read the column each time: a set inside `visit` may grow (reallocate) it.
      for (let id = 0; id < this.arena.count; id++)
        if (this.columns.lengths[id] !== 0 && visit(id) === false) return;
    } finally {
      release();
    }
  }

  /**
   * The first live entry id >= `from`, or -1: for a walk split across turns of the event loop.
   * Hold `pinEntryIds()` for the whole walk so that the ids keep their meaning.
   */
  nextEntry(from: number): number {
    const lengths = this.columns.lengths;
    for (let id = from; id < this.arena.count; id++) if (lengths[id] !== 0) return id;
    return -1;
  }

  /** Defers rebuilds (which renumber entries) until the returned function is called. */
  pinEntryIds(): () => void {
    this.pins++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.pins--;
      this.rebuildIfWasteful();
    };
  }

  /** Keys in unsigned byte order of their UTF-8, decoded as strings. */
  list(options: KeyListOptions = {}): string[] {
    const keys: string[] = [];
    this.listIds(options, (id) => keys.push(this.arena.decode(id)));
    return keys;
  }

  /** Keys in unsigned byte order, as copies of their bytes. */
  listBytes(options: KeyListOptions = {}): Uint8Array[] {
    const keys: Uint8Array[] = [];
    this.listIds(options, (id) => keys.push(this.arena.view(id).slice()));
    return keys;
  }

  /** Rebuilds now if dead entries waste enough room (see `delete`); returns whether it did. */
  rebuildIfWasteful(): boolean {
    const entries = this.arena.count;
    const wasteful =
      this.deadEntries >= this.minDeadForRebuild &&
      (this.deadEntries * 4 > entries || this.deadKeyBytes * 4 > this.arena.byteLength);
    if (!wasteful || this.pins > 0) return false;
    this.rebuild();
    return true;
  }

  /**
   * Copies the live entries, in key order, into fresh arrays of just their size, and rebuilds
   * the hash table. Entry i of the result is the i-th key in order, so the order is 0..n-1.
   */
  private rebuild(): void {
    const { ids, count } = this.order.allInOrder();
    // The table and the order hold these objects: refill them rather than replace them.
    this.arena.adopt(this.arena.select(ids, count, this.arena.byteLength - this.deadKeyBytes));
    this.columns.adopt(this.columns.select(ids, count));
    const identity = new Uint32Array(count);
    for (let i = 0; i < count; i++) identity[i] = i;
    this.table.rebuild(HashSlots.capacityFor(count), identity, count);
    this.order.reset(identity, count);
    this.deadEntries = 0;
    this.deadKeyBytes = 0;
    this.rebuilds++;
  }

  private listIds(
    { prefix, after, limit = Number.POSITIVE_INFINITY }: KeyListOptions,
    visit: (id: number) => void,
  ) {
    if (limit <= 0) return;
    const prefixBytes = prefix === undefined ? new Uint8Array(0) : keyToBytes(prefix);
    const afterBytes = after === undefined ? undefined : keyToBytes(after);
    this.order.catchUp();
    // Start at the prefix, or just past `after` when that sorts later.
    const startAfter =
      afterBytes !== undefined &&
      compareBytes(afterBytes, 0, afterBytes.length, prefixBytes, 0, prefixBytes.length) >= 0;
    let count = 0;
    this.order.walk(startAfter ? (afterBytes as Uint8Array) : prefixBytes, startAfter, (id) => {
      if (!this.arena.startsWith(id, prefixBytes)) return false;
      visit(id);
      return ++count < limit;
    });
  }

  private write(id: number, location: IndexLocation): void {
    const columns = this.columns;
    columns.segmentIds[id] = location.segmentId;
    columns.offsets[id] = location.offset;
    columns.lengths[id] = location.length;
    columns.setMetaBytes(id, location.metaBytes ?? 0);
    columns.setExpiresAt(id, location.expiresAt ?? NO_EXPIRY);
  }

  private bytesOf(key: string | Uint8Array): Uint8Array {
    return typeof key === "string" ? this.scratch.encode(key).bytes : key;
  }

  /** The byte length of `key`; for a string, call right after `bytesOf` (it reads the scratch). */
  private lengthOfKey(key: string | Uint8Array): number {
    return typeof key === "string" ? this.scratch.length : key.length;
  }
}

const isU32 = (n: number): boolean => n >>> 0 === n;

/** Typed arrays would wrap an out-of-range number silently: refuse it instead. */
function checkLocation({
  segmentId,
  offset,
  length,
  metaBytes = 0,
  expiresAt = NO_EXPIRY,
}: IndexLocation): void {
  if (!isU32(segmentId) || !isU32(offset) || !isU32(length) || length === 0)
    throw new RangeError(
      `a location needs a segment id and offset from 0 to 2^32-1 and a length from 1 to 2^32-1, ` +
        `not ${segmentId}, ${offset}, ${length}`,
    );
  if (!isU32(metaBytes))
    throw new RangeError(`metadata bytes must be an integer from 0 to 2^32-1, not ${metaBytes}`);
  if (!(expiresAt >= 0 && Number.isFinite(expiresAt)))
    throw new RangeError(`an expiry must be a finite time in ms since the epoch (0: none), not ${expiresAt}`);
}
