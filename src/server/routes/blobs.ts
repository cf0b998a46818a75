import { Elysia } from "elysia";
import type { BlobStorage, BlobSummary, StoredBlob } from "../../volume/blob-storage.ts";
import type { BlobUpload } from "../../volume/blob-upload.ts";
import { streamValue } from "../../volume/value-stream.ts";
import { blobKeyFromUrl } from "../http/blob-key.ts";
import { declaredLength } from "../http/content-length.ts";
import { formatHttpDate } from "../http/http-date.ts";
import { blobNotFound } from "../http/http-error.ts";
import { notModifiedSince } from "../http/if-modified-since.ts";
import { ifNoneMatchHits } from "../http/if-none-match.ts";
import { ifRangeHolds } from "../http/if-range.ts";
import { NEXT_AFTER_HEADER, pageOfKeys } from "../http/key-page.ts";
import { whileConnectionOpen } from "../http/open-connection.ts";
import { parseRange } from "../http/range.ts";
import { type BodyLimits, pipeRequestBody } from "../http/request-body.ts";
import { refuseAnnouncedTrailers } from "../http/trailers.ts";
import { uploadContentType } from "../http/upload-content-type.ts";
import { checkWritePreconditions } from "../http/write-preconditions.ts";
import type { CounterSeries } from "../metrics/registry.ts";
import type { ServerMetrics } from "../metrics/server-metrics.ts";
import {
  BlobKeyParams,
  BlobMeta,
  binaryContent,
  DEFAULT_LIST_LIMIT,
  documented,
  ErrorBody,
  errorContent,
  KeyList,
  ListQuery,
  MAX_LIST_LIMIT,
} from "../schemas.ts";

export interface BlobRouteOptions {
  bodyLimits: BodyLimits;
  metrics: ServerMetrics;
}

const blobHeaders = {
  ETag: {
    description: "A strong entity tag: a 64-bit hash of the blob as 16 hex digits, quoted",
    schema: { type: "string", examples: ['"c49aacf8080fe47f"'] },
  },
  "Content-Length": { schema: { type: "integer" } },
  "Content-Type": {
    description: "The Content-Type the blob was stored with; application/octet-stream when it has none",
    schema: { type: "string", examples: ["image/png"] },
  },
  "Last-Modified": {
    description:
      "When the blob was stored, once that second is over (absent for blobs written through the library, not over HTTP)",
    schema: { type: "string", examples: ["Wed, 25 Nov 2026 16:00:00 GMT"] },
  },
} as const;

const notModifiedHeaders = { ETag: blobHeaders.ETag, "Last-Modified": blobHeaders["Last-Modified"] } as const;

const readConditions = [
  {
    name: "If-None-Match",
    in: "header",
    required: false,
    description: "304 when the blob's ETag is one of these (weak comparison), or `*`.",
    schema: { type: "string", examples: ['"c49aacf8080fe47f"'] },
  },
  {
    name: "If-Modified-Since",
    in: "header",
    required: false,
    description:
      "304 when the blob was not modified after this HTTP date. Ignored when If-None-Match is present, " +
      "when the date is invalid, and for blobs without Last-Modified.",
    schema: { type: "string", examples: ["Wed, 25 Nov 2026 16:00:00 GMT"] },
  },
] as const;

const writeConditions = [
  {
    name: "If-Match",
    in: "header",
    required: false,
    description: "Write only if the blob's ETag is one of these (strong comparison), or `*`: exists.",
    schema: { type: "string", examples: ['"c49aacf8080fe47f"'] },
  },
  {
    name: "If-None-Match",
    in: "header",
    required: false,
    description: "Write only if the blob's ETag is none of these; `*`: only if no blob exists.",
    schema: { type: "string", examples: ["*"] },
  },
] as const;

const listHeaders = {
  "X-Next-After": {
    description: "Present when more keys follow: the page's last key, percent-encoded.",
    schema: { type: "string", examples: ["user%3A123"] },
  },
} as const;

/**
 * Every blob route exists twice: `/blobs/:key` for keys without a literal `/` (documented), and
 * `/blobs/*` for keys with one (hidden, same handler). Both read the key from the raw URL.
 */
