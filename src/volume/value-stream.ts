import { readSync } from "node:fs";
import type { OpenValue } from "../index.ts";

/** Bytes read per pull: bounds the memory a slow client's response can hold. */
const CHUNK_BYTES = 256 * 1024;

/**
 * Bytes `start` to `end` (exclusive) of an open value, read from its file as the client takes
 * them. The file is closed when the stream ends, fails or is cancelled (client gone), which
 * ends the reader's lease on the segment (see `OpenValue`).
 */
export function streamValue(value: OpenValue, start: number, end: number): ReadableStream<Uint8Array> {
  let position = value.offset + start;
  const stop = value.offset + end;
  if (position >= stop) value.close();
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      try {
        if (position >= stop) {
          controller.close();
          return;
        }
        const chunk = new Uint8Array(Math.min(CHUNK_BYTES, stop - position));
        const got = readSync(value.fd, chunk, 0, chunk.length, position);
        if (got === 0) throw new Error(`the segment file ended inside a value at offset ${position}`);
        position += got;
        if (position >= stop) value.close();
        controller.enqueue(got === chunk.length ? chunk : chunk.subarray(0, got));
      } catch (error) {
        value.close();
        controller.error(error);
      }
    },
    cancel() {
      value.close();
    },
  });
}
