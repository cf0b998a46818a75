import { Elysia, type Static } from "elysia";
import type { BlobStorage } from "../../volume/blob-storage.ts";
import { CompactionReport, ErrorBody, SnapshotReport } from "../schemas.ts";

export function adminRoutes(storage: BlobStorage) {
  const compact = async (): Promise<Static<typeof CompactionReport>> => {
    const before = storage.stats();
    await storage.compact();
    const after = storage.stats();
    return {
      status: "compacted",
      duration_ms: after.lastCompactionMs,
      segments_before: before.numSegments,
      segments_after: after.numSegments,
      total_bytes_before: before.totalBytes,
      total_bytes_after: after.totalBytes,
    };
  };

  const saveSnapshot = async (): Promise<Static<typeof SnapshotReport>> => {
    await storage.saveSnapshot();
    const stats = storage.stats();
    return { status: "saved", keys: stats.numKeys, snapshots_saved: stats.snapshotsSaved };
  };

  return new Elysia({ name: "kvstore/admin" })
    .post("/admin/compact", compact, {
      response: { 200: CompactionReport, 503: ErrorBody },
      detail: {
        tags: ["operations"],
        summary: "Compact now",
        description:
          "Rewrites the live blobs of every segment into new segments and deletes the old ones, then " +
          "answers. Reads and writes go on meanwhile. If a compaction is already running, waits for it.",
      },
    })
    .post("/admin/snapshot", saveSnapshot, {
      response: { 200: SnapshotReport, 503: ErrorBody },
      detail: {
        tags: ["operations"],
        summary: "Save the index snapshot now",
        description: "Writes index.snapshot, so that the next start replays only what came after it.",
      },
    });
}
