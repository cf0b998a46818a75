import { clientClosedRequest } from "./http-error.ts";

/**
 * Resolves one event-loop turn after a request's body was read if its connection is still open;
 * throws the 499 of a client that is gone otherwise, so that the caller applies nothing. Bun
 * 1.4.5 (measured) closes the connection, without an answer, while it parses the bytes that
 * came with the body, before the next turn of the event loop:
 * - when a request is pipelined behind one whose answer is still pending (a write waiting for
 *   its fsync): neither is answered (oven-sh/bun#33664 and later pull requests);
 * - when a chunked body has trailer fields: Bun ends the body at the last chunk, reads the
 *   fields as the start of a next request and answers that with 400;
 * - when the client goes away.
 * A write is applied only if its answer can still reach the client.
 */
export async function whileConnectionOpen(request: Request): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  if (request.signal.aborted) throw clientClosedRequest();
}
