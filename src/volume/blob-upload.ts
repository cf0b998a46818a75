import type { KVStore, StagedValue } from "../index.ts";
import { crcEtagOf, crcEtagOfCrc } from "./crc-etag.ts";
import { ETAG_BLOCK_BYTES, EtagHasher, etagOf } from "./etag.ts";

/** The first block buffer of a body of unknown length; it grows, doubling, up to a whole block. */
const FIRST_BLOCK_BYTES = 64 * 1024;

/** What an upload's commit resolves to: its size, and the two tags its answer carries. */
export interface CommittedUpload {
  size: number;
  /** The strong entity tag (etag.ts). */
  etag: string;
  /** The CRC-32 tag of the original API (crc-etag.ts). */
  crcEtag: string;
}

/**
 * A blob arriving a chunk at a time, never held whole. Chunks gather in one block of
 * ETAG_BLOCK_BYTES (1 MiB), hashed into the entity tag when full. A blob that fits in one block
 * is stored from memory, as `set()` would; once a block fills, the blob goes on in a staged value
 * on disk (KVStore.stageValue) and each full block is appended to it, so an upload holds at most
 * one block in memory whatever its size, and nothing is read twice: the tags and the record's
 * CRC are computed as the bytes pass.
 */
export class BlobUpload {
  /**
   * Where the current block gathers; replaced by a larger copy when a chunk does not fit. Not a
   * resizable ArrayBuffer: reserving its maximum (1 MiB) of address space per upload cost a
   * small PUT more than the rest of its handling.
   */
  private block: Uint8Array;
  private filled = 0;
  private staged: StagedValue | null = null;
  private readonly hasher = new EtagHasher();
  private ended = false;

  /** `expectedBytes`: the declared length, if known, to size the first block. */
  constructor(
    private readonly store: KVStore,
    readonly key: string,
    expectedBytes: number | null,
  ) {
    const first = Math.min(expectedBytes ?? FIRST_BLOCK_BYTES, ETAG_BLOCK_BYTES);
    this.block = new Uint8Array(first);
  }

  /** Bytes received so far. */
  get size(): number {
    return (this.staged?.size ?? 0) + this.filled;
  }

  /** Appends `chunk`; throws what staging throws (DiskFullError, ValueTooLargeError), having aborted. */
  append(chunk: Uint8Array): void {
    for (let at = 0; at < chunk.length; ) {
      const room = ETAG_BLOCK_BYTES - this.filled;
      const take = Math.min(room, chunk.length - at);
      if (this.filled + take > this.block.length) this.growBlock(this.filled + take);
      this.block.set(chunk.subarray(at, at + take), this.filled);
      this.filled += take;
      at += take;
      if (this.filled === ETAG_BLOCK_BYTES) this.stageBlock();
    }
  }

  /**
   * Stores the blob under its key. Applied before the promise returns (so a precondition checked
   * just before, in the same tick, holds for it), resolved once durable. `metadataFor`: the
   * blob's metadata record (blob-metadata.ts) for its entity tag, kept beside its bytes.
   */
  commit(metadataFor: (etag: string) => Uint8Array): Promise<CommittedUpload> {
    this.ended = true;
    if (this.staged === null) {
      const bytes = this.block.subarray(0, this.filled);
      const tags = { size: bytes.length, etag: etagOf(bytes), crcEtag: crcEtagOf(bytes) };
      return this.store.set(this.key, bytes, { metadata: metadataFor(tags.etag) }).then(() => tags);
    }
    const staged = this.staged;
    // A blob of whole blocks has no last partial one: its tag hashes none (as etagOf does).
    if (this.filled > 0) this.stageBlock();
    const tags = { size: staged.size, etag: this.hasher.etag, crcEtag: crcEtagOfCrc(staged.crc32) };
    return staged.commit({ metadata: metadataFor(tags.etag) }).then(() => tags);
  }

  /** Drops what was received, deleting its staging file; nothing is stored. Idempotent; a no-op after commit. */
  abort(): void {
    if (this.ended) return;
    this.ended = true;
    this.staged?.abort();
  }

  /** Moves the block into one of at least `bytes` (at most a whole block), doubling its size. */
  private growBlock(bytes: number): void {
    const grown = new Uint8Array(Math.min(Math.max(bytes, 2 * this.block.length), ETAG_BLOCK_BYTES));
    grown.set(this.block.subarray(0, this.filled));
    this.block = grown;
  }

  private stageBlock(): void {
    const block = this.block.subarray(0, this.filled);
    this.staged ??= this.store.stageValue(this.key);
    this.staged.append(block);
    this.hasher.add(block);
    this.filled = 0;
  }
}
