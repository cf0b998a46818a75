import { join } from "node:path";
import { CorruptionError } from "./errors.ts";
import { type FileSystem, isDiskFull } from "./file-system.ts";

const SEGMENT_NAME = /^segment-(\d{10})\.dat$/;
const INITIAL_BUFFER_BYTES = 64 * 1024;
/** How far the file may grow past its memory map before a read maps it again. */
const REMAP_STEP_BYTES = 1024 * 1024;
/** Zeros to preallocate with (see `preallocateBytes`), written a piece at a time. */
const ZEROS = new Uint8Array(256 * 1024);

export function segmentFileName(id: number): string {
  return `segment-${String(id).padStart(10, "0")}.dat`;
}

/** The id of a segment file name, or null for any other file. */
export function parseSegmentFileName(name: string): number | null {
  const match = SEGMENT_NAME.exec(name);
  return match ? Number(match[1]) : null;
}

/**
 * One append-only segment file. Appended records wait in an in-memory buffer until
 * `writeBuffered()` hands them to the kernel with a single write(2). Reads come from a memory
 * map of the file (a read(2) per value would cost a system call each), from pread for bytes
 * written since the map was made, and from the buffer for bytes not written yet, so a write is
 * readable at once.
 *
 * The file of the segment being appended to runs on past its records with zeros (see
 * `preallocateBytes`); a sealed segment's file is cut to its records:
 *
 *   | records ... | zeros (preallocated) |
 *   0           size                  allocated = the file's length
 */
export class Segment {
  /** Bytes handed to the kernel; everything before this offset is in the file. */
  private written: number;
  private buffer = new Uint8Array(INITIAL_BUFFER_BYTES);
  private buffered = 0;
  private mapping: Uint8Array | null = null;
  private unsynced = false;
  private closed = false;
  /** Bytes known to be on disk: the length at the last successful fdatasync (or at open). */
  private synced: number;
  /** The file's length: `written` plus the zeros preallocated past it. */
  private allocated: number;
  /** No longer appended to (a newer segment took over): its file is cut to its records. */
  private sealed = false;
  /**
   * How far ahead of its records the file is filled with zeros; set on the segment being
   * appended to (the store's `preallocateBytes` option). A write(2) that extends a file makes
   * its fdatasync commit the new size to the file system's journal too; one that lands on bytes
   * already there does not. Measured here (ext4, 64 records of 130 bytes per fdatasync): 6,146
   * fdatasyncs a second into zeroed space against 3,913 at the end of the file (median of 8
   * alternated runs). So a batch's write is followed, every `preallocateBytes`, by zeros past it,
   * made durable by the same fdatasync. Recovery reads a zero tail as space, not damage
   * (recovery.ts).
   */
  preallocateBytes = 0;

  private constructor(
    private readonly fs: FileSystem,
    readonly id: number,
    readonly path: string,
    private readonly fd: number,
    size: number,
    fileLength: number,
  ) {
    this.written = size;
    this.synced = size;
    this.allocated = Math.max(size, fileLength);
  }

  /** Creates a new, empty segment file; fails if one with this id exists. */
  static create(fs: FileSystem, dir: string, id: number): Segment {
    const path = join(dir, segmentFileName(id));
    return new Segment(fs, id, path, fs.open(path, "create"), 0, 0);
  }

  /**
   * Opens an existing segment whose valid bytes end at `size`; its file is `fileLength` bytes
   * long (more than `size` when zeros were preallocated past its records).
   */
  static open(fs: FileSystem, dir: string, id: number, size: number, fileLength = size): Segment {
    const path = join(dir, segmentFileName(id));
    return new Segment(fs, id, path, fs.open(path, "update"), size, fileLength);
  }

  /** Length of the segment including bytes still buffered. */
  get size(): number {
    return this.written + this.buffered;
  }

  get hasBuffered(): boolean {
    return this.buffered > 0;
  }

