// Conditional requests (RFC 9110, section 13): a strong ETag that does not collide.
import { describe, expect, it } from "bun:test";
import { crcEtagOf } from "../../src/volume/crc-etag.ts";
import { openTestApp } from "./app-fixture.ts";
import { withCrc32 } from "./crc-collision.ts";

const encode = (text: string) => new TextEncoder().encode(text);

async function etagOfPut(response: Response): Promise<string> {
  expect(response.status).toBe(201);
  return response.headers.get("etag") ?? "";
}

describe("the ETag", () => {
  it("differs for different values with the same CRC-32, and a stale one gets no 304", async () => {
    const { request } = await openTestApp();
    const first = encode("Hello, World!");
    const second = withCrc32(encode("Goodbye, World"), Bun.hash.crc32(first));
    expect(crcEtagOf(second)).toBe(crcEtagOf(first));

    const firstEtag = await etagOfPut(await request("PUT", "/blobs/k", { body: first }));
    const secondPut = await request("PUT", "/blobs/k", { body: second });
    expect(((await secondPut.clone().json()) as { etag: string }).etag).toBe(crcEtagOf(first));
    const secondEtag = await etagOfPut(secondPut);
    expect(secondEtag).toMatch(/^"[0-9a-f]{16}"$/);
    expect(secondEtag).not.toBe(firstEtag);

    for (const method of ["GET", "HEAD"]) {
      const stale = await request(method, "/blobs/k", { headers: { "if-none-match": firstEtag } });
      expect({ method, status: stale.status }).toEqual({ method, status: 200 });
      expect(stale.headers.get("etag")).toBe(secondEtag);
      const fresh = await request(method, "/blobs/k", { headers: { "if-none-match": secondEtag } });
      expect({ method, status: fresh.status }).toEqual({ method, status: 304 });
    }
    const reread = await request("GET", "/blobs/k", { headers: { "if-none-match": firstEtag } });
    const rereadBytes: Uint8Array = new Uint8Array(await reread.arrayBuffer());
    expect(rereadBytes).toEqual(second);
  });
});
