import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { KeyDir } from "./keydir.ts";
import type { Logger } from "./options.ts";
import { Op } from "./record.ts";
import { scanRecords } from "./scan.ts";
import { parseSegmentFileName, Segment, segmentFileName } from "./segment.ts";

export interface RecoveredState {
  /** Every segment, oldest first; the last one is the active segment. */
  segments: Segment[];
  corruptRecords: number;
  truncatedBytes: number;
}

/** Segment ids found in `dir`, ascending. */
export function listSegmentIds(dir: string): number[] {
  const ids: number[] = [];
  for (const name of readdirSync(dir)) {
    const id = parseSegmentFileName(name);
    if (id !== null) ids.push(id);
  }
  return ids.sort((a, b) => a - b);
}

/**
 * Rebuilds the index by replaying every segment in id order, so that the newest record of each
 * key wins. Torn tails are cut off; corrupt records in the middle are skipped and counted.
 */
export function replaySegments(dir: string, keydir: KeyDir, logger: Logger): RecoveredState {
  const state: RecoveredState = { segments: [], corruptRecords: 0, truncatedBytes: 0 };
  try {
    for (const id of listSegmentIds(dir)) state.segments.push(replaySegment(dir, id, keydir, logger, state));
    if (state.segments.length === 0) state.segments.push(Segment.create(dir, 1));
  } catch (error) {
    for (const segment of state.segments) segment.close();
    throw error;
  }
  return state;
}

function replaySegment(
  dir: string,
  id: number,
  keydir: KeyDir,
  logger: Logger,
  state: RecoveredState,
): Segment {
  const name = segmentFileName(id);
  const bytes = readFileSync(join(dir, name));
  const { validEnd, tail } = scanRecords(
    bytes,
    (record, offset) => {
      const key = bytes.toString("utf8", record.keyStart, record.keyStart + record.keyBytes);
      if (record.op === Op.Set) keydir.set(key, { segmentId: id, offset, length: record.length });
      else keydir.delete(key);
    },
    (offset, length, reason) => {
      state.corruptRecords++;
      logger.warn(`skipped ${length} corrupt bytes (${reason}) in ${name} at offset ${offset}`);
    },
  );
  const segment = Segment.open(dir, id, bytes.length);
  if (tail !== null) {
    const cut = bytes.length - validEnd;
    state.truncatedBytes += cut;
    state.corruptRecords++;
    logger.warn(`truncated a torn tail of ${cut} bytes (${tail}) in ${name} at offset ${validEnd}`);
    segment.truncate(validEnd);
    segment.sync();
  }
  return segment;
}