  /** Zeros preallocated in the file past the records (given back when the segment is sealed). */
  get preallocatedBytes(): number {
    return this.allocated - this.written;
  }

  /** Bytes in the file (handed to the kernel); the rest of `size` is still buffered. */
  get fileSize(): number {
    return this.written;
  }

  get needsSync(): boolean {
    return this.unsynced;
  }

  /** Length covered by the last successful fdatasync: what a power cut would leave. */
  get syncedSize(): number {
    return this.synced;
  }

  /**
   * Makes room for `length` more bytes and returns the buffer to encode them into, at
   * `appendPosition`; `commitAppend(length)` then makes them part of the segment.
   */
  reserve(length: number): Uint8Array {
    const needed = this.buffered + length;
    if (needed > this.buffer.length) {
      let capacity = this.buffer.length * 2;
      while (capacity < needed) capacity *= 2;
      const grown = new Uint8Array(capacity);
      grown.set(this.buffer.subarray(0, this.buffered));
      this.buffer = grown;
    }
    return this.buffer;
  }

  get appendPosition(): number {
    return this.buffered;
  }

  /** Appends the `length` bytes just encoded at the reserved place; returns their segment offset. */
  commitAppend(length: number): number {
    const offset = this.size;
    this.buffered += length;
    return offset;
  }

  /**
   * Hands every buffered byte to the kernel in one write(2), then preallocates past them if they
   * reach beyond the zeros already there (not for a sealed segment, whose file is cut to its
   * records instead).
   */
  writeBuffered(): void {
    let done = 0;
    while (done < this.buffered) {
      done += this.fs.write(this.fd, this.buffer, done, this.buffered - done, this.written + done);
    }
    this.written += this.buffered;
    this.buffered = 0;
    this.unsynced = true;
    // A huge value grew the buffer; do not keep that memory for the small writes that follow.
    if (this.buffer.length > 16 * INITIAL_BUFFER_BYTES) this.buffer = new Uint8Array(INITIAL_BUFFER_BYTES);
    if (this.sealed) this.cutToRecords();
    else if (this.written > this.allocated && this.preallocateBytes > 0) this.preallocate();
    // Records written past the zeros, or with none preallocated, are the file's end: else
    // `preallocatedBytes` went negative, and compaction took the active segment's records off
    // the free space.
    this.allocated = Math.max(this.allocated, this.written);
  }

  /**
   * Marks the segment as no longer appended to: its file is cut to its records now, or after
   * the write of what is still buffered. Not made durable on its own: a zero tail that a crash
   * leaves is cut by recovery.
   */
  seal(): void {
    this.sealed = true;
    if (this.buffered === 0) this.cutToRecords();
  }

  /**
   * Writes zeros from the end of the records to `preallocateBytes` past them. A full disk or a
   * spent quota (EDQUOT, which the writer takes for a full disk too) leaves the file as it is:
   * the records are written, the next write tries again. Were EDQUOT the write's error, a batch
   * whose records fit under the quota would be refused for its zeros. Any other error is the
   * write's.
   */
  private preallocate(): void {
    const end = this.written + this.preallocateBytes;
    let at = this.written;
    try {
      while (at < end) at += this.fs.write(this.fd, ZEROS, 0, Math.min(ZEROS.length, end - at), at);
    } catch (error) {
      if (!isDiskFull(error)) throw error;
    }
    this.allocated = at;
  }

  /**
   * Cuts the file to its records: the zeros past them go. Never throws: zeros left behind cost
   * only disk space until recovery cuts them.
   */
  private cutToRecords(): void {
    if (this.allocated === this.written) return;
    try {
      this.fs.truncate(this.fd, this.written);
      this.allocated = this.written;
    } catch {}
  }

