import type { BackupReport, KVStore, KVStoreStats, ListOptions, OpenValue } from "../index.ts";
import { type BlobAttributes, decodeBlobMetadata, encodeBlobMetadata } from "./blob-metadata.ts";
import { BlobUpload } from "./blob-upload.ts";
import { etagOf } from "./etag.ts";
import { DEFAULT_CONTENT_TYPE } from "./media-type.ts";
import { checkStoredValue } from "./stored-value-check.ts";

/** What a PUT answers: the JSON shape of the original mini-kvstore API (`etag`: its CRC-32). */
export interface BlobMeta {
  key: string;
  etag: string;
  size: number;
  volume_id: string;
}

/**
 * A stored blob, ready to send, its record's CRC checked. Small blobs come as bytes (one
 * positional read); large ones as their segment file, open, so that the server can stream them
 * without holding them in memory: whoever gets one must `close()` its file (`streamValue`
 * does when the stream ends or is cancelled).
 */
export type StoredBlob = BlobAttributes &
  (
    | { size: number; etag: string; bytes: Uint8Array; file?: undefined }
    | { size: number; etag: string; bytes?: undefined; file: OpenValue }
  );

/** What HEAD and conditional reads need of a blob; `streamed`: sent from its segment file. */
export interface BlobSummary extends BlobAttributes {
  size: number;
  etag: string;
  streamed: boolean;
}

/**
 * Bun sends a file slice with sendfile(2) from 1 MiB up; below that, a read into memory and a
 * plain response is about twice as fast (CONTRIBUTING.md, "Bun 1.4.5 behaviour").
 */
const STREAM_FROM_FILE_BYTES = 1024 * 1024;

interface CachedEtag {
  path: string;
  offset: number;
  etag: string;
}

/** A volume: a KVStore of blobs plus the volume id reported to clients. */
export class BlobStorage {
  /**
   * Etags of large blobs, which are streamed and so never all in memory at once, for answers
   * that send no bytes (HEAD, 304). An entry is trusted only while the key still points at the
   * same place on disk: a rewrite, a delete, a rolled-back write or a compaction moves the value
   * and so invalidates it. A damaged blob loses its entry.
   */
  private readonly largeEtags = new Map<string, CachedEtag>();

  constructor(
    readonly store: KVStore,
    readonly volumeId: string,
    private readonly streamFromFileBytes = STREAM_FROM_FILE_BYTES,
    /** The clock that dates each write (its Last-Modified). */
    private readonly now: () => number = Date.now,
  ) {}

  /** Throws InvalidKeyError when the store would refuse `key`: call it before reading a body. */
  checkKey(key: string): void {
    this.store.checkKey(key);
  }

  /**
   * Starts a blob for `key` that arrives a chunk at a time (see BlobUpload): `append` its bytes,
   * then `commitUpload` it, or `abort()` it. `expectedBytes`: its declared length, if known.
   */
  startUpload(key: string, expectedBytes: number | null = null): BlobUpload {
    return new BlobUpload(this.store, key, expectedBytes);
  }

  /**
   * Stores a received upload under its key, of type `contentType` (a valid media type, see
   * media-type.ts), dated now; resolves once the engine reports it durable, with the JSON answer
   * and the entity tag. The write is applied (readable) before this returns its promise, so a
   * precondition checked just before, in the same tick, holds for it.
   */
  commitUpload(
    upload: BlobUpload,
    contentType = DEFAULT_CONTENT_TYPE,
  ): Promise<{ meta: BlobMeta; etag: string }> {
    this.largeEtags.delete(upload.key);
    const writtenAt = this.now();
    return upload
      .commit((etag) => encodeBlobMetadata(contentType, writtenAt, etag))
      .then(({ size, etag, crcEtag }) => ({
        meta: { key: upload.key, etag: crcEtag, size, volume_id: this.volumeId },
        etag,
      }));
  }

  /** Stores `bytes` under `key`, as an upload of one chunk; see `commitUpload`. */
  put(
    key: string,
    bytes: Uint8Array,
    contentType = DEFAULT_CONTENT_TYPE,
  ): Promise<{ meta: BlobMeta; etag: string }> {
    const upload = this.startUpload(key, bytes.length);
    try {
      upload.append(bytes);
    } catch (error) {
      upload.abort();
      return Promise.reject(error);
    }
    return this.commitUpload(upload, contentType);
  }

