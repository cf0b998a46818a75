import { Elysia, type Static } from "elysia";
import type { BlobStorage } from "../../volume/blob-storage.ts";
import { contentTypes, type ExpositionFormat } from "../metrics/registry.ts";
import type { ServerMetrics } from "../metrics/server-metrics.ts";
import { documented, errorContent, MetricsSummary } from "../schemas.ts";

const MiB = 1024 * 1024;

/** Prometheus asks for OpenMetrics first and text/plain second; anything else gets JSON. */
function expositionFormatFor(accept: string | null): ExpositionFormat | null {
  if (accept === null) return null;
  if (accept.includes("application/openmetrics-text")) return "openmetrics";
  if (accept.includes("text/plain")) return "prometheus";
  return null;
}

export function metricsRoutes(storage: BlobStorage, metrics: ServerMetrics, uptimeSeconds: () => number) {
  const summary = (): Static<typeof MetricsSummary> => {
    const stats = storage.stats();
    return {
      total_keys: stats.numKeys,
      total_segments: stats.numSegments,
      total_bytes: stats.totalBytes,
      total_mb: stats.totalBytes / MiB,
      active_segment_id: stats.activeSegmentId,
      oldest_segment_id: stats.oldestSegmentId,
      volume_id: storage.volumeId,
      uptime_secs: Math.floor(uptimeSeconds()),
      avg_value_size_bytes: stats.numKeys === 0 ? 0 : stats.liveBytes / stats.numKeys,
      live_bytes: stats.liveBytes,
      dead_bytes: stats.deadBytes,
      corrupt_records: stats.corruptRecords,
      compactions: stats.compactions,
    };
  };

  return new Elysia({ name: "kvstore/metrics" }).get(
    "/metrics",
    ({ request }) => {
      const format = expositionFormatFor(request.headers.get("accept"));
      if (format === null) return Response.json(summary());
      return new Response(metrics.registry.render(format), {
        headers: { "content-type": contentTypes[format] },
      });
    },
    {
      detail: {
        tags: ["operations"],
        summary: "Metrics",
        description:
          "JSON figures by default (the original API's fields and a few more). With `Accept: text/plain` " +
          "the Prometheus text exposition, with `Accept: application/openmetrics-text` OpenMetrics: " +
          "requests by route and status, latency histogram, blob bytes in and out, keys, segments, bytes.",
        responses: {
          200: {
            description: "Metrics in the negotiated format",
            content: {
              "application/json": { schema: documented(MetricsSummary) },
              "text/plain": { schema: { type: "string" } },
              "application/openmetrics-text": { schema: { type: "string" } },
            },
          },
          503: { description: "The server is shutting down", content: errorContent },
        },
      },
    },
  );
}
