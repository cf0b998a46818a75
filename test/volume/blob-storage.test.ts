import { afterEach, describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { KVStore, silentLogger } from "../../src/index.ts";
import { BlobStorage } from "../../src/volume/blob-storage.ts";
import { crcEtagOf } from "../../src/volume/crc-etag.ts";
import { ETAG_BLOCK_BYTES, EtagHasher, etagOf } from "../../src/volume/etag.ts";
import { scratchDir } from "../server/app-fixture.ts";

const opened: KVStore[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

/** Every write of these tests happens at this instant (a read's date shows once its second is over). */
const WRITTEN_AT = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
let now = WRITTEN_AT;

async function openStorage(streamFromFileBytes?: number): Promise<BlobStorage> {
  const store = await KVStore.open(scratchDir(), { logger: silentLogger });
  opened.push(store);
  now = WRITTEN_AT;
  return new BlobStorage(store, "vol-unit", streamFromFileBytes, () => now);
}

function filled(length: number, byte: number): Uint8Array {
  return new Uint8Array(length).fill(byte);
}

describe("crcEtagOf", () => {
  it("is the CRC-32 of the bytes as 8 lowercase hex digits", () => {
    expect(crcEtagOf(new TextEncoder().encode("Hello, World!"))).toBe("ec4ac3d0");
    expect(crcEtagOf(new TextEncoder().encode("123456789"))).toBe("cbf43926");
    expect(crcEtagOf(new Uint8Array(0))).toBe("00000000");
  });
});

describe("etagOf", () => {
  it("is 16 lowercase hex digits, for an empty value too", () => {
    expect(etagOf(new TextEncoder().encode("Hello, World!"))).toMatch(/^[0-9a-f]{16}$/);
    expect(etagOf(new Uint8Array(0))).toMatch(/^[0-9a-f]{16}$/);
  });

  it("is the same whether the value is hashed whole or a block at a time", () => {
    const bytes = new Uint8Array(2 * ETAG_BLOCK_BYTES + 3).map((_, i) => (i * 7) % 251);
    const hasher = new EtagHasher();
    for (let start = 0; start < bytes.length; start += ETAG_BLOCK_BYTES) {
      hasher.add(bytes.subarray(start, start + ETAG_BLOCK_BYTES));
    }
    expect(hasher.etag).toBe(etagOf(bytes));
    expect(etagOf(bytes.subarray(1))).not.toBe(etagOf(bytes));
  });
});

describe("BlobStorage", () => {
  it("put stores the bytes and answers the JSON meta and the entity tag", async () => {
    const storage = await openStorage();
    const bytes = filled(10, 7);
    expect(await storage.put("a/b:c", bytes)).toEqual({
      meta: { key: "a/b:c", etag: crcEtagOf(bytes), size: 10, volume_id: "vol-unit" },
      etag: etagOf(bytes),
    });
    expect(storage.store.get("a/b:c")).toEqual(bytes);
  });

  it("read answers small blobs as bytes and large ones as their place in a segment file", async () => {
    const storage = await openStorage(100);
    const small = filled(99, 1);
    const large = filled(100, 2);
    await storage.put("small", small);
    await storage.put("large", large, "image/png");
    now = WRITTEN_AT + 1000;

    const readSmall = storage.read("small");
    expect(readSmall).toEqual({
      size: 99,
      etag: etagOf(small),
      bytes: small,
      contentType: "application/octet-stream",
      lastModified: WRITTEN_AT,
    });

    const readLarge = storage.read("large");
    if (readLarge?.file === undefined) throw new Error("expected a file location");
    expect(readLarge.size).toBe(100);
    expect(readLarge.etag).toBe(etagOf(large));
    expect(readLarge.contentType).toBe("image/png");
    expect(readLarge.lastModified).toBe(WRITTEN_AT);
    readLarge.file.close();
    const { path, offset, length } = readLarge.file;
    const onDisk: Uint8Array = readFileSync(path).subarray(offset, offset + length);
    expect(onDisk).toEqual(large);

    expect(storage.read("missing")).toBeNull();
  });

  it("computes the etag of a blob larger than its read chunk from the file", async () => {
    const storage = await openStorage(16);
    const bytes = new Uint8Array(2_621_440 + 7).map((_, i) => (i * 31) % 256);
    const { etag } = await storage.put("big", bytes);
    expect(etag).toBe(etagOf(bytes));
    expect(storage.read("big")?.etag).toBe(etag);
  });

  it("gives a large blob the etag of its current bytes after each rewrite", async () => {
    const storage = await openStorage(16);
    for (let version = 0; version < 3; version++) {
      const bytes = filled(64, version);
      const { etag } = await storage.put("k", bytes);
      expect(storage.read("k")?.etag).toBe(etag);
      expect(storage.read("k")?.etag).toBe(etagOf(bytes));
    }
    await storage.delete("k");
    expect(storage.read("k")).toBeNull();
    const again = filled(64, 9);
    await storage.put("k", again);
    expect(storage.read("k")?.etag).toBe(etagOf(again));
  });

  it("summary and read give a blob's type and date, and defaults for a blob the library wrote", async () => {
    const storage = await openStorage(100);
    await storage.put("typed/small", filled(10, 1), "text/plain; charset=utf-8");
    await storage.put("typed/large", filled(200, 2), "application/json");
    await storage.store.set("library", filled(10, 3));
    await storage.store.set("library-large", filled(200, 4));
    now = WRITTEN_AT + 1000;
    for (const [key, contentType, lastModified] of [
      ["typed/small", "text/plain; charset=utf-8", WRITTEN_AT],
      ["typed/large", "application/json", WRITTEN_AT],
      ["library", "application/octet-stream", null],
      ["library-large", "application/octet-stream", null],
    ] as const) {
      expect([key, storage.summary(key)]).toMatchObject([key, { contentType, lastModified }]);
      const blob = storage.read(key);
      blob?.file?.close();
      expect([key, blob]).toMatchObject([key, { contentType, lastModified }]);
    }
    // The metadata is beside the value, not in it.
    expect(storage.store.get("typed/small")).toEqual(filled(10, 1));
  });

  it("delete answers whether the blob existed", async () => {
    const storage = await openStorage();
    await storage.put("k", filled(1, 1));
    expect(await storage.delete("k")).toBe(true);
    expect(await storage.delete("k")).toBe(false);
    expect(storage.store.has("k")).toBe(false);
  });

  it("lists keys sorted, filtered and paged", async () => {
    const storage = await openStorage();
    for (const key of ["b", "a/2", "a/1", "c"]) await storage.put(key, filled(1, 0));
    expect(storage.list()).toEqual(["a/1", "a/2", "b", "c"]);
    expect(storage.list({ prefix: "a/" })).toEqual(["a/1", "a/2"]);
    expect(storage.list({ after: "a/2", limit: 1 })).toEqual(["b"]);
  });
});