  /**
   * The blob under `key`, ready to send. A large one's record is read and its CRC checked on
   * every call, cached etag or not, so bytes that were damaged since are never sent. Throws
   * CorruptionError when the record is damaged.
   */
  read(key: string): StoredBlob | null {
    const length = this.store.valueLength(key);
    if (length === null) return null;
    if (length < this.streamFromFileBytes) {
      const entry = this.store.getWithMetadata(key);
      if (entry === null) return null;
      const bytes = entry.value;
      const { contentType, lastModified, etag } = this.attributesOf(entry.metadata);
      return { size: bytes.length, etag: etag ?? etagOf(bytes), bytes, contentType, lastModified };
    }
    const file = this.store.openValue(key);
    if (file === null) return null;
    try {
      // Its record is read whole for the CRC check anyway, which hashes its tag on the way.
      const etag = this.checkLarge(key, file);
      const { contentType, lastModified } = this.attributesOf(file.metadata);
      return { size: file.length, etag, file, contentType, lastModified };
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /**
   * The size and etag of the blob under `key`, for answers that send none of its bytes. A large
   * blob is read (and checked) only when its etag is not cached.
   */
  summary(key: string): BlobSummary | null {
    const length = this.store.valueLength(key);
    if (length === null) return null;
    if (length < this.streamFromFileBytes) {
      const entry = this.store.getWithMetadata(key);
      if (entry === null) return null;
      const { contentType, lastModified, etag } = this.attributesOf(entry.metadata);
      const { value } = entry;
      return { size: value.length, etag: etag ?? etagOf(value), streamed: false, contentType, lastModified };
    }
    const file = this.store.openValue(key);
    if (file === null) return null;
    try {
      const cached = this.largeEtags.get(key);
      const known = cached !== undefined && cached.path === file.path && cached.offset === file.offset;
      const etag = known ? cached.etag : this.checkLarge(key, file);
      const { contentType, lastModified } = this.attributesOf(file.metadata);
      return { size: file.length, etag, streamed: true, contentType, lastModified };
    } finally {
      file.close();
    }
  }

  /** Removes `key`; applied before this returns its promise, like `put`. */
  delete(key: string): Promise<boolean> {
    this.largeEtags.delete(key);
    return this.store.delete(key);
  }

  list(options?: ListOptions): string[] {
    return this.store.listKeys(options);
  }

  stats(): KVStoreStats {
    return this.store.stats();
  }

  /** Rewrites live blobs into fresh segments and deletes the old ones (see KVStore.compact). */
  compact(): Promise<void> {
    return this.store.compact();
  }

  /** Copies the volume as it is now to `destDir`, a new or empty directory (see KVStore.backup). */
  backup(destDir: string): Promise<BackupReport> {
    return this.store.backup(destDir);
  }

  saveSnapshot(): Promise<void> {
    return this.store.saveSnapshot();
  }

  close(): Promise<void> {
    return this.store.close();
  }

  /**
   * What a read answers beside a blob's bytes. Its date is a validator (Last-Modified,
   * If-Modified-Since) only once the second it names is over by this clock: a client handed
   * "16:00:00" while that second runs could not tell a rewrite later in the same second from the
   * version it holds, and would be answered 304 with those old bytes from then on. A date still
   * ahead of the clock (it was moved back) is left out too: Last-Modified is never later than
   * the answer (RFC 9110, section 8.8.2.1).
   */
  private attributesOf(metadata: Uint8Array | null): BlobAttributes {
    const attributes = decodeBlobMetadata(metadata);
    const { lastModified } = attributes;
    if (lastModified === null || Math.floor(lastModified / 1000) < Math.floor(this.now() / 1000)) {
      return attributes;
    }
    return { ...attributes, lastModified: null };
  }

  /** Reads a large blob's record, checking its CRC, and caches its etag. */
  private checkLarge(key: string, file: OpenValue): string {
    let etag: string;
    try {
      etag = checkStoredValue(file);
    } catch (error) {
      this.largeEtags.delete(key);
      throw error;
    }
    this.largeEtags.set(key, { path: file.path, offset: file.offset, etag });
    return etag;
  }
}