export function blobRoutes(storage: BlobStorage, { bodyLimits, metrics }: BlobRouteOptions) {
  const bytesSent = metrics.blobBytesSent.series({});
  const bytesReceived = metrics.blobBytesReceived.series({});
  const storeBlob = async ({ request }: { request: Request }) => {
    const key = blobKeyFromUrl(request.url);
    storage.checkKey(key);
    refuseAnnouncedTrailers(request);
    const contentType = uploadContentType(request);
    const upload = await receiveUpload(storage, key, request, bodyLimits);
    try {
      await whileConnectionOpen(request);
      // No await from the check to the write: no other write can come in between.
      if (hasWritePreconditions(request)) {
        checkWritePreconditions(request.headers, storage.summary(key)?.etag ?? null);
      }
      const { meta, etag } = await storage.commitUpload(upload, contentType);
      bytesReceived.inc(meta.size);
      return new Response(JSON.stringify(meta), {
        status: 201,
        headers: { "content-type": "application/json", etag: `"${etag}"` },
      });
    } finally {
      // Refused or abandoned before its commit: its staging file goes (a no-op once committed).
      upload.abort();
    }
  };

  // Written so that Elysia does not take it for async (see beforeRouting in app.ts): one return,
  // of a variable.
  const getBlob = ({ request }: { request: Request }) => {
    // A 304 sends no bytes: a large blob's cached etag decides it without reading the blob.
    let answer = hasReadConditions(request) ? conditionalAnswer(request, summarize(request)) : null;
    if (answer === null) answer = rangedAnswer(request, readBlob(request), bytesSent);
    return answer;
  };

  const headBlob = ({ request }: { request: Request }) => blobHeadAnswer(storage, request);

  const deleteBlob = async ({ request }: { request: Request }) => {
    const key = blobKeyFromUrl(request.url);
    await whileConnectionOpen(request);
    if (hasWritePreconditions(request)) {
      // A missing blob is 404 whatever the preconditions say (RFC 9110, section 13.2.1).
      const blob = storage.summary(key);
      if (blob === null) throw blobNotFound();
      checkWritePreconditions(request.headers, blob.etag);
    }
    if (!(await storage.delete(key))) throw blobNotFound();
    return new Response(null, { status: 204 });
  };

  const readBlob = (request: Request): StoredBlob => {
    const blob = storage.read(blobKeyFromUrl(request.url));
    if (blob === null) throw blobNotFound();
    return blob;
  };

  const summarize = (request: Request): BlobSummary => summaryOf(storage, request);

  const storeDetail = (method: string) => ({
    tags: ["blobs"],
    summary: `Store a blob (${method})`,
    description:
      "Stores the raw request body under the key, replacing any previous blob. Answers once the " +
      "write is durable. The body is stored as is, with its Content-Type (a media type such as " +
      "`text/plain; charset=utf-8`, at most 256 characters; application/octet-stream when absent; 400 when " +
      "malformed) and the time of the write, which reads return as Content-Type and Last-Modified. 507 when the disk is " +
      "full (nothing stored; delete blobs and compact), 503 once a disk failure stopped the store's writes. " +
      "`If-Match` and `If-None-Match` (`*`: create only) are checked and the write applied atomically; " +
      "412 when they do not hold. 503 with `Retry-After` when the uploads in flight would hold more than " +
      "UPLOAD_BUDGET_MB; 408 when no byte of the body arrives for BODY_IDLE_SECONDS. The `ETag` header is the strong entity tag; the JSON `etag` is the " +
      "CRC-32 of the original API.",
    parameters: [...writeConditions],
    requestBody: { required: true, content: binaryContent },
  });
  const storeHooks = (method: string) => ({
    parse: "none" as const,
    params: BlobKeyParams,
    response: {
      201: BlobMeta,
      400: ErrorBody,
      408: ErrorBody,
      412: ErrorBody,
      413: ErrorBody,
      503: ErrorBody,
      507: ErrorBody,
    },
    detail: storeDetail(method),
  });
  const hidden = { detail: { hide: true } };

  return (
    new Elysia({ name: "kvstore/blobs" })
      .get(
        "/blobs",
        ({ query, set }) => {
          const page = pageOfKeys(storage, query);
          if (page.nextAfter !== undefined)
            set.headers[NEXT_AFTER_HEADER] = encodeURIComponent(page.nextAfter);
          return page.keys;
        },
        {
          query: ListQuery,
          // Responses are described in detail.responses: Elysia's own would leave out the header.
          detail: {
            tags: ["blobs"],
            summary: "List keys",
            description:
              `Keys in sorted order, ${DEFAULT_LIST_LIMIT} at most unless \`limit\` says otherwise (up to ` +
              `${MAX_LIST_LIMIT}). When more keys follow, the \`X-Next-After\` header holds the last key of ` +
              "the page, percent-encoded: pass it, decoded, as `after` to get the next page.",
            responses: {
              200: {
                description: "A page of keys",
                headers: listHeaders,
                content: { "application/json": { schema: documented(KeyList) } },
              },
              400: { description: "Bad limit", content: errorContent },
            },
          },
        },
      )
      .post("/blobs/:key", storeBlob, storeHooks("POST"))
      .put("/blobs/:key", storeBlob, storeHooks("PUT"))
      .get("/blobs/:key", getBlob, {
        params: BlobKeyParams,
        detail: {
          tags: ["blobs"],
          summary: "Read a blob",
          description:
            "The blob's bytes, with the Content-Type it was stored with (application/octet-stream when " +
            "none) and Last-Modified. Supports `If-None-Match` and `If-Modified-Since` (304) and a single " +
            "`Range` (206, or 416 when it starts past the end), applied only if `If-Range`, when given, " +
            "is the current ETag (otherwise 200 with the whole blob). Large blobs are streamed from disk.",
          parameters: [
            {
              name: "Range",
              in: "header",
              required: false,
              schema: { type: "string", examples: ["bytes=0-99"] },
            },
            ...readConditions,
            { name: "If-Range", in: "header", required: false, schema: { type: "string" } },
          ],
          responses: {
            200: { description: "The blob", headers: blobHeaders, content: binaryContent },
            206: {
              description: "The requested range of the blob",
              headers: blobHeaders,
              content: binaryContent,
            },
            304: {
              description: "The blob matches If-None-Match, or was not modified since If-Modified-Since",
              headers: notModifiedHeaders,
            },
            400: { description: "Bad key", content: errorContent },
            404: { description: "No blob under this key", content: errorContent },
            416: { description: "The range starts past the end of the blob", content: errorContent },
          },
        },
      })
      .head("/blobs/:key", headBlob, {
        params: BlobKeyParams,
        detail: {
          tags: ["blobs"],
          summary: "Blob headers",
          description:
            "The headers a GET would send (ETag, Content-Length, Content-Type, Last-Modified), without " +
            "reading or sending the bytes; `Range` does not apply.",
          parameters: [...readConditions],
          responses: {
            200: { description: "The blob exists", headers: blobHeaders },
            304: {
              description: "The blob matches If-None-Match, or was not modified since If-Modified-Since",
              headers: notModifiedHeaders,
            },
            400: { description: "Bad key" },
            404: { description: "No blob under this key" },
          },
        },
      })
      .delete("/blobs/:key", deleteBlob, {
        params: BlobKeyParams,
        detail: {
          tags: ["blobs"],
          summary: "Delete a blob",
          description:
            "Removes the blob; answers once the removal is durable. `If-Match` and `If-None-Match` are " +
            "checked and the removal applied atomically; 412 when they do not hold (404 if no blob).",
          parameters: [...writeConditions],
          responses: {
            204: { description: "Deleted" },
            400: { description: "Bad key", content: errorContent },
            404: { description: "No blob under this key", content: errorContent },
            412: { description: "If-Match or If-None-Match does not hold", content: errorContent },
          },
        },
      })
      // Without a key: answered 400 by blobKeyFromUrl rather than 404 by the router.
      .post("/blobs", storeBlob, { parse: "none", ...hidden })
      .put("/blobs", storeBlob, { parse: "none", ...hidden })
      .delete("/blobs", deleteBlob, hidden)
      .post("/blobs/*", storeBlob, { parse: "none", ...hidden })
      .put("/blobs/*", storeBlob, { parse: "none", ...hidden })
      .get("/blobs/*", getBlob, hidden)
      .head("/blobs/*", headBlob, hidden)
      .delete("/blobs/*", deleteBlob, hidden)
  );
}

