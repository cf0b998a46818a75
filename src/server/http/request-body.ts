import { bodyTooLarge } from "./http-error.ts";

/**
 * The raw request body, refused with 413 past `maxBytes`. A declared Content-Length is checked
 * before reading; a chunked body is counted while it streams in and abandoned at the limit.
 */
export async function readRequestBody(request: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    if (Number(declared) > maxBytes) throw bodyTooLarge(maxBytes);
    return request.bytes();
  }
  if (request.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let received = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.length;
    if (received > maxBytes) {
      await reader.cancel();
      throw bodyTooLarge(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, received);
}
