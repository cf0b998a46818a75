import { Elysia, type Static } from "elysia";
import type { BlobStorage } from "../../volume/blob-storage.ts";
import { HttpError, storageFailedMessage } from "../http/http-error.ts";
import { ErrorBody, Health } from "../schemas.ts";

const MiB = 1024 * 1024;

export function healthRoutes(storage: BlobStorage, uptimeSeconds: () => number) {
  const health = (): Static<typeof Health> => {
    const failure = storage.store.storageFailure;
    // Load balancers and orchestrators take a 503 as "send writes elsewhere, restart me".
    if (failure !== null) throw new HttpError(503, storageFailedMessage(failure));
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
      description:
        "200 while the store is open and accepting writes; 503 once the server is shutting down, or " +
        "after a disk failure stopped the store's writes (the error says why; reads go on).",
    },
  });
  return new Elysia({ name: "kvstore/health" })
    .get("/health", health, hooks("Health"))
    .get("/", health, hooks("Health (the original API's root route)"));
}
