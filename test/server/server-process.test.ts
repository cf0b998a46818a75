// The server as users run it: `bun src/main.ts serve` in its own process on a loopback port the
// OS picks, talked to over real sockets, stopped with real signals.
import { describe, expect, it } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { crcEtagOf } from "../../src/volume/crc-etag.ts";
import { etagOf } from "../../src/volume/etag.ts";
import { readUntilListening } from "../fixtures/listening-log.ts";
import { seededValue } from "../fixtures/values.ts";
import { scratchDir } from "./app-fixture.ts";
import { openRawConnection } from "./raw-connection.ts";

const mainScript = join(import.meta.dir, "../../src/main.ts");

interface RunningServer {
  child: Bun.Subprocess<"ignore", "ignore", "pipe">;
  origin: string;
  /** Everything the server logged so far. */
  log: () => string;
}

async function startServer(dataDir: string): Promise<RunningServer> {
  const child = Bun.spawn(
    [process.execPath, mainScript, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir],
    {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", VOLUME_ID: "vol-process" },
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    },
  );
  const { origin, log } = await readUntilListening(child.stderr);
  return { child, origin, log };
}

async function stopServer(server: RunningServer): Promise<number> {
  server.child.kill("SIGTERM");
  return server.child.exited;
}

async function receivedBytes(response: Response): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer());
}

async function expectStatus(response: Response, status: number, what: string): Promise<void> {
  if (response.status !== status) {
    throw new Error(`${what}: expected ${status}, got ${response.status} ${await response.text()}`);
  }
}

