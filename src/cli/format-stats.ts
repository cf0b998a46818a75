import type { KVStoreStats } from "../index.ts";

const bytesPerMB = 1024 * 1024;

function megabytes(bytes: number): string {
  return `${(bytes / bytesPerMB).toFixed(2)} MB`;
}

/** The stats block of the original mini-kvstore REPL, plus what compaction would reclaim. */
export function formatStats(stats: KVStoreStats): string {
  const lines = [
    "Store Statistics:",
    `  Keys: ${stats.numKeys}`,
    `  Segments: ${stats.numSegments}`,
    `  Total size: ${megabytes(stats.totalBytes)}`,
    `  Reclaimable: ${megabytes(stats.deadBytes)}`,
    `  Active segment: ${stats.activeSegmentId}`,
    `  Oldest segment: ${stats.oldestSegmentId}`,
  ];
  if (stats.corruptRecords > 0) lines.push(`  Corrupt records: ${stats.corruptRecords} (run kvstore check)`);
  return lines.join("\n");
}
