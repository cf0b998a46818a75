// PUT bodies streamed to the store as they arrive (BlobUpload and KVStore.stageValue): large
// bodies of both framings are stored byte for byte, and a body that is refused or abandoned
// part-way stores nothing and leaves no staging file behind.
import { describe, expect, it } from "bun:test";
import { readdirSync } from "node:fs";
import { crcEtagOf } from "../../src/volume/crc-etag.ts";
import { etagOf } from "../../src/volume/etag.ts";
import { seededValue } from "../helpers.ts";
import { startTestServer } from "./served-app.ts";

const MiB = 1024 * 1024;

const stagingFiles = (dir: string) =>
  readdirSync(dir).filter((name) => /^upload-[0-9a-f]{16}\.tmp$/.test(name));

/** A chunked request body: `value` in pieces of `piece` bytes; then, if `stallAfter`, it stops sending after that many bytes. */
function chunkedBody(value: Uint8Array, piece: number, stallAfter = Number.POSITIVE_INFINITY) {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (at >= stallAfter) return new Promise<void>(() => {});
      if (at >= value.length) return controller.close();
      controller.enqueue(value.slice(at, at + piece));
      at += piece;
    },
  });
}

/** Polls `check` until it holds; the server notices a client's departure in its own time. */
async function eventually(check: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await Bun.sleep(20)) if (check()) return;
  throw new Error(`timed out waiting for ${what}`);
}

describe("a streamed upload", () => {
  for (const framing of ["Content-Length", "chunked"] as const) {
    it(`with ${framing} is stored byte for byte, its tags those of the whole value, no staging file left`, async () => {
      const { origin, store, dataDir } = await startTestServer();
      // Not a whole number of 1 MiB blocks, sent in pieces that do not divide it.
      const value = seededValue(framing.length, 5 * MiB + 123);
      const body = framing === "chunked" ? chunkedBody(value, 100_003) : value;
      const response = await fetch(`${origin}/blobs/big`, { method: "PUT", body });
      expect(response.status).toBe(201);
      expect(response.headers.get("etag")).toBe(`"${etagOf(value)}"`);
      expect(await response.json()).toEqual({
        key: "big",
        etag: crcEtagOf(value),
        size: value.length,
        volume_id: "vol-test",
      });
      expect(store.get("big")).toEqual(value);
      const read = await fetch(`${origin}/blobs/big`);
      expect(Buffer.from(await read.arrayBuffer()).equals(value)).toBe(true);
      expect(stagingFiles(dataDir)).toEqual([]);
    });
  }

  it("of exactly one block (1 MiB), and of none, gets the tags of the whole value", async () => {
    const { origin } = await startTestServer();
    for (const value of [seededValue(9, MiB), new Uint8Array(0), seededValue(10, 2 * MiB)]) {
      const response = await fetch(`${origin}/blobs/k`, { method: "PUT", body: chunkedBody(value, 65_536) });
      expect(response.headers.get("etag")).toBe(`"${etagOf(value)}"`);
      expect(((await response.json()) as { etag: string }).etag).toBe(crcEtagOf(value));
    }
  });

  it("abandoned by its client mid-body stores nothing, and its staging file is deleted", async () => {
    const { origin, store, dataDir } = await startTestServer();
    await fetch(`${origin}/blobs/k`, { method: "PUT", body: "old" });
    const client = new AbortController();
    const value = seededValue(11, 8 * MiB);
    const sent = fetch(`${origin}/blobs/k`, {
      method: "PUT",
      body: chunkedBody(value, 256 * 1024, 3 * MiB),
      signal: client.signal,
    }).catch(() => null);
    // Past the first block: the rest is being staged on disk.
    await eventually(() => stagingFiles(dataDir).length === 1, "a staging file");
    client.abort();
    await sent;
    await eventually(() => stagingFiles(dataDir).length === 0, "the staging file to be deleted");
    expect(new TextDecoder().decode(store.get("k") ?? new Uint8Array())).toBe("old");
  });

  it("that passes the body limit mid-stream is refused with 413; nothing stored, no staging file left", async () => {
    const { origin, store, dataDir } = await startTestServer({ bodyLimits: { maxBodyBytes: 3 * MiB } });
    const value = seededValue(12, 4 * MiB);
    const response = await fetch(`${origin}/blobs/big`, {
      method: "PUT",
      body: chunkedBody(value, 256 * 1024),
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: string }).error).toContain("MAX_BODY_MB");
    expect(store.has("big")).toBe(false);
    await eventually(() => stagingFiles(dataDir).length === 0, "no staging file");
  });
});
