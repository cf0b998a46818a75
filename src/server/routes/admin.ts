import { isAbsolute } from "node:path";
import { Elysia, type Static } from "elysia";
import { errorCode } from "../../engine/file-system.ts";
import { DiskFullError, StorageFailedError } from "../../index.ts";
import type { BlobStorage } from "../../volume/blob-storage.ts";
import { HttpError } from "../http/http-error.ts";
import {
  AdminStats,
  BackupReport,
  BackupRequest,
  CompactionReport,
  ErrorBody,
  SnapshotReport,
} from "../schemas.ts";

export function adminRoutes(storage: BlobStorage) {
  const compact = async (): Promise<Static<typeof CompactionReport>> => {
    const before = storage.stats();
    await storage.compact().catch((error: unknown) => {
      if (error instanceof DiskFullError || error instanceof StorageFailedError) throw error;
      // The engine logged the failure with its file; the client learns what it means.
      const cause = errorCode(error) ?? (error instanceof Error ? error.message : String(error));
      throw new HttpError(
        500,
        `compaction failed (${cause}); its inputs stay in use and the store is writable`,
      );
    });
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

  const backup = async ({
    body,
  }: {
    body: Static<typeof BackupRequest>;
  }): Promise<Static<typeof BackupReport>> => {
    // Relative to what? The server's working directory is nothing a client should rely on.
    if (!isAbsolute(body.path)) throw new HttpError(400, `path must be absolute, got ${body.path}`);
    const report = await storage.backup(body.path);
    const { path, keys, segments, bytes, durationMs } = report;
    return { path, keys, segments, bytes, duration_ms: durationMs };
  };

  const adminStats = (): Static<typeof AdminStats> => ({
    volume_id: storage.volumeId,
    stats: storage.stats(),
    segments: storage.store.segmentStats(),
  });

  return new Elysia({ name: "kvstore/admin" })
    .get("/admin/stats", adminStats, {
      response: { 200: AdminStats },
      detail: {
        tags: ["operations"],
        summary: "Store and segment figures",
        description:
          "Everything the engine counts (KVStore.stats()) and, for every segment file, its size and " +
          "the bytes of it the index still points to (the rest is dead: compaction reclaims it). Needs " +
          "the admin role. The dashboard at /dashboard reads it.",
      },
    })
    .post("/admin/compact", compact, {
      response: { 200: CompactionReport, 500: ErrorBody, 503: ErrorBody, 507: ErrorBody },
      detail: {
        tags: ["operations"],
        summary: "Compact now",
        description:
          "Rewrites the live blobs of every segment into new segments and deletes the old ones, then " +
          "answers. Reads and writes go on meanwhile. If a compaction is already running, waits for it. " +
          "On a nearly full disk only the oldest segments whose live data fits are rewritten; 507 when " +
          "not even the oldest fits (the error says how much space it needs). 500 when a disk operation " +
          "failed: the old segments stay in use and the store stays writable.",
      },
    })
    .post("/admin/snapshot", saveSnapshot, {
      response: { 200: SnapshotReport, 503: ErrorBody, 507: ErrorBody },
      detail: {
        tags: ["operations"],
        summary: "Save the index snapshot now",
        description:
          "Writes index.snapshot, so that the next start replays only what came after it. 507 when the " +
          "disk has no room for it (the previous snapshot stays).",
      },
    })
    .post("/admin/backup", backup, {
      // JSON whatever the Content-Type: `curl -d` sends form encoding unless told otherwise.
      parse: "json",
      body: BackupRequest,
      response: { 200: BackupReport, 400: ErrorBody, 500: ErrorBody, 503: ErrorBody },
      detail: {
        tags: ["operations"],
        summary: "Back up the store while it serves",
        description:
          "Copies the store as it is when the request arrives (every write answered before is in it) to " +
          "a directory on the server, while reads and writes go on; answers once the backup is fsynced " +
          "and in place. Sealed segments are hard-linked when the directory is on the same file system. " +
          "The backup opens as a store (`kvstore --data-dir PATH ...`) and passes `kvstore check`. " +
          "400 if the path is not absolute, its parent does not exist, or it exists and is not an empty " +
          "directory; 500 if writing fails (e.g. the disk is full), in which case nothing is left there.",
      },
    });
}
