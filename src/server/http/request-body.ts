import { bodyTooLarge, HttpError } from "./http-error.ts";
import type { UploadBudget } from "./upload-budget.ts";

export interface BodyLimits {
  /** Largest body; larger ones get 413. */
  maxBytes: number;
  /** Shared by all uploads in flight; 503 past it. */
  budget: UploadBudget;
  /** A body from which no byte arrives for this long is abandoned with 408. */
  idleMs: number;
}

export const DEFAULT_MAX_BODY_BYTES = 100 * 1024 * 1024;
export const DEFAULT_BODY_IDLE_MS = 30_000;

/** A chunked body's buffer starts at this size and grows in place as the body arrives (up to maxBytes). */
const FIRST_CHUNKED_CAPACITY = 64 * 1024;

export const bodyIdle = (idleMs: number) =>
  new HttpError(408, `no byte of the request body arrived for ${idleMs / 1000} s (BODY_IDLE_SECONDS)`);

/**
 * The raw request body, held once in memory. A declared Content-Length is checked against the
 * limit and taken from the upload budget before a byte is read, then read into one buffer of
 * that size; a chunked body is counted, and taken from the budget, as it streams in, in a buffer
 * that grows in place. 413 past `maxBytes`, 503 past the budget, 408 when the body stalls. The budget
 * gets its bytes back whatever happens: the caller holds the body from then on.
 */
export async function readRequestBody(request: Request, limits: BodyLimits): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared === null && request.body === null) return new Uint8Array(0);
  const declaredBytes = declared === null ? null : Number(declared);
  if (declaredBytes !== null && declaredBytes > limits.maxBytes) throw bodyTooLarge(limits.maxBytes);
  let taken = 0;
  try {
    if (declaredBytes !== null) {
      limits.budget.take(declaredBytes);
      taken = declaredBytes;
    }
    const body = new GrowingBuffer(
      declaredBytes ?? Math.min(FIRST_CHUNKED_CAPACITY, limits.maxBytes),
      limits.maxBytes,
    );
    if (request.body === null) return body.bytes();
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = (await readWithin(reader, limits.idleMs)) as {
        done: boolean;
        value: Uint8Array;
      };
      if (done) break;
      if (body.length + value.length > limits.maxBytes) {
        await reader.cancel();
        throw bodyTooLarge(limits.maxBytes);
      }
      if (declaredBytes === null) {
        limits.budget.take(value.length);
        taken += value.length;
      }
      body.append(value);
    }
    return body.bytes();
  } finally {
    limits.budget.give(taken);
  }
}

/** One read, or 408 (and the body cancelled) if nothing arrives within `idleMs`. */
async function readWithin<Result>(
  reader: { read(): Promise<Result>; cancel(): Promise<void> },
  idleMs: number,
): Promise<Result> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Rejected first: cancelling ends the pending read, which must not win the race.
      reject(bodyIdle(idleMs));
      void reader.cancel();
    }, idleMs);
  });
  try {
    return await Promise.race([reader.read(), stalled]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Bytes appended into one resizable buffer that grows in place up to `maxBytes`: its address
 * space is reserved at once, but only the pages written take memory, and growing copies nothing.
 */
class GrowingBuffer {
  private readonly memory: ArrayBuffer;
  private readonly view: Uint8Array;
  length = 0;

  constructor(capacity: number, maxBytes: number) {
    this.memory = new ArrayBuffer(capacity, { maxByteLength: Math.max(capacity, maxBytes) });
    this.view = new Uint8Array(this.memory);
  }

  append(bytes: Uint8Array): void {
    const needed = this.length + bytes.length;
    if (needed > this.memory.byteLength) this.memory.resize(needed);
    this.view.set(bytes, this.length);
    this.length = needed;
  }

  /** A view of the bytes received, without a copy. */
  bytes(): Uint8Array {
    return new Uint8Array(this.memory, 0, this.length);
  }
}
