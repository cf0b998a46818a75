import { errorCode } from "../../engine/file-system.ts";
import {
  BackupDestinationError,
  BackupFailedError,
  CorruptionError,
  DiskFullError,
  InvalidKeyError,
  InvalidValueError,
  StorageFailedError,
  StoreClosedError,
  ValueTooLargeError,
} from "../../index.ts";

/** An error the client caused or must know about, answered as `{ "error": message }` with `status`. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const blobNotFound = () => new HttpError(404, "Blob not found");

/**
 * nginx's 499: the client closed the connection before the answer. No client receives it; it is
 * what the metrics count, instead of a 5xx.
 */
export const clientClosedRequest = () => new HttpError(499, "the client closed the connection");

export function bodyTooLarge(maxBodyBytes: number): HttpError {
  return new HttpError(413, `request body is larger than the limit of ${maxBodyBytes} bytes (MAX_BODY_MB)`);
}

export interface ErrorAnswer {
  status: number;
  message: string;
  /** A fault of the server rather than of the request: log it with its cause. */
  unexpected: boolean;
}

/** Maps anything a handler or Elysia throws to a status and a message for the client. */
export function answerFor(code: string | number, error: unknown): ErrorAnswer {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof HttpError) return { status: error.status, message, unexpected: false };
  if (error instanceof InvalidKeyError) return { status: 400, message, unexpected: false };
  if (error instanceof InvalidValueError) return { status: 400, message, unexpected: false };
  if (error instanceof BackupDestinationError) return { status: 400, message, unexpected: false };
  // Names the client's own destination and the errno, not the store's files.
  if (error instanceof BackupFailedError) return { status: 500, message, unexpected: true };
  if (error instanceof ValueTooLargeError) return { status: 413, message, unexpected: false };
  // The engine logged these with their file paths; the client gets what it needs without them.
  if (error instanceof DiskFullError) return { status: 507, message: error.message, unexpected: false };
  if (error instanceof StorageFailedError) {
    return { status: 503, message: storageFailedMessage(error), unexpected: false };
  }
  if (error instanceof CorruptionError) {
    // Its message names the segment file: that goes to the log, not to the client.
    const message =
      "corrupt record: the stored blob is damaged and cannot be sent; the server log names the file";
    return { status: 500, message, unexpected: true };
  }
  if (error instanceof StoreClosedError) {
    return { status: 503, message: "the server is shutting down", unexpected: false };
  }
  switch (code) {
    case "NOT_FOUND":
      return { status: 404, message: "Not found", unexpected: false };
    case "VALIDATION":
      // Every schema in schemas.ts carries its own `error` message, which Elysia uses as is.
      return { status: 400, message, unexpected: false };
    case "PARSE":
      return { status: 400, message: "the request body could not be parsed", unexpected: false };
    default: {
      // A system error's message names the file (for the log); the client gets its errno.
      const errno = errorCode(error);
      if (errno !== null && /^E[A-Z0-9]+$/.test(errno)) {
        return {
          status: 500,
          message: `a file operation failed (${errno}); see the server log`,
          unexpected: true,
        };
      }
      // Any other message may name a server path or an internal: it goes to the log only.
      const name = error instanceof Error ? error.name : typeof error;
      return { status: 500, message: `internal error (${name}); see the server log`, unexpected: true };
    }
  }
}

/** What a client is told once the store has stopped accepting writes (no server paths). */
export function storageFailedMessage(error: StorageFailedError): string {
  return (
    `storage failed: writes are refused since a disk operation failed (${errorCode(error.cause) ?? "I/O error"}); ` +
    "reads go on; the server log names the file; restart the server after checking the disk"
  );
}
