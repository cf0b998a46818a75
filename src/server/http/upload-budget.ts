import { HttpError } from "./http-error.ts";

/**
 * The default budget, in bodies of the largest size: four of them at once, which bounds the
 * staging space (and the memory of small bodies) to a small multiple of MAX_BODY_MB and still
 * lets a few large uploads run side by side.
 */
export const DEFAULT_UPLOADS_IN_BUDGET = 4;

/**
 * The bytes that all uploads in flight may hold at once, in memory or staged on disk until they
 * are stored (blob-upload.ts). An upload takes bytes from the budget before it holds them and
 * gives them all back when its body is read or abandoned.
 */
export class UploadBudget {
  private inFlight = 0;

  constructor(readonly limitBytes: number) {}

  /** Bytes currently taken by uploads in flight. */
  get bytesInFlight(): number {
    return this.inFlight;
  }

  /** Takes `bytes`, or throws a 503 if they would take the uploads in flight past the limit. */
  take(bytes: number): void {
    if (this.inFlight + bytes > this.limitBytes) throw new UploadBudgetExhausted(this.limitBytes);
    this.inFlight += bytes;
  }

  give(bytes: number): void {
    this.inFlight -= bytes;
  }
}

/** A 503 that passes: the client is told to retry after a second (Retry-After). */
export class UploadBudgetExhausted extends HttpError {
  constructor(limitBytes: number) {
    super(
      503,
      `uploads in flight would hold more than ${limitBytes} bytes (UPLOAD_BUDGET_MB); retry shortly`,
    );
  }
}
