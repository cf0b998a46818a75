import type { IndexLocation } from "./index/location.ts";
import type { SnapshotUse } from "./recovery.ts";

// The types of the store's public API (see KVStore in store.ts, which exports them).

/** Where a key's newest record lives (what the index holds for it). */
export type Location = Required<Omit<IndexLocation, "expiresAt">>;

export interface ListOptions {
  /** Only keys that start with this string. */
  prefix?: string;
  /** Only keys sorted after this one (for paging: pass the last key of the previous page). */
  after?: string;
  /** At most this many keys. */
  limit?: number;
}

export interface KVStoreStats {
  numKeys: number;
  numSegments: number;
  /** Bytes of all segment files. */
  totalBytes: number;
  /** Bytes of the records the index points to. */
  liveBytes: number;
  /** Bytes that compaction could reclaim: overwritten and deleted records, tombstones, damage. */
  deadBytes: number;
  activeSegmentId: number;
  oldestSegmentId: number;
  /** Damaged records found on open (skipped in the middle of a segment, or a torn tail), and
   * segments that lost bytes index.snapshot covered. */
  corruptRecords: number;
  /** Bytes cut off torn segment tails on open. */
  truncatedBytes: number;
  /** How open rebuilt the index: from index.snapshot, or by replay ("absent"/"ignored"). */
  snapshotOnOpen: SnapshotUse;
  /** Bytes of segment files that open replayed. */
  replayedBytesOnOpen: number;
  snapshotsSaved: number;
  sets: number;
  deletes: number;
  /** Group commits: each is one write(2) per touched segment. */
  groupCommits: number;
  fsyncs: number;
  compacting: boolean;
  compactions: number;
  /** Bytes of segment files that compactions deleted, less the bytes they wrote. */
  bytesReclaimed: number;
  lastCompactionMs: number;
  lastCompactionLiveRecords: number;
  /** Compactions that failed (their inputs stay in use). */
  compactionFailures: number;
  /** Why the store stopped accepting writes (see StorageFailedError), or null while healthy. */
  storageFailure: string | null;
  /** A write found the disk full and free space is not back yet: new values are refused. */
  diskFull: boolean;
}

/** One segment file's figures: what compaction would keep (live) and reclaim (the rest). */
export interface SegmentStats {
  id: number;
  /** Bytes of the file. */
  bytes: number;
  /** Bytes of the records the index points to. */
  liveBytes: number;
  /** The segment being appended to. */
  active: boolean;
}

/**
 * A value in its segment file, with that file open for this reader alone, for streaming large
 * values without holding them in memory. The open file is the reader's lease: a compaction may
 * delete the file meanwhile, but its bytes stay readable through `fd` (and their disk space
 * taken) until `close()`. Call `close()` exactly when done; it may be called again.
 */
export interface OpenValue {
  fd: number;
  /** The segment file's path when it was opened (for messages: it may be gone since). */
  path: string;
  /** Where the value's bytes are in the file. */
  offset: number;
  length: number;
  /** Where the value's record starts: its header, key and metadata block are the bytes from
   * here to `offset`, and its CRC (`RecordCrc`) the 4 bytes after the value. */
  recordOffset: number;
  /** The metadata stored with the value (see `set`), or null; read with it, not CRC-checked. */
  metadata: Uint8Array | null;
  close(): void;
}

/** What `set` may store with a value. */
export interface SetOptions {
  /** Bytes kept with the value, opaque to the store (at most 65,535): see `getMetadata`. */
  metadata?: Uint8Array;
}
