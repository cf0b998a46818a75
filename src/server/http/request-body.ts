import { declaredLength } from "./content-length.ts";
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

/**
 * A body declared this long or shorter is read in one step (`request.bytes()`), not as a stream:
 * Bun's ReadableStream of a request body cost a 1 KiB PUT about a third of its CPU. Such a body
 * must arrive whole within the idle time; a longer one is cut only when no byte arrives for it.
 */
export const WHOLE_BODY_BYTES = 64 * 1024;

export const bodyIdle = (idleMs: number) =>
  new HttpError(408, `no byte of the request body arrived for ${idleMs / 1000} s (BODY_IDLE_SECONDS)`);

/** The 408 of a body read in one step, of which bytes may well have been arriving all along. */
const bodyNotWhole = (declaredBytes: number, idleMs: number) =>
  new HttpError(
    408,
    `the request body (Content-Length ${declaredBytes}, read whole as it is at most ${WHOLE_BODY_BYTES} ` +
      `bytes) did not arrive within ${idleMs / 1000} s (BODY_IDLE_SECONDS)`,
  );

/** Where a request body goes as it arrives; `append` may throw to refuse it (the body is then cancelled). */
export interface BodySink {
  append(chunk: Uint8Array): void;
}

/**
 * Streams the raw request body into `sink` chunk by chunk as it arrives; returns its length.
 * A declared Content-Length is checked against the limit and taken from the upload budget
 * before a byte is read; a chunked body is counted, and taken from the budget, as it streams in.
 * 413 past `maxBytes`, 503 past the budget, 408 when the body stalls, 400 when it ends short of
 * its Content-Length. The budget gets its bytes back whatever happens: the sink holds the body
 * from then on.
 */
export async function pipeRequestBody(request: Request, limits: BodyLimits, sink: BodySink): Promise<number> {
  const declaredBytes = declaredLength(request.headers);
  if (declaredBytes === null && request.body === null) return 0;
  if (declaredBytes !== null && declaredBytes > limits.maxBytes) throw bodyTooLarge(limits.maxBytes);
  let taken = 0;
  let received = 0;
  let stopIdleTimer: (() => void) | undefined;
  try {
    if (declaredBytes !== null) {
      limits.budget.take(declaredBytes);
      taken = declaredBytes;
    }
    if (request.body === null) return checkedLength(received, declaredBytes);
    if (declaredBytes !== null && declaredBytes <= WHOLE_BODY_BYTES) {
      const body = await bytesWithin(request, limits.idleMs, declaredBytes);
      if (body.length > 0) sink.append(body);
      return checkedLength(body.length, declaredBytes);
    }
    const reader = request.body.getReader();
    const idle = idleGuardedReader(reader, limits.idleMs);
    stopIdleTimer = idle.stop;
    for (;;) {
      const { done, value } = (await idle.read()) as { done: boolean; value: Uint8Array };
      if (done) break;
      if (received + value.length > limits.maxBytes) {
        await reader.cancel();
        throw bodyTooLarge(limits.maxBytes);
      }
      if (declaredBytes === null) {
        limits.budget.take(value.length);
        taken += value.length;
      }
      try {
        sink.append(value);
      } catch (error) {
        await reader.cancel().catch(() => {});
        throw error;
      }
      received += value.length;
    }
    return checkedLength(received, declaredBytes);
  } finally {
    stopIdleTimer?.();
    limits.budget.give(taken);
  }
}

/** 400 when a body ended short of (or past) the length its Content-Length announced. */
function checkedLength(received: number, declaredBytes: number | null): number {
  if (declaredBytes !== null && received !== declaredBytes) {
    throw new HttpError(400, `the body has ${received} bytes; its Content-Length announced ${declaredBytes}`);
  }
  return received;
}

/** The whole body of `request` (`declaredBytes` long), or 408 if it has not all arrived within `idleMs`. */
async function bytesWithin(request: Request, idleMs: number, declaredBytes: number): Promise<Uint8Array> {
  const timer = stallTimer(idleMs, () => bodyNotWhole(declaredBytes, idleMs));
  const body = request.bytes();
  // After a 408 the read is abandoned; Bun ends it when it closes the connection.
  body.catch(() => {});
  try {
    return await Promise.race([body, timer.stalled]);
  } finally {
    timer.stop();
  }
}

/**
 * Reads from `reader`, each read raced against one idle timer for the whole body, restarted by
 * every read: 408 (and the body cancelled) when nothing arrives within `idleMs`. One timer per
 * body, not one per read: a small PUT's handling is short enough for timers to show.
 */
function idleGuardedReader<Result>(
  reader: { read(): Promise<Result>; cancel(): Promise<void> },
  idleMs: number,
): { read(): Promise<Result>; stop(): void } {
  // Rejected first: cancelling ends the pending read, which must not win the race.
  const timer = stallTimer(
    idleMs,
    () => bodyIdle(idleMs),
    () => void reader.cancel(),
  );
  return {
    read() {
      timer.restart();
      return Promise.race([reader.read(), timer.stalled]);
    },
    stop: timer.stop,
  };
}

/**
 * A promise that rejects with `error()` once `idleMs` pass without a `restart()` (then runs
 * `afterReject`), until `stop()`. Only ever awaited through a race: when the body ends first,
 * nobody is left to see the rejection.
 */
function stallTimer(
  idleMs: number,
  error: () => Error,
  afterReject: () => void = () => {},
): { stalled: Promise<never>; restart(): void; stop(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(error());
      afterReject();
    }, idleMs);
  });
  stalled.catch(() => {});
  return {
    stalled,
    restart: () => timer?.refresh(),
    stop: () => clearTimeout(timer),
  };
}
