import { ensureLength, type GrowableConstructor, growableArray } from "./growth.ts";

/** No expiry: the value an entry's expiry holds when it has none. */
export const NO_EXPIRY = 0;

/**
 * Where each entry's record lives, one typed array per field, indexed by entry id. An entry
 * whose `lengths` is 0 is dead (deleted, its id not reused): a record always has a header, so
 * no live entry has length 0.
 *
 * Two columns are optional and allocated (all zero) only when some entry first needs them, so
 * that an index whose records carry no metadata and no expiry pays nothing for them:
 * `metaBytes` (bytes of the metadata block inside the record: u32, as the store's largest,
 * 65,535 bytes of metadata and its u16 length, is 65,537) and `expiresAt` (milliseconds
 * since the epoch, NO_EXPIRY for none). Without them an entry costs 12 bytes here.
 */
export class EntryColumns {
  constructor(
    public segmentIds: Uint32Array,
    public offsets: Uint32Array,
    /** Whole record length, header and CRC included; 0 marks a dead entry. */
    public lengths: Uint32Array,
    public metaBytes: Uint32Array | null,
    public expiresAt: Float64Array | null,
  ) {}

  static empty(capacity = 16): EntryColumns {
    return new EntryColumns(
      growableArray(Uint32Array, capacity),
      growableArray(Uint32Array, capacity),
      growableArray(Uint32Array, capacity),
      null,
      null,
    );
  }

  /** Takes over `other`'s columns (rebuilt ones). */
  adopt(other: EntryColumns): void {
    this.segmentIds = other.segmentIds;
    this.offsets = other.offsets;
    this.lengths = other.lengths;
    this.metaBytes = other.metaBytes;
    this.expiresAt = other.expiresAt;
  }

  /** Makes room for entry `id`, keeping the `id` entries before it. */
  ensure(id: number): void {
    // Each column on its own: their capacities differ once one outgrows its reservation.
    const needed = id + 1;
    this.segmentIds = ensureLength(this.segmentIds, needed, id);
    this.offsets = ensureLength(this.offsets, needed, id);
    this.lengths = ensureLength(this.lengths, needed, id);
    if (this.metaBytes !== null) this.metaBytes = ensureLength(this.metaBytes, needed, id);
    if (this.expiresAt !== null) this.expiresAt = ensureLength(this.expiresAt, needed, id);
  }

  metaBytesOf(id: number): number {
    return this.metaBytes === null ? 0 : (this.metaBytes[id] as number);
  }

  expiresAtOf(id: number): number {
    return this.expiresAt === null ? NO_EXPIRY : (this.expiresAt[id] as number);
  }

  setMetaBytes(id: number, metaBytes: number): void {
    if (this.metaBytes === null) {
      if (metaBytes === 0) return;
      this.metaBytes = growableArray(Uint32Array, this.lengths.length);
    }
    this.metaBytes[id] = metaBytes;
  }

  setExpiresAt(id: number, expiresAt: number): void {
    if (this.expiresAt === null) {
      if (expiresAt === NO_EXPIRY) return;
      this.expiresAt = growableArray(Float64Array, this.lengths.length);
    }
    this.expiresAt[id] = expiresAt;
  }

  /** New columns holding entries `ids[0, count)` of these, in that order (a rebuild). */
  select(ids: Uint32Array, count: number): EntryColumns {
    const picked = <T extends Uint16Array | Uint32Array | Float64Array>(column: T): T => {
      const out = growableArray(column.constructor as GrowableConstructor<T>, count);
      for (let i = 0; i < count; i++) out[i] = column[ids[i] as number] as number;
      return out;
    };
    return new EntryColumns(
      picked(this.segmentIds),
      picked(this.offsets),
      picked(this.lengths),
      this.metaBytes === null ? null : picked(this.metaBytes),
      this.expiresAt === null ? null : picked(this.expiresAt),
    );
  }
}
