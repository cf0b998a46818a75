// Schemas of the HTTP API. Elysia validates requests and responses against them and
// @elysiajs/openapi turns them into the OpenAPI document at /swagger/json. Each request schema
// carries the `error` message Elysia answers with (as a 400) when a value does not fit.
//
// Response schemas use TypeBox's own `Type.Integer`: Elysia's `t.Integer` also accepts numeric
// strings (right for a query string) and documents them as such.
import { Type } from "@sinclair/typebox";
import { type TSchema, t } from "elysia";
import type { OpenAPIV3 } from "openapi-types";

export const BlobKeyParams = t.Object({
  key: t.String({
    description:
      "The blob's key, percent-encoded UTF-8. It may contain `/` (plain or as %2F) and `:`; " +
      "at most 4096 bytes once decoded. Percent-encode a `\\` (%5C), and a `/` that starts or ends " +
      "the key, follows another `/` or borders a `.` or `..` segment (%2F): the HTTP server rewrites " +
      "those forms, and a key that arrives rewritten is refused with 400.",
    examples: ["user:123"],
    error: "key is not valid percent-encoded UTF-8",
  }),
});

/** Its examples are per status and per route: docs/error-examples.ts. */
export const ErrorBody = t.Object(
  { error: t.String({ description: "What went wrong, for a person to read." }) },
  { description: "An error" },
);

export const BlobMeta = t.Object(
  {
    key: t.String({ examples: ["user:123"] }),
    etag: t.String({
      description:
        "CRC-32 of the blob as 8 lowercase hex digits, as in the original API. The `ETag` header is the " +
        "strong entity tag (a 64-bit hash); use it for If-Match and If-None-Match.",
      pattern: "^[0-9a-f]{8}$",
      examples: ["ec4ac3d0"],
    }),
    size: Type.Integer({ description: "Bytes stored.", minimum: 0, examples: [13] }),
    volume_id: t.String({ examples: ["vol-1"] }),
  },
  {
    description: "The stored blob",
    examples: [{ key: "user:123", etag: "ec4ac3d0", size: 13, volume_id: "vol-1" }],
  },
);

/** Keys in a listing page unless `limit` says otherwise, and the most it may ask for. */
export const DEFAULT_LIST_LIMIT = 1000;
export const MAX_LIST_LIMIT = 10_000;

export const ListQuery = t.Object({
  prefix: t.Optional(t.String({ description: "Only keys that start with this.", examples: ["user:"] })),
  after: t.Optional(
    t.String({
      description:
        "Only keys sorted after this one: pass the `X-Next-After` header of a page (decoded) to get the next.",
      examples: ["user:123"],
    }),
  ),
  limit: t.Optional(
    t.Integer({
      description: `At most this many keys (default ${DEFAULT_LIST_LIMIT}).`,
      minimum: 1,
      maximum: MAX_LIST_LIMIT,
      default: DEFAULT_LIST_LIMIT,
      examples: [100],
      error: `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`,
    }),
  ),
});

export const KeyList = t.Array(t.String(), {
  description: "Keys in sorted (UTF-8 byte) order",
  examples: [["config:settings", "user:123", "user:456"]],
});

export const Health = t.Object(
  {
    status: t.Literal("healthy"),
    volume_id: t.String({ examples: ["vol-1"] }),
    keys: Type.Integer({ minimum: 0, examples: [42] }),
    segments: Type.Integer({ minimum: 0, examples: [2] }),
    total_mb: t.Number({ description: "Size of the segment files in MiB.", minimum: 0, examples: [1.5] }),
    uptime_secs: Type.Integer({ minimum: 0, examples: [3600] }),
  },
  {
    description: "The server is up and its store is open",
    examples: [
      { status: "healthy", volume_id: "vol-1", keys: 42, segments: 2, total_mb: 1.5, uptime_secs: 3600 },
    ],
  },
);

export const MetricsSummary = t.Object(
  {
    total_keys: Type.Integer({ minimum: 0, examples: [1000] }),
    total_segments: Type.Integer({ minimum: 0, examples: [3] }),
    total_bytes: Type.Integer({ description: "Size of the segment files.", minimum: 0, examples: [1572864] }),
    total_mb: t.Number({ minimum: 0, examples: [1.5] }),
    active_segment_id: Type.Integer({ examples: [3] }),
    oldest_segment_id: Type.Integer({ examples: [1] }),
    volume_id: t.String({ examples: ["vol-1"] }),
    uptime_secs: Type.Integer({ minimum: 0, examples: [3600] }),
    avg_value_size_bytes: t.Number({
      description: "Live bytes (records the index points to) per key.",
      minimum: 0,
      examples: [1572.864],
    }),
    live_bytes: Type.Integer({ minimum: 0, examples: [1572864] }),
    dead_bytes: Type.Integer({
      description: "Bytes that compaction could reclaim.",
      minimum: 0,
      examples: [0],
    }),
    corrupt_records: Type.Integer({
      description: "Damaged records found when opening.",
      minimum: 0,
      examples: [0],
    }),
    compactions: Type.Integer({
      description: "Compactions finished since the store opened.",
      minimum: 0,
      examples: [1],
    }),
  },
  { description: "Store and server figures (ask for text/plain for the Prometheus exposition)" },
);