  /**
   * Writes `bytes` straight to the end of the file, past the buffer, which must be empty: for a
   * record too large to buffer (staged-value.ts), written a piece at a time. A write that fails
   * part-way leaves bytes past `fileSize`, which `truncate` cuts off.
   */
  writeThrough(bytes: Uint8Array): void {
    if (this.buffered > 0) throw new Error(`${this.path}: a write-through needs an empty write buffer`);
    let done = 0;
    while (done < bytes.length) {
      done += this.fs.write(this.fd, bytes, done, bytes.length - done, this.written + done);
    }
    this.written += bytes.length;
    this.allocated = Math.max(this.allocated, this.written);
    this.unsynced = true;
  }

  /**
   * fdatasync(2). If it fails, the caller must treat the file's unsynced bytes as lost for good:
   * Linux reports a write-back error once, and a second fdatasync would return 0 without the
   * data being on disk.
   */
  sync(): void {
    const length = this.written;
    this.fs.datasync(this.fd);
    this.synced = length;
    this.unsynced = false;
  }

  /**
   * Drops everything from `offset` on, buffered or written: used to cut a torn tail on
   * recovery and to undo a batch whose write failed.
   */
  truncate(offset: number): void {
    if (offset >= this.written) {
      this.buffered = offset - this.written;
      // A write(2) that failed part-way may have left bytes past `written`: cut them off too
      // (and the preallocated zeros with them).
      this.fs.truncate(this.fd, this.written);
      this.allocated = this.written;
      return;
    }
    this.buffered = 0;
    // A map that reaches past the new end would fault on access: drop it.
    this.mapping = null;
    this.fs.truncate(this.fd, offset);
    this.written = offset;
    this.allocated = offset;
    this.synced = Math.min(this.synced, offset);
    this.unsynced = true;
  }

  /**
   * The `length` bytes at `offset`. The result may be a view of the file's memory map: read it
   * or copy it, but do not hand it out to be kept.
   */
  bytes(offset: number, length: number): Uint8Array {
    const mapped = this.mappedUpTo(offset + length);
    return mapped !== null ? mapped.subarray(offset, offset + length) : this.read(offset, length);
  }

  /** The file's memory map if it reaches `end` (mapping the file again if it has grown), or null. */
  mappedUpTo(end: number): Uint8Array | null {
    // The map runs on over the preallocated zeros, where buffered records are not yet written.
    if (end > this.written) return null;
    if (this.mapping === null || end > this.mapping.length) this.remapIfGrown(end);
    return this.mapping !== null && end <= this.mapping.length ? this.mapping : null;
  }

  /** Every byte written so far, mapped (for compaction, which reads whole segments). */
  allWritten(): Uint8Array {
    if (this.mapping === null || this.mapping.length < this.written) this.remap();
    return this.mapping !== null && this.mapping.length >= this.written
      ? this.mapping.subarray(0, this.written)
      : this.read(0, this.written);
  }

  private remapIfGrown(end: number): void {
    if (end > this.written) return;
    if (this.mapping !== null && this.written - this.mapping.length < REMAP_STEP_BYTES) return;
    this.remap();
  }

  private remap(): void {
    try {
      this.mapping = this.fs.map(this.path);
    } catch {
      // Gone from the directory (compacted away) or not mappable: pread still works on the fd.
      this.mapping = null;
    }
  }

  /** Reads `length` bytes at `offset` into a new buffer, with pread and from the write buffer. */
  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    // Bytes already in the file.
    while (done < length && offset + done < this.written) {
      const want = Math.min(length - done, this.written - offset - done);
      const got = this.fs.read(this.fd, out, done, want, offset + done);
      // Cut short under the store: damage, which a client is told of without the file's path.
      if (got === 0) {
        throw new CorruptionError(
          this.path,
          offset,
          `the file ends at offset ${offset + done}, inside the record`,
        );
      }
      done += got;
    }
    // Bytes still waiting in the write buffer.
    if (done < length) {
      const from = offset + done - this.written;
      out.set(this.buffer.subarray(from, from + length - done), done);
    }
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.mapping = null;
    this.fs.close(this.fd);
  }
}