/**
 * Streams a PUT's or POST's body into an upload of `key` as it arrives (at most one 1 MiB block
 * in memory; the rest staged on disk), under the body limits. Whatever stops it (a limit, a
 * stalled or vanished client, a full disk) aborts the upload, deleting what was staged.
 */
async function receiveUpload(
  storage: BlobStorage,
  key: string,
  request: Request,
  limits: BodyLimits,
): Promise<BlobUpload> {
  const upload = storage.startUpload(key, declaredLength(request.headers));
  try {
    await pipeRequestBody(request, limits, upload);
    return upload;
  } catch (error) {
    upload.abort();
    throw error;
  }
}

/**
 * The answer to HEAD of a blob: its headers, from what the store knows without reading the
 * value (a large blob's etag is cached); Range does not apply. The app calls it before routing,
 * because Elysia would answer HEAD of a dynamic route with the GET handler and read the body.
 */
export function blobHeadAnswer(storage: BlobStorage, request: Request): Response {
  const blob = summaryOf(storage, request);
  return conditionalAnswer(request, blob) ?? new Response(null, { headers: contentHeaders(blob, blob.size) });
}

function summaryOf(storage: BlobStorage, request: Request): BlobSummary {
  const blob = storage.summary(blobKeyFromUrl(request.url));
  if (blob === null) throw blobNotFound();
  return blob;
}