export const CompactionReport = t.Object(
  {
    status: t.Literal("compacted"),
    duration_ms: t.Number({ minimum: 0, examples: [182.4] }),
    segments_before: Type.Integer({ minimum: 0, examples: [12] }),
    segments_after: Type.Integer({ minimum: 0, examples: [3] }),
    total_bytes_before: Type.Integer({ minimum: 0, examples: [805306368] }),
    total_bytes_after: Type.Integer({ minimum: 0, examples: [201326592] }),
  },
  { description: "Compaction finished; sizes are of all segment files, the active one included" },
);

export const SnapshotReport = t.Object(
  {
    status: t.Literal("saved"),
    keys: Type.Integer({ description: "Keys in the saved index.", minimum: 0, examples: [1000] }),
    snapshots_saved: Type.Integer({ description: "Snapshots saved since the store opened.", examples: [2] }),
  },
  { description: "index.snapshot was written and fsynced" },
);

export const BackupRequest = t.Object(
  {
    path: t.String({
      description:
        "Absolute path on the server of the backup directory: it must not exist or be empty, and its " +
        "parent must exist.",
      minLength: 1,
      examples: ["/var/backups/kvstore/2026-01-31"],
      error: "path must be a non-empty string",
    }),
  },
  { error: 'the body must be JSON like {"path": "/var/backups/kvstore/2026-01-31"}' },
);

export const BackupReport = t.Object(
  {
    path: t.String({ description: "The backup directory.", examples: ["/var/backups/kvstore/2026-01-31"] }),
    keys: Type.Integer({ description: "Keys in the backup.", minimum: 0, examples: [1000] }),
    segments: Type.Integer({ description: "Segment files in the backup.", minimum: 0, examples: [3] }),
    bytes: Type.Integer({
      description: "Bytes of the backup's files, index.snapshot included.",
      minimum: 0,
      examples: [201326592],
    }),
    duration_ms: t.Number({ minimum: 0, examples: [412.7] }),
  },
  { description: "The backup is complete, fsynced and in place" },
);

/**
 * A raw request or response body: any bytes. OpenAPI 3.1 describes those with no schema at all;
 * `type: string, format: binary` would make generated clients (openapi-typescript) type the
 * body as a string, which their JSON serializer then mangles.
 */
export const binaryContent = { "application/octet-stream": {} } as const;

/**
 * A schema above, for hand-written `detail.responses` (routes answering bytes or several media
 * types, which Elysia's response schemas cannot describe). TypeBox schemas are JSON Schema;
 * only the typings of Elysia's `detail` (OpenAPI 3.0 objects) differ.
 */
export function documented(schema: TSchema): OpenAPIV3.SchemaObject {
  return schema as OpenAPIV3.SchemaObject;
}

export const errorContent = { "application/json": { schema: documented(ErrorBody) } };

const count = (description: string, example: number) =>
  Type.Integer({ description, minimum: 0, examples: [example] });

export const StoreStats = t.Object(
  {
    numKeys: count("Keys in the store.", 1000),
    numSegments: count("Segment files, the active one included.", 3),
    totalBytes: count("Bytes of all segment files.", 201326592),
    liveBytes: count("Bytes of the records the index points to.", 150994944),
    deadBytes: count("Bytes that compaction could reclaim.", 50331648),
    activeSegmentId: count("Id of the segment being appended to.", 12),
    oldestSegmentId: count("Id of the oldest segment.", 10),
    corruptRecords: count("Damaged records found when the store was opened.", 0),
    truncatedBytes: count("Bytes cut off torn segment tails on open.", 0),
    snapshotOnOpen: t.Union([t.Literal("loaded"), t.Literal("absent"), t.Literal("ignored")], {
      description: "How open rebuilt the index: from index.snapshot, or by replay.",
    }),
    replayedBytesOnOpen: count("Bytes of segment files that open replayed.", 4096),
    snapshotsSaved: count("Index snapshots saved since the store opened.", 2),
    sets: count("Values written since the store opened.", 5000),
    deletes: count("Keys deleted since the store opened.", 20),
    groupCommits: count("Batches of writes flushed together.", 4000),
    fsyncs: count("fsync calls made by the engine.", 4000),
    compacting: t.Boolean({ description: "A compaction is running." }),
    compactions: count("Compactions finished.", 1),
    bytesReclaimed: Type.Integer({ description: "Bytes that compactions freed.", examples: [1048576] }),
    lastCompactionMs: t.Number({ minimum: 0, examples: [182.4] }),
    lastCompactionLiveRecords: count("Live records the last compaction kept.", 1000),
    compactionFailures: count("Compactions that failed (their inputs stayed in use).", 0),
    storageFailure: t.Union([t.String(), t.Null()], {
      description: "Why a disk failure stopped the store's writes, or null while healthy.",
    }),
    diskFull: t.Boolean({ description: "New values are refused because the disk is full." }),
  },
  { description: "The engine's figures (KVStore.stats())" },
);

export const SegmentFigures = t.Object(
  {
    id: count("Segment id (its file is NNNNNN.seg).", 12),
    bytes: count("Bytes of the file.", 67108864),
    liveBytes: count("Bytes of the records the index points to; the rest is dead.", 50331648),
    active: t.Boolean({ description: "The segment being appended to." }),
  },
  { description: "One segment file" },
);

export const AdminStats = t.Object(
  {
    volume_id: t.String({ examples: ["vol-1"] }),
    stats: StoreStats,
    segments: t.Array(SegmentFigures, { description: "Every segment, oldest first." }),
  },
  { description: "Store figures and every segment's live and dead bytes" },
);
