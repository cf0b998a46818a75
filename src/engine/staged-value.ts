import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { DiskFullError, describeCause, ValueTooLargeError } from "./errors.ts";
import { errorCode, type FileSystem, isDiskFull, writeAll } from "./file-system.ts";
import type { Logger } from "./options.ts";

// A value built on disk a piece at a time, then stored as one record (`KVStore.stageValue`), so
// that a value as large as maxValueBytes never has to be held in memory. Its bytes go to a
// staging file in the data directory, `upload-<16 hex digits>.tmp`:
//
//   data/upload-3f9c0a12b4d5e6f7.tmp   the value's bytes so far, nothing else
//
// The file is never read after a crash (open deletes any left over, see directory.ts), so it is
// never fsynced. The commit copies it into the active segment behind the record's header and
// key, through the writer's own path (GroupCommitter.writeThrough), then deletes it. The
// record's CRC covers the header, which holds the value's length: it is joined from the
// header's CRC and the value's, computed as the bytes arrived (crc32-combine.ts), so the commit
// reads the value once, to copy it.

/** The staging file names; a file of that form in the data directory is a leftover. */
export const STAGING_FILE = /^upload-[0-9a-f]{16}\.tmp$/;

/** How much of the staging file the commit copies into the segment at a time. */
export const COPY_PIECE_BYTES = 1024 * 1024;

/** Options of a commit: what the value carries besides its bytes, as for `set()`. */
export interface CommitOptions {
  /** Opaque bytes kept beside the value (see `SetOptions.metadata`). */
  metadata?: Uint8Array;
}

/** What a staged value needs of its store. */
export interface StagingHost {
  fs: FileSystem;
  dir: string;
  maxValueBytes: number;
  logger: Logger;
  /** Stores the staged value as the record of its key; see `StagedValue.commit`. */
  commit(staged: StagedValue, options: CommitOptions): Promise<void>;
  /** The staged value was committed or aborted: its file is gone (or left for open to delete). */
  ended(staged: StagedValue): void;
}

export class StagedValue {
  private fd: number | null;
  private bytes = 0;
  private crc = 0;
  private open = true;
  /** Why later calls fail once the value was aborted by its store (closed, say). */
  private abortedBy: Error | null = null;

  private constructor(
    private readonly host: StagingHost,
    readonly key: string,
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Creates the staging file; DiskFullError when the disk has no room even for its name. */
  static create(host: StagingHost, key: string): StagedValue {
    const path = join(host.dir, `upload-${randomBytes(8).toString("hex")}.tmp`);
    try {
      return new StagedValue(host, key, path, host.fs.open(path, "create"));
    } catch (error) {
      throw stagingError(error, "could not create a staging file for the value");
    }
  }

  /** Bytes appended so far. */
  get size(): number {
    return this.bytes;
  }

  /** The CRC-32 (IEEE) of the bytes appended so far. */
  get crc32(): number {
    return this.crc;
  }

  /**
   * Appends `chunk` to the value. Past maxValueBytes: ValueTooLargeError. A full disk:
   * DiskFullError. Either way, and on any other failure, the staged value is aborted (its file
   * deleted) and the store goes on: no byte of the log was touched.
   */
  append(chunk: Uint8Array): void {
    const fd = this.assertOpen();
    const total = this.bytes + chunk.length;
    if (total > this.host.maxValueBytes) {
      this.abort();
      throw new ValueTooLargeError(total, this.host.maxValueBytes);
    }
    try {
      writeAll(this.host.fs, fd, chunk, this.bytes);
    } catch (error) {
      this.abort();
      throw stagingError(error, "could not write the value to its staging file");
    }
    this.bytes = total;
    this.crc = Bun.hash.crc32(chunk, this.crc);
  }

  /**
   * Stores the value under its key, as `set()` would: applied (readable, and visible to a
   * precondition checked just before in the same tick) before the promise returns, resolved
   * when durable, rejected as `set()` is. The staging file is deleted either way.
   */
  commit(options: CommitOptions = {}): Promise<void> {
    try {
      this.assertOpen();
    } catch (error) {
      return Promise.reject(error);
    }
    try {
      return this.host.commit(this, options);
    } finally {
      this.end();
    }
  }

  /**
   * Drops the value and deletes its staging file; nothing is stored. Idempotent. `reason`: what
   * later calls throw (the store aborts its staged values with StoreClosedError when it closes).
   */
  abort(reason?: Error): void {
    if (!this.open) return;
    this.abortedBy = reason ?? null;
    this.end();
  }

  /**
   * The record's bytes for the commit's copy: `head` (header and key), the value read back from
   * the staging file `COPY_PIECE_BYTES` at a time into one reused buffer, then `tail` (the CRC).
   */
  *recordPieces(head: Uint8Array, tail: Uint8Array): Generator<Uint8Array> {
    const fd = this.assertOpen();
    yield head;
    const buffer = new Uint8Array(Math.min(COPY_PIECE_BYTES, this.bytes));
    for (let at = 0; at < this.bytes; ) {
      const want = Math.min(buffer.length, this.bytes - at);
      let got = 0;
      while (got < want) {
        const read = this.host.fs.read(fd, buffer, got, want - got, at + got);
        if (read === 0) throw new Error(`${this.path} ends at ${at + got} bytes, ${this.bytes} were staged`);
        got += read;
      }
      yield buffer.subarray(0, want);
      at += want;
    }
    yield tail;
  }

  private assertOpen(): number {
    if (!this.open || this.fd === null) {
      throw (
        this.abortedBy ??
        new Error(`the staged value of ${JSON.stringify(this.key)} was committed or aborted`)
      );
    }
    return this.fd;
  }

  /** Closes and deletes the staging file. A failure is logged: open deletes what is left. */
  private end(): void {
    this.open = false;
    const fd = this.fd;
    this.fd = null;
    try {
      if (fd !== null) this.host.fs.close(fd);
      this.host.fs.remove(this.path);
    } catch (error) {
      this.host.logger.warn(`could not delete the staging file ${this.path}: ${describeCause(error)}`);
    }
    this.host.ended(this);
  }
}

/** A staging file's failure: DiskFullError for a full disk, the error itself otherwise. */
function stagingError(error: unknown, what: string): unknown {
  if (!isDiskFull(error)) return error;
  return new DiskFullError(
    `${what}: the disk holding the store is full (${errorCode(error)}); nothing was stored. ` +
      "Delete keys and compact, or free space (see README, Durability and failures)",
    { cause: error },
  );
}
