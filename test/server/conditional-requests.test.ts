// Conditional requests (RFC 9110, section 13): a strong ETag that does not collide, preconditions
// on writes (412), If-Range on ranged reads.
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

describe("If-Match on PUT, POST and DELETE", () => {
  it("lets one of two writers holding the same ETag win and answers the other 412", async () => {
    for (const streamFromFileBytes of [undefined, 16]) {
      const { request } = await openTestApp({ streamFromFileBytes });
      const etag = await etagOfPut(await request("PUT", "/blobs/doc", { body: "version 1 of the doc" }));
      const writers = ["edit by A of the doc", "edit by B of the doc"];
      const answers = await Promise.all(
        writers.map((body) => request("PUT", "/blobs/doc", { body, headers: { "if-match": etag } })),
      );
      expect(answers.map((answer) => answer.status).sort()).toEqual([201, 412]);
      const winner = writers[answers.findIndex((answer) => answer.status === 201)];
      expect(await (await request("GET", "/blobs/doc")).text()).toBe(winner ?? "");
      const loser = answers.find((answer) => answer.status === 412);
      expect(loser?.headers.get("content-type")).toContain("application/json");
      expect(await loser?.json()).toEqual({
        error: expect.stringContaining("precondition failed: If-Match does not hold"),
      });
    }
  });

  it("matches only the current strong tag, or * when the blob exists", async () => {
    const { request } = await openTestApp();
    const etag = await etagOfPut(await request("PUT", "/blobs/k", { body: "one" }));
    for (const ifMatch of [`W/${etag}`, '"0000000000000000"', etag.slice(1, -1)]) {
      const refused = await request("POST", "/blobs/k", { body: "two", headers: { "if-match": ifMatch } });
      expect({ ifMatch, status: refused.status }).toEqual({ ifMatch, status: 412 });
    }
    expect(await (await request("GET", "/blobs/k")).text()).toBe("one");
    const listed = await request("PUT", "/blobs/k", {
      body: "two",
      headers: { "if-match": `"0000000000000000", ${etag}` },
    });
    expect(listed.status).toBe(201);
    expect((await request("PUT", "/blobs/k", { body: "three", headers: { "if-match": "*" } })).status).toBe(
      201,
    );
    const absent = await request("PUT", "/blobs/new", { body: "x", headers: { "if-match": "*" } });
    expect(absent.status).toBe(412);
    expect((await request("GET", "/blobs/new")).status).toBe(404);
  });

  it("deletes only the version named, and answers 404 for a missing blob", async () => {
    const { request } = await openTestApp();
    const old = await etagOfPut(await request("PUT", "/blobs/k", { body: "one" }));
    const current = await etagOfPut(await request("PUT", "/blobs/k", { body: "two" }));
    expect((await request("DELETE", "/blobs/k", { headers: { "if-match": old } })).status).toBe(412);
    expect((await request("GET", "/blobs/k")).status).toBe(200);
    expect((await request("DELETE", "/blobs/k", { headers: { "if-match": current } })).status).toBe(204);
    expect((await request("GET", "/blobs/k")).status).toBe(404);
    expect((await request("DELETE", "/blobs/k", { headers: { "if-match": current } })).status).toBe(404);
  });
});

describe("If-None-Match on PUT, POST and DELETE", () => {
  it("with * creates only when no blob exists, one of two racing creators winning", async () => {
    const { request } = await openTestApp();
    const answers = await Promise.all(
      ["first", "second"].map((body) =>
        request("PUT", "/blobs/lock", { body, headers: { "if-none-match": "*" } }),
      ),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 412]);
    const winner = answers[0]?.status === 201 ? "first" : "second";
    const again = await request("POST", "/blobs/lock", { body: "third", headers: { "if-none-match": "*" } });
    expect(again.status).toBe(412);
    expect(await (await request("GET", "/blobs/lock")).text()).toBe(winner);
  });

  it("refuses a write or delete when the blob is the version named", async () => {
    const { request } = await openTestApp();
    const etag = await etagOfPut(await request("PUT", "/blobs/k", { body: "one" }));
    const write = await request("PUT", "/blobs/k", { body: "two", headers: { "if-none-match": etag } });
    expect(write.status).toBe(412);
    expect((await request("DELETE", "/blobs/k", { headers: { "if-none-match": etag } })).status).toBe(412);
    expect(await (await request("GET", "/blobs/k")).text()).toBe("one");
    const other = await request("PUT", "/blobs/k", { body: "two", headers: { "if-none-match": '"0"' } });
    expect(other.status).toBe(201);
  });
});

describe("If-Range", () => {
  it("applies the Range only for the current strong tag, otherwise answers the whole blob", async () => {
    const { request } = await openTestApp({ streamFromFileBytes: 16 });
    const stale = await etagOfPut(await request("PUT", "/blobs/k", { body: "version one, long enough" }));
    const current = await etagOfPut(await request("PUT", "/blobs/k", { body: "version two, long enough" }));
    const ranged = (ifRange: string) =>
      request("GET", "/blobs/k", { headers: { range: "bytes=0-6", "if-range": ifRange } });

    const resumed = await ranged(current);
    expect(resumed.status).toBe(206);
    expect(await resumed.text()).toBe("version");
    for (const ifRange of [stale, `W/${current}`, "Wed, 25 Nov 2026 12:00:00 GMT"]) {
      const whole = await ranged(ifRange);
      expect({ ifRange, status: whole.status }).toEqual({ ifRange, status: 200 });
      expect(whole.headers.get("content-range")).toBeNull();
      expect(await whole.text()).toBe("version two, long enough");
    }
  });
});
