// HTTP/1.1 requests written byte for byte, and the responses read back from a raw connection:
// for what fetch() would normalise or refuse to send (dot segments, raw bytes, short Host
// headers, pipelining, trailers, unknown methods).
import { openRawConnection, type RawConnection } from "./raw-connection.ts";

export interface RawResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** Decoded as UTF-8. */
  body: string;
}

/** One request; `target` may hold any bytes. */
export function rawRequest(
  method: string,
  target: string | Uint8Array,
  { host = "localhost", body = "", headers = "" }: { host?: string; body?: string; headers?: string } = {},
): Uint8Array {
  const head = ` HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}\r\n`;
  return Buffer.concat([
    Buffer.from(`${method} `),
    Buffer.from(target),
    Buffer.from(head),
    Buffer.from(body),
  ]);
}

/** The first `count` responses on the connection, in order; HEAD responses must be named in `heads`. */
export async function readResponses(
  connection: RawConnection,
  count: number,
  heads: ReadonlySet<number> = new Set(),
): Promise<RawResponse[]> {
  const enough = (text: string) => parseResponses(text, heads).length >= count;
  const received = await connection.waitUntil(enough, `${count} responses`);
  return parseResponses(received, heads).slice(0, count);
}

/** Sends one request on a fresh connection and reads its response. */
export async function exchange(
  origin: string,
  request: Uint8Array,
  { head = false } = {},
): Promise<RawResponse> {
  const connection = await openRawConnection(origin);
  try {
    connection.write(request);
    const [response] = await readResponses(connection, 1, head ? new Set([0]) : new Set());
    if (response === undefined) throw new Error("no response");
    return response;
  } finally {
    connection.close();
  }
}

/** Complete responses at the start of `text` (bodies by Content-Length; none for 1xx, 204, 304, HEAD). */
function parseResponses(text: string, heads: ReadonlySet<number>): RawResponse[] {
  const responses: RawResponse[] = [];
  let at = 0;
  for (;;) {
    const headEnd = text.indexOf("\r\n\r\n", at);
    if (headEnd === -1) return responses;
    const [statusLine = "", ...lines] = text.slice(at, headEnd).split("\r\n");
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const bodyless = status < 200 || status === 204 || status === 304 || heads.has(responses.length);
    const length = bodyless ? 0 : Number(headers["content-length"] ?? 0);
    const bodyStart = headEnd + 4;
    // Lengths count bytes and the text holds one character per byte (latin1), so they agree.
    if (text.length < bodyStart + length) return responses;
    if (status >= 200)
      responses.push({ status, headers, body: utf8(text.slice(bodyStart, bodyStart + length)) });
    at = bodyStart + length;
  }
}

const utf8 = (latin1: string) => Buffer.from(latin1, "latin1").toString("utf8");
