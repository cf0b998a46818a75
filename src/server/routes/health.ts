import { Elysia, type Static } from "elysia";
import type { BlobStorage } from "../../volume/blob-storage.ts";
import { ErrorBody, Health } from "../schemas.ts";

const MiB = 1024 * 1024;

export function healthRoutes(storage: BlobStorage, uptimeSeconds: () => number) {
  const health = (): Static<typeof Health> => {
    const stats = storage.stats();
    return {
      status: "healthy",
      volume_id: storage.volumeId,
      keys: stats.numKeys,
      segments: stats.numSegments,
      total_mb: stats.totalBytes / MiB,
      uptime_secs: Math.floor(uptimeSeconds()),
    };
  };
  const hooks = (summary: string) => ({
    response: { 200: Health, 503: ErrorBody },
    detail: {
      tags: ["operations"],
      summary,
      description: "200 while the store is open; 503 once the server is shutting down.",
    },
  });
  return new Elysia({ name: "kvstore/health" })
    .get("/health", health, hooks("Health"))
    .get("/", health, hooks("Health (the original API's root route)"));
}