describe("the server process", () => {
  it("answers many concurrent clients, every response right", async () => {
    const server = await startServer(scratchDir());
    try {
      const clients = 16;
      const blobsPerClient = 30;
      const kept: string[] = [];
      await Promise.all(
        Array.from({ length: clients }, async (_, client) => {
          for (let i = 0; i < blobsPerClient; i++) {
            const key = `client-${String(client).padStart(2, "0")}/blob:${String(i).padStart(2, "0")}`;
            const url = `${server.origin}/blobs/${encodeURIComponent(key)}`;
            const value = seededValue(client * 1000 + i, (client * 997 + i * 131) % 5000);
            const put = await fetch(url, { method: "PUT", body: value });
            await expectStatus(put, 201, `PUT ${key}`);
            expect(await put.json()).toEqual({
              key,
              etag: crcEtagOf(value),
              size: value.length,
              volume_id: "vol-process",
            });

            const get = await fetch(url);
            await expectStatus(get, 200, `GET ${key}`);
            expect(get.headers.get("etag")).toBe(`"${etagOf(value)}"`);
            expect(get.headers.get("content-length")).toBe(String(value.length));
            expect(await receivedBytes(get)).toEqual(value);

            const head = await fetch(url, { method: "HEAD" });
            await expectStatus(head, 200, `HEAD ${key}`);
            expect(head.headers.get("content-length")).toBe(String(value.length));

            if (i % 3 === 0) {
              await expectStatus(await fetch(url, { method: "DELETE" }), 204, `DELETE ${key}`);
              const gone = await fetch(url);
              await expectStatus(gone, 404, `GET deleted ${key}`);
              expect(await gone.json()).toEqual({ error: "Blob not found" });
            } else {
              kept.push(key);
            }
          }
        }),
      );
      const listed = await fetch(`${server.origin}/blobs?prefix=client-`);
      expect(await listed.json()).toEqual(kept.sort());
      const health = await fetch(`${server.origin}/health`);
      expect(await health.json()).toMatchObject({
        status: "healthy",
        volume_id: "vol-process",
        keys: kept.length,
      });
    } finally {
      expect(await stopServer(server)).toBe(0);
    }
  });

  it("streams a large blob from its segment file, whole and in ranges", async () => {
    const server = await startServer(scratchDir());
    try {
      const value = seededValue(7, 3 * 1024 * 1024 + 5);
      const url = `${server.origin}/blobs/large`;
      await expectStatus(await fetch(url, { method: "PUT", body: value }), 201, "PUT large");
      const head = await fetch(url, { method: "HEAD" });
      expect(head.headers.get("content-length")).toBe(String(value.length));
      // Streamed from the open segment file; Bun 1.4.5 sends such a body chunked (no Content-Length).
      const whole = await fetch(url);
      expect(whole.headers.get("etag")).toBe(`"${etagOf(value)}"`);
      expect(await receivedBytes(whole)).toEqual(value);
      const part = await fetch(url, { headers: { range: "bytes=1048000-2097151" } });
      await expectStatus(part, 206, "ranged GET");
      expect(part.headers.get("content-range")).toBe(`bytes 1048000-2097151/${value.length}`);
      expect(await receivedBytes(part)).toEqual(value.subarray(1048000, 2097152));
    } finally {
      expect(await stopServer(server)).toBe(0);
    }
  });

  it("decodes keys from the raw path, refusing bad escapes that the router would have replaced", async () => {
    const server = await startServer(scratchDir());
    try {
      for (const path of ["/blobs/%FF", "/blobs/bad%E2%82", "/blobs/%ED%A0%80", "/blobs/a/%FF"]) {
        const response = await fetch(`${server.origin}${path}`, { method: "PUT", body: "x" });
        await expectStatus(response, 400, `PUT ${path}`);
        expect(await response.json()).toEqual({ error: "key is not valid percent-encoded UTF-8" });
      }
      for (const [path, key] of [
        ["/blobs/a%2Fb", "a/b"],
        ["/blobs/plain/slash:colon", "plain/slash:colon"],
        ["/blobs/%E2%82%AC%20x", "€ x"],
      ]) {
        const put = await fetch(`${server.origin}${path}`, { method: "PUT", body: key });
        await expectStatus(put, 201, `PUT ${path}`);
        expect(await put.json()).toMatchObject({ key });
      }
      expect(await (await fetch(`${server.origin}/blobs`)).json()).toEqual([
        "a/b",
        "plain/slash:colon",
        "€ x",
      ]);
    } finally {
      expect(await stopServer(server)).toBe(0);
    }
  });

  it("on SIGTERM (even sent twice) finishes the requests in flight, exits 0, and keeps every acknowledged write", async () => {
    const dataDir = scratchDir();
    const server = await startServer(dataDir);

    // A PUT whose headers the server has read (it answered "100 Continue") but whose body has not
    // been sent yet: it is certainly in flight when the signal arrives.
    const slowBody = seededValue(42, 4096);
    const slow = await openRawConnection(server.origin);
    slow.write(
      `PUT /blobs/in-flight HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${slowBody.length}\r\n` +
        "Expect: 100-continue\r\n\r\n",
    );
    await slow.waitFor(/^HTTP\/1\.1 100 Continue\r\n\r\n/);

    // And a burst of ordinary requests racing the signal: some will be answered, some refused.
    const burst = Array.from({ length: 48 }, (_, i) => {
      const key = `burst-${i}`;
      const value = seededValue(10_000 + i, 2048);
      return fetch(`${server.origin}/blobs/${key}`, { method: "PUT", body: value }).then(
        (response) => ({ key, value, acknowledged: response.status === 201 }),
        () => ({ key, value, acknowledged: false }),
      );
    });
    server.child.kill("SIGTERM");
    // A second signal while the slow request holds the shutdown open must not cut it short.
    while (!server.log().includes("SIGTERM received")) await Bun.sleep(5);
    server.child.kill("SIGTERM");
    while (!server.log().includes("received again")) await Bun.sleep(5);
    slow.write(slowBody);
    const slowAnswer = await slow.waitFor(/\r\n\r\nHTTP\/1\.1 [1-5]\d\d [^\r]*\r\n/);
    slow.close();
    expect(slowAnswer).toContain("\r\n\r\nHTTP/1.1 201 Created\r\n");
    const outcomes = await Promise.all(burst);
    expect(await server.child.exited).toBe(0);
    expect(server.log()).toContain("SIGTERM received");
    expect(server.log()).toContain("the store is closed");
    expect(existsSync(join(dataDir, "index.snapshot"))).toBe(true);

    const restarted = await startServer(dataDir);
    try {
      const inFlight = await fetch(`${restarted.origin}/blobs/in-flight`);
      expect(await receivedBytes(inFlight)).toEqual(slowBody);
      for (const { key, value } of outcomes.filter((outcome) => outcome.acknowledged)) {
        const response = await fetch(`${restarted.origin}/blobs/${key}`);
        await expectStatus(response, 200, `GET ${key} after restart`);
        expect(await receivedBytes(response)).toEqual(value);
      }
    } finally {
      expect(await stopServer(restarted)).toBe(0);
    }
  });
});
