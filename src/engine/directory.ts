import { join } from "node:path";
import type { FileSystem } from "./file-system.ts";
import type { Logger } from "./options.ts";
import { parseSegmentFileName } from "./segment.ts";
import { STAGING_FILE } from "./staged-value.ts";

/**
 * Files an interrupted compaction or snapshot leaves behind, the staging files of values never
 * committed (staged-value.ts), and the temp files kvstore 0.1.0 could leave while taking LOCK
 * (on a full disk, or in a crash); never part of the data.
 */
const LEFTOVER = /^index\.snapshot\.tmp$|\.compacting$|^LOCK\.[0-9]+\.(?:tmp|stale)$/;

function isLeftover(name: string): boolean {
  return LEFTOVER.test(name) || STAGING_FILE.test(name);
}

/** Segment ids found in `dir`, ascending. */
export function listSegmentIds(fs: FileSystem, dir: string): number[] {
  const ids: number[] = [];
  for (const name of fs.list(dir)) {
    const id = parseSegmentFileName(name);
    if (id !== null) ids.push(id);
  }
  return ids.sort((a, b) => a - b);
}

/** Temp files of an interrupted write. */
export function listLeftovers(fs: FileSystem, dir: string): string[] {
  return fs.list(dir).filter(isLeftover);
}

/** Deletes temp files of an interrupted write. */
export function removeLeftovers(fs: FileSystem, dir: string, logger: Logger): void {
  for (const name of listLeftovers(fs, dir)) {
    fs.remove(join(dir, name));
    logger.warn(`removed ${name}, left by an interrupted write`);
  }
}
