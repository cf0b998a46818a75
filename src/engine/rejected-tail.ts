import { join } from "node:path";
import { describeCause } from "./errors.ts";
import { type FileSystem, writeAll } from "./file-system.ts";
import type { Logger } from "./options.ts";
import { segmentFileName } from "./segment.ts";

// When a failed write cannot be cut off its segment (the ftruncate or its fdatasync failed
// too), its records are still in the file, and a restart would replay a write whose caller was
// told it failed. This note says where the segment's good bytes end:
//
//   segment-0000000007.dat.rejected   holds the decimal offset, e.g. "1048576\n"
//
// Recovery cuts the segment there (durably) before it reads anything, then deletes the note.
// The note is written like every other small file here: temp file, fdatasync, rename, fsync
// of the directory. If even that fails the disk is refusing every write, and the error log
// says which bytes to distrust.

const SUFFIX = ".rejected";
const NOTE = /^segment-(\d{10})\.dat\.rejected$/;

/**
 * Leaves a note that segment `id` must be cut at `offset` on the next open; returns whether it
 * could. Never throws.
 */
export function markRejectedTail(
  fs: FileSystem,
  dir: string,
  id: number,
  offset: number,
  logger: Logger,
): boolean {
  const path = join(dir, segmentFileName(id) + SUFFIX);
  const temp = `${path}.tmp`;
  try {
    const fd = fs.open(temp, "replace");
    try {
      writeAll(fs, fd, new TextEncoder().encode(`${offset}\n`), 0);
      fs.datasync(fd);
    } finally {
      fs.close(fd);
    }
    fs.rename(temp, path);
    fs.syncDirectory(dir);
    logger.error(
      `rejected records at ${segmentFileName(id)} from offset ${offset} will be cut off on restart`,
    );
    return true;
  } catch (error) {
    logger.error(
      `could not note that ${segmentFileName(id)} must be cut at offset ${offset} (${describeCause(error)}): ` +
        "records after that offset were rejected and may reappear after a restart, with the records of " +
        "the same write batch in older segments",
    );
    return false;
  }
}

/** The offset a note says its segment must be cut at, or null if it names none. */
function notedOffset(fs: FileSystem, notePath: string): number | null {
  const offset = Number.parseInt(new TextDecoder().decode(fs.readWhole(notePath) ?? new Uint8Array()), 10);
  return Number.isSafeInteger(offset) && offset >= 0 ? offset : null;
}

/** Where the next open will cut each segment that has a rejected-tail note, by segment id. */
export function rejectedTailOffsets(fs: FileSystem, dir: string): Map<number, number> {
  const offsets = new Map<number, number>();
  for (const name of fs.list(dir)) {
    const match = NOTE.exec(name);
    const offset = match === null ? null : notedOffset(fs, join(dir, name));
    if (match !== null && offset !== null) offsets.set(Number(match[1]), offset);
  }
  return offsets;
}

/** Cuts every segment that has a rejected-tail note back to the noted offset, then drops the notes. */
export function cutRejectedTails(fs: FileSystem, dir: string, logger: Logger): void {
  const names = fs.list(dir);
  let changed = false;
  for (const name of names) {
    if (name.endsWith(`${SUFFIX}.tmp`)) fs.remove(join(dir, name));
    const match = NOTE.exec(name);
    if (match === null) continue;
    changed = true;
    const notePath = join(dir, name);
    const offset = notedOffset(fs, notePath);
    const segmentPath = join(dir, segmentFileName(Number(match[1])));
    if (offset !== null && names.includes(segmentFileName(Number(match[1])))) {
      if (fs.size(segmentPath) > offset) {
        const fd = fs.open(segmentPath, "update");
        try {
          fs.truncate(fd, offset);
          fs.datasync(fd);
        } finally {
          fs.close(fd);
        }
        logger.warn(
          `cut ${segmentFileName(Number(match[1]))} at offset ${offset}: the records after it were rejected`,
        );
      }
    } else {
      logger.error(`ignoring ${name}: it does not name a segment offset`);
    }
    fs.remove(notePath);
  }
  if (changed) fs.syncDirectory(dir);
}