/** The headers of `length` bytes of `blob` (all of it, or a range: the type is the blob's). */
function contentHeaders(blob: BlobSummary | StoredBlob, length: number): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": blob.contentType,
    "content-length": String(length),
    etag: `"${blob.etag}"`,
    "accept-ranges": "bytes",
    // A blob's type is whatever its uploader said: a text/html or SVG blob must not run as a page
    // of this origin (where the dashboard lives), nor may a browser guess a type from the bytes.
    "content-security-policy": "sandbox",
    "x-content-type-options": "nosniff",
  };
  if (blob.lastModified !== null) headers["last-modified"] = formatHttpDate(blob.lastModified);
  // Bun names a file response after the file; a segment's name means nothing to a client.
  const streamed = "streamed" in blob ? blob.streamed : blob.file !== undefined;
  if (streamed) headers["content-disposition"] = "inline";
  return headers;
}

/** Whether a write is conditional: only then is the current blob's ETag needed (read, if large). */
function hasWritePreconditions(request: Request): boolean {
  return request.headers.has("if-match") || request.headers.has("if-none-match");
}

/** Whether a read is conditional: only then is the 304 decided before the blob is read. */
function hasReadConditions(request: Request): boolean {
  return request.headers.has("if-none-match") || request.headers.has("if-modified-since");
}

/**
 * 304 when the client already holds this version of the blob: If-None-Match decides when
 * present, else If-Modified-Since (RFC 9110, section 13.2.2).
 */
function conditionalAnswer(request: Request, blob: BlobSummary): Response | null {
  const ifNoneMatch = request.headers.get("if-none-match");
  const current =
    ifNoneMatch !== null
      ? ifNoneMatchHits(ifNoneMatch, blob.etag)
      : notModifiedSince(request.headers.get("if-modified-since"), blob.lastModified);
  if (!current) return null;
  const headers: Record<string, string> = { etag: `"${blob.etag}"` };
  if (blob.lastModified !== null) headers["last-modified"] = formatHttpDate(blob.lastModified);
  return new Response(null, { status: 304, headers });
}

/** The blob, or the single range of it that the request asks for. */
function rangedAnswer(request: Request, blob: StoredBlob, bytesSent: CounterSeries): Response {
  const applicable = ifRangeHolds(request.headers.get("if-range"), blob.etag);
  const range = parseRange(applicable ? request.headers.get("range") : null, blob.size);
  if (range.kind === "unsatisfiable") {
    blob.file?.close();
    return Response.json(
      { error: `range ${request.headers.get("range")} is not satisfiable for a blob of ${blob.size} bytes` },
      { status: 416, headers: { "content-range": `bytes */${blob.size}` } },
    );
  }
  if (range.kind === "whole") {
    bytesSent.inc(blob.size);
    return new Response(bodyOf(blob, 0, blob.size), { headers: contentHeaders(blob, blob.size) });
  }
  const { start, end } = range;
  const headers = contentHeaders(blob, end + 1 - start);
  headers["content-range"] = `bytes ${start}-${end}/${blob.size}`;
  bytesSent.inc(end + 1 - start);
  return new Response(bodyOf(blob, start, end + 1), { status: 206, headers });
}

/** Bytes `start` to `end` (exclusive) of the blob: a view of them, or a stream from its open file. */
function bodyOf(blob: StoredBlob, start: number, end: number): Uint8Array | ReadableStream<Uint8Array> {
  if (blob.bytes !== undefined)
    return start === 0 && end === blob.size ? blob.bytes : blob.bytes.subarray(start, end);
  return streamValue(blob.file, start, end);
}
