/** Where a key's newest record lives, as given to the index. */
export interface IndexLocation {
  segmentId: number;
  /** Offset of the record's first byte in its segment. */
  offset: number;
  /** Whole record length, header and CRC included; never 0. */
  length: number;
  /** Bytes of the metadata block inside the record; 0 when absent. */
  metaBytes?: number;
  /** Expiry in milliseconds since the epoch; 0 or absent for none. */
  expiresAt?: number;
}

/**
 * A location read out of the index into a reusable object, so that lookups allocate nothing.
 * The index fills the same view again on the next call of the method that returned it: copy the
 * fields you keep.
 */
export class LocationView implements IndexLocation {
  segmentId = 0;
  offset = 0;
  length = 0;
  metaBytes = 0;
  expiresAt = 0;
}
