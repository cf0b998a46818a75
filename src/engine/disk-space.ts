import { join } from "node:path";
import { DiskFullError, describeCause } from "./errors.ts";
import { type FileSystem, writeAll } from "./file-system.ts";
import type { Logger } from "./options.ts";
import { MiB } from "./options.ts";

// A store whose disk fills up must still be able to delete and compact, or the operator has no
// way out but deleting files by hand. So the store keeps a ballast file of `reserveBytes`
// (space.reserve, zeros) and gives it up at the first write that fails with ENOSPC, as
// CockroachDB does. From then on new values are refused (DiskFullError) until free space is
// back above twice the reserve, while deletes (small tombstones) and compaction use the room
// the ballast left. Then the ballast is made again and writes resume.

export const RESERVE_FILE = "space.reserve";
const CHUNK_BYTES = MiB;

export class DiskSpace {
  private full = false;
  private readonly reservePath: string;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly reserveBytes: number,
    private readonly logger: Logger,
  ) {
    this.reservePath = join(dir, RESERVE_FILE);
  }

  /** True from a write that found the disk full until free space is back. */
  get isFull(): boolean {
    return this.full;
  }

  /** Bytes free on the disk that holds the store. */
  freeBytes(): number {
    return this.fs.freeBytes(this.dir);
  }

  /**
   * Makes the ballast file if it is missing or short. A disk with no room for it is only
   * reported: a store must open on a full disk, so that its data can be read and freed.
   */
  ensureReserve(): void {
    if (this.reserveBytes === 0) return;
    try {
      if (this.fs.size(this.reservePath) === this.reserveBytes) return;
    } catch {
      // Missing (or unreadable): make it below.
    }
    const zeros = new Uint8Array(Math.min(CHUNK_BYTES, this.reserveBytes));
    try {
      const fd = this.fs.open(this.reservePath, "replace");
      try {
        for (let at = 0; at < this.reserveBytes; at += zeros.length) {
          writeAll(this.fs, fd, zeros.subarray(0, Math.min(zeros.length, this.reserveBytes - at)), at);
        }
        this.fs.datasync(fd);
      } finally {
        this.fs.close(fd);
      }
    } catch (error) {
      this.removeReserve();
      this.logger.warn(
        `no room for the ${this.reserveBytes}-byte space reserve in ${this.dir} (${describeCause(error)}); ` +
          "a full disk will leave deletes and compaction only the space that is free then",
      );
    }
  }

  /** A write failed with ENOSPC: give the ballast's space to deletes and compaction. */
  noteFull(cause: unknown): void {
    if (this.full) return;
    this.full = true;
    this.removeReserve();
    this.logger.error(
      `the disk holding ${this.dir} is full (${describeCause(cause)}): new values are refused until ` +
        `${this.resumeAt()} bytes are free; deletes and compaction go on`,
    );
  }

  /** Throws DiskFullError while the disk is still too full for new values. */
  assertRoomForValues(): void {
    if (!this.full) return;
    const free = this.freeBytes();
    if (free < this.resumeAt()) {
      throw new DiskFullError(
        `the disk holding the store is full: ${free} bytes free, writes resume at ${this.resumeAt()}. ` +
          "Delete keys and compact, or free space (see README, Durability and failures)",
      );
    }
    this.full = false;
    this.ensureReserve();
    this.logger.warn(`the disk holding ${this.dir} has room again (${free} bytes free): writes resume`);
  }

  private resumeAt(): number {
    return 2 * Math.max(this.reserveBytes, MiB);
  }

  private removeReserve(): void {
    try {
      this.fs.remove(this.reservePath);
    } catch (error) {
      this.logger.error(`could not remove ${this.reservePath}: ${describeCause(error)}`);
    }
  }
}
