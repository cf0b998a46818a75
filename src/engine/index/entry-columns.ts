import { ensureLength, growableArray } from "./growth.ts";

/** No expiry: the value an entry's expiresAt column holds when it has none. */
export const NO_EXPIRY = 0;

/**
 * Where each entry's record lives, one typed array per field, indexed by entry id. An entry
 * whose `lengths` is 0 is dead (deleted or overwritten by a later entry of the same key): a
 * record always has a header, so no live entry has length 0.
 *
 * The expiry column (milliseconds since the epoch, NO_EXPIRY for none) is allocated only when
 * some key first gets one, so that an index without expiries pays nothing for it.
 */
export class EntryColumns {
  constructor(
    public segmentIds: Uint32Array,
    public offsets: Uint32Array,
    /** Whole record length, header and CRC included; 0 marks a dead entry. */
    public lengths: Uint32Array,
    /** Bytes of the metadata block inside the record (0 for most records). */
    public metaBytes: Uint16Array,
    public expiresAt: Float64Array | null,
  ) {}

  static empty(capacity = 16): EntryColumns {
    return new EntryColumns(
      growableArray(Uint32Array, capacity),
      growableArray(Uint32Array, capacity),
      growableArray(Uint32Array, capacity),
      growableArray(Uint16Array, capacity),
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
    this.metaBytes = ensureLength(this.metaBytes, needed, id);
    if (this.expiresAt !== null) this.expiresAt = ensureLength(this.expiresAt, needed, id);
  }

  /** The expiry column, allocated (all NO_EXPIRY) on first use. */
  expiryColumn(): Float64Array {
    if (this.expiresAt === null) this.expiresAt = growableArray(Float64Array, this.lengths.length);
    return this.expiresAt;
  }
}
