import { StorageFailedError } from "../../index.ts";
import { storageFailedMessage } from "../http/http-error.ts";
import { bodyIdle, DEFAULT_BODY_IDLE_MS, DEFAULT_MAX_BODY_BYTES } from "../http/request-body.ts";
import { DEFAULT_UPLOADS_IN_BUDGET, UploadBudgetExhausted } from "../http/upload-budget.ts";

/** How an error response is documented: what the status means here, and a body the server sends for it. */
export interface ErrorExample {
  description: string;
  message: string;
}

const storageFailed = storageFailedMessage(
  new StorageFailedError("/data", "fsync", Object.assign(new Error("EIO: i/o error"), { code: "EIO" })),
);

/**
 * The usual meaning of each error status, with a message the server really answers. 401 and 403
 * depend on the role an operation needs: see access-in-document.ts.
 */
const byStatus: Record<string, ErrorExample> = {
  400: { description: "The key is not valid", message: "key is not valid percent-encoded UTF-8" },
  404: { description: "No blob under this key", message: "Blob not found" },
  408: {
    description: "No byte of the body arrived for BODY_IDLE_SECONDS; nothing was stored",
    message: bodyIdle(DEFAULT_BODY_IDLE_MS).message,
  },
  412: {
    description: "If-Match or If-None-Match does not hold; nothing was changed",
    message: 'precondition failed: If-Match does not hold (the blob\'s ETag is "59cff96333ddcdd1")',
  },
  413: {
    description: "The body is larger than MAX_BODY_MB; nothing was stored",
    message: "request body is larger than the limit of 104857600 bytes (MAX_BODY_MB)",
  },
  416: {
    description: "The range starts past the end of the blob",
    message: "range bytes=100-199 is not satisfiable for a blob of 13 bytes",
  },
  500: {
    description: "A disk operation failed",
    message: "a file operation failed (EIO); see the server log",
  },
  503: { description: "A disk failure stopped the store's writes", message: storageFailed },
  507: {
    description: "The disk is full; nothing was stored",
    message: "the disk holding the store is full: no room for a new segment file",
  },
};

/** Where one operation answers a status for its own reason (keyed `method path status`). */
const byOperation: Record<string, ErrorExample> = {
  "get /blobs 400": {
    description: "A query parameter is not valid",
    message: "limit must be a whole number from 1 to 10000",
  },
  "put /blobs/{key} 503": uploadsOrStorage(),
  "post /blobs/{key} 503": uploadsOrStorage(),
  "get /metrics 503": { description: "The server is shutting down", message: "the server is shutting down" },
  "post /admin/compact 500": {
    description: "A disk operation failed; the old segments stay in use and the store stays writable",
    message: "compaction failed (EIO); its inputs stay in use and the store is writable",
  },
  "post /admin/compact 507": {
    description: "Not even the oldest segment's live data fits on the disk",
    message:
      "compaction needs about 67108864 bytes free to rewrite the oldest segment, and 1048576 are free: " +
      "delete keys or free space first",
  },
  "post /admin/snapshot 507": {
    description: "No room for the snapshot; the previous one stays",
    message:
      "the disk holding the store is full: the index snapshot was not saved (the previous one stays). " +
      "Delete keys and compact, or free space (see README, Durability and failures)",
  },
  "post /admin/backup 400": {
    description: "The path is not absolute, its parent does not exist, or it is not a new or empty directory",
    message: "path must be absolute, got backups/today",
  },
  "post /admin/backup 500": {
    description: "Writing the backup failed; nothing is left at the path",
    message: "a file operation failed (ENOSPC); see the server log",
  },
};

/** A write's 503: the upload budget (example) or a stopped store. */
function uploadsOrStorage(): ErrorExample {
  return {
    description:
      "The uploads in flight would hold more than UPLOAD_BUDGET_MB (retry after the Retry-After " +
      "header's seconds; nothing was stored), or a disk failure stopped the store's writes",
    message: new UploadBudgetExhausted(DEFAULT_UPLOADS_IN_BUDGET * DEFAULT_MAX_BODY_BYTES).message,
  };
}

/** The documented meaning and example body of an error status of an operation, if there is one. */
export function errorExample(method: string, path: string, status: string): ErrorExample | undefined {
  return byOperation[`${method} ${path} ${status}`] ?? byStatus[status];
}
