// What reaches the store, and what the client hears, when a request's connection does not stay
// a plain one-request-one-answer exchange: pipelining, chunked trailers, a client gone mid-body.
// Bun 1.4.5 behaviours are described in src/server/http/open-connection.ts.
import { describe, expect, it } from "bun:test";
import { recordingLogger } from "../helpers.ts";
import { openRawConnection } from "./raw-connection.ts";
import { rawRequest, readResponses } from "./raw-http.ts";
import { startTestServer } from "./served-app.ts";

const CHUNKED_HEAD = "PUT /blobs/chunked HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n";

async function requestCounts(origin: string): Promise<string[]> {
  const text = await (await fetch(`${origin}/metrics`, { headers: { accept: "text/plain" } })).text();
  return text.split("\n").filter((line) => line.startsWith("kvstore_http_requests_total{"));
}

describe("pipelined requests", () => {
  it("are each answered in order when none waits for the disk", async () => {
    const { origin } = await startTestServer();
    await fetch(`${origin}/blobs/k`, { method: "PUT", body: "v" });
    const connection = await openRawConnection(origin);
    connection.write(
      Buffer.concat([
        rawRequest("GET", "/blobs/k"),
        rawRequest("GET", "/health"),
        rawRequest("GET", "/blobs/no"),
      ]),
    );
    const responses = await readResponses(connection, 3);
    connection.close();
    expect(responses.map((response) => response.status)).toEqual([200, 200, 404]);
    expect(responses[0]?.body).toBe("v");
  });

  it("behind a write: Bun closes the connection without an answer, and the write is not applied", async () => {
    const { origin, store } = await startTestServer();
    await fetch(`${origin}/blobs/kept`, { method: "PUT", body: "v" });
    for (const write of [
      rawRequest("PUT", "/blobs/new", { body: "v" }),
      rawRequest("DELETE", "/blobs/kept"),
    ]) {
      const connection = await openRawConnection(origin);
      connection.write(Buffer.concat([write, rawRequest("GET", "/health")]));
      await expect(connection.waitFor(/HTTP/)).rejects.toThrow(/connection closed before/);
    }
    expect(store.has("new")).toBe(false);
    expect(store.has("kept")).toBe(true);
  });
});

describe("chunked bodies with trailer fields", () => {
  it("are refused with 400 before the body is read when announced", async () => {
    const { origin, store } = await startTestServer();
    const connection = await openRawConnection(origin);
    connection.write(`${CHUNKED_HEAD}Trailer: X-Checksum\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: 1\r\n\r\n`);
    const [response] = await readResponses(connection, 1);
    connection.close();
    expect(response?.status).toBe(400);
    expect(JSON.parse(response?.body ?? "")).toEqual({ error: expect.stringContaining("trailer fields") });
    expect(store.has("chunked")).toBe(false);
  });

  it("store nothing when not announced: Bun answers 400 and closes", async () => {
    const { origin, store } = await startTestServer();
    const connection = await openRawConnection(origin);
    connection.write(`${CHUNKED_HEAD}\r\n3\r\nabc\r\n0\r\nX-Checksum: 1\r\n\r\n`);
    await expect(connection.waitUntil(() => false)).rejects.toThrow(/HTTP\/1.1 400 Bad Request/);
    expect(store.has("chunked")).toBe(false);
  });

  it("without trailers are stored", async () => {
    const { origin, store } = await startTestServer();
    const connection = await openRawConnection(origin);
    connection.write(`${CHUNKED_HEAD}\r\n3\r\nabc\r\n0\r\n\r\n`);
    const [response] = await readResponses(connection, 1);
    connection.close();
    expect(response?.status).toBe(201);
    expect(new TextDecoder().decode(store.get("chunked") ?? new Uint8Array())).toBe("abc");
  });
});

describe("a client that goes away mid-body", () => {
  it("is not a server error, not an error log line, and nothing is stored", async () => {
    const logger = recordingLogger();
    const { origin, store } = await startTestServer({ logger });
    for (const head of [
      "PUT /blobs/cut HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n0123456789",
      `${CHUNKED_HEAD}\r\n3\r\nabc\r\n`,
    ]) {
      const connection = await openRawConnection(origin);
      connection.write(head);
      connection.close();
    }
    // Each cut request is counted once the server has seen its connection close.
    const puts = (lines: string[]) =>
      lines
        .filter((line) => line.includes('method="PUT"'))
        .reduce((sum, line) => sum + Number(line.split(" ")[1]), 0);
    let counts = await requestCounts(origin);
    while (puts(counts) < 2) counts = await requestCounts(origin);
    expect(counts.filter((line) => /status="5\d\d"/.test(line))).toEqual([]);
    expect(logger.lines.filter((line) => line.startsWith("error"))).toEqual([]);
    expect(store.has("cut")).toBe(false);
    expect(store.has("chunked")).toBe(false);
  });
});
