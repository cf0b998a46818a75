import { closeSync, fsyncSync, openSync, readdirSync, readSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "./options.ts";
import { parseSegmentFileName } from "./segment.ts";

/**
 * Files an interrupted compaction or snapshot leaves behind, and the temp files kvstore 0.1.0
 * could leave while taking LOCK (on a full disk, or in a crash); never part of the data.
 */
const LEFTOVER = /^index\.snapshot\.tmp$|\.compacting$|^LOCK\.[0-9]+\.(?:tmp|stale)$/;

/** Segment ids found in `dir`, ascending. */
export function listSegmentIds(dir: string): number[] {
  const ids: number[] = [];
  for (const name of readdirSync(dir)) {
    const id = parseSegmentFileName(name);
    if (id !== null) ids.push(id);
  }
  return ids.sort((a, b) => a - b);
}

/** Temp files of an interrupted write. */
export function listLeftovers(dir: string): string[] {
  return readdirSync(dir).filter((name) => LEFTOVER.test(name));
}

/** Deletes temp files of an interrupted write. */
export function removeLeftovers(dir: string, logger: Logger): void {
  for (const name of listLeftovers(dir)) {
    rmSync(join(dir, name), { force: true });
    logger.warn(`removed ${name}, left by an interrupted write`);
  }
}

/** fsyncs the directory itself, so that created, renamed and deleted names are durable. */
export function syncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Reads `length` bytes at `offset` of the file at `path`. */
export function readFileRange(path: string, offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  const fd = openSync(path, "r");
  try {
    let done = 0;
    while (done < length) {
      const got = readSync(fd, out, done, length - done, offset + done);
      if (got === 0) throw new Error(`unexpected end of ${path} at offset ${offset + done}`);
      done += got;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
