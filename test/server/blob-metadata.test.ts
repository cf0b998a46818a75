// Blob metadata over HTTP: the Content-Type of the upload and the time of the write come back on
// GET and HEAD (Content-Type, Last-Modified), and If-Modified-Since answers 304 (RFC 9110).
import { describe, expect, it } from "bun:test";
import { openTestApp } from "./app-fixture.ts";

const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const encode = (text: string) => new TextEncoder().encode(text);

/** Small blobs are read whole, large ones streamed from their segment file: test both. */
const bothReadPaths = [undefined, 16];

/**
 * The app's clock, moved on by a second before reads: a blob's date is sent (and If-Modified-Since
 * honoured) only once the second of its write is over.
 */
function movingClock() {
  let shift = 0;
  return {
    now: () => Date.now() + shift,
    passSecond: () => {
      shift += 1000;
    },
  };
}

async function lastModifiedOf(response: Response): Promise<string> {
  const header = response.headers.get("last-modified");
  if (header === null) throw new Error(`no Last-Modified (status ${response.status})`);
  return header;
}

describe("Content-Type of a blob", () => {
  it("is the one given on upload, on GET and HEAD, for keys with a slash, small or streamed", async () => {
    for (const streamFromFileBytes of bothReadPaths) {
      const { request } = await openTestApp({ streamFromFileBytes });
      const body = encode('{"hello": "a JSON document of some length"}');
      for (const [method, path, type] of [
        ["PUT", "/blobs/docs/2026/report.json", "application/json; charset=utf-8"],
        ["POST", "/blobs/images%2Fcat", "image/png"],
        ["PUT", "/blobs/plain", 'text/plain; format="flowed"'],
      ] as const) {
        const put = await request(method, path, { body, headers: { "content-type": type } });
        expect(put.status).toBe(201);
        // The JSON answer of the seed API is unchanged.
        expect(Object.keys((await put.json()) as object).sort()).toEqual([
          "etag",
          "key",
          "size",
          "volume_id",
        ]);
        for (const readMethod of ["GET", "HEAD"]) {
          const read = await request(readMethod, path);
          expect([
            streamFromFileBytes,
            readMethod,
            path,
            read.status,
            read.headers.get("content-type"),
          ]).toEqual([streamFromFileBytes, readMethod, path, 200, type]);
        }
        expect(new Uint8Array(await (await request("GET", path)).arrayBuffer())).toEqual(body);
      }
    }
  });

  it("is kept for a body staged on disk (over one 1 MiB block), with its Last-Modified", async () => {
    const clock = movingClock();
    const { request, store } = await openTestApp({ maxBodyBytes: 8 * 1024 * 1024, now: clock.now });
    const body = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => i % 251);
    const put = await request("PUT", "/blobs/video/clip.mp4", {
      body,
      headers: { "content-type": "video/mp4" },
    });
    expect(put.status).toBe(201);
    clock.passSecond();
    const read = await request("GET", "/blobs/video/clip.mp4");
    expect([read.status, read.headers.get("content-type")]).toEqual([200, "video/mp4"]);
    expect(read.headers.get("last-modified")).toMatch(IMF_FIXDATE);
    expect(new Uint8Array(await read.arrayBuffer())).toEqual(body);
    // The engine's value is the body alone: the metadata lives beside it.
    expect(store.get("video/clip.mp4")).toEqual(body);
    expect(store.getMetadata("video/clip.mp4")).not.toBeNull();
  });

  it("is application/octet-stream without one, and for blobs written through the library", async () => {
    const clock = movingClock();
    const { request, store } = await openTestApp({ now: clock.now });
    // A Uint8Array body gets no Content-Type from Request.
    expect((await request("PUT", "/blobs/untyped", { body: encode("bytes") })).status).toBe(201);
    await store.set("from-library", "written with KVStore.set");
    clock.passSecond();
    for (const method of ["GET", "HEAD"]) {
      const untyped = await request(method, "/blobs/untyped");
      expect(untyped.headers.get("content-type")).toBe("application/octet-stream");
      expect(untyped.headers.get("last-modified")).toMatch(IMF_FIXDATE);
      const library = await request(method, "/blobs/from-library");
      expect(library.status).toBe(200);
      expect(library.headers.get("content-type")).toBe("application/octet-stream");
      expect(library.headers.has("last-modified")).toBe(false);
    }
    // The library reads back exactly what it wrote, and the server's metadata stays out of values.
    expect(new TextDecoder().decode(store.get("from-library") ?? new Uint8Array())).toBe(
      "written with KVStore.set",
    );
    expect(store.get("untyped")).toEqual(encode("bytes"));
  });

  it("never runs as a page of this origin: an HTML or SVG blob is sandboxed, and never sniffed", async () => {
    for (const streamFromFileBytes of bothReadPaths) {
      const { request } = await openTestApp({ streamFromFileBytes });
      const page = encode("<script>fetch('/admin/compact', { method: 'POST' })</script>");
      await request("PUT", "/blobs/page.html", { body: page, headers: { "content-type": "text/html" } });
      for (const [method, headers] of [
        ["GET", {}],
        ["HEAD", {}],
        ["GET", { range: "bytes=0-3" }],
      ] as const) {
        const read = await request(method, "/blobs/page.html", { headers });
        expect([streamFromFileBytes, method, read.status < 300]).toEqual([streamFromFileBytes, method, true]);
        expect(read.headers.get("content-security-policy")).toBe("sandbox");
        expect(read.headers.get("x-content-type-options")).toBe("nosniff");
      }
    }
  });

  it("is the whole blob's on a single range, which carries Last-Modified too", async () => {
    for (const streamFromFileBytes of bothReadPaths) {
      const clock = movingClock();
      const { request } = await openTestApp({ streamFromFileBytes, now: clock.now });
      await request("PUT", "/blobs/a/b", {
        body: encode("0123456789abcdef0123"),
        headers: { "content-type": "text/csv" },
      });
      clock.passSecond();
      const range = await request("GET", "/blobs/a/b", { headers: { range: "bytes=2-5" } });
      expect(range.status).toBe(206);
      expect(await range.text()).toBe("2345");
      expect(range.headers.get("content-type")).toBe("text/csv");
      expect(range.headers.get("last-modified")).toMatch(IMF_FIXDATE);
    }
  });

  it("refuses a malformed or overlong Content-Type with 400 JSON, storing nothing", async () => {
    const { request, store } = await openTestApp();
    await request("PUT", "/blobs/kept", {
      body: encode("original"),
      headers: { "content-type": "text/plain" },
    });
    for (const bad of [
      "text",
      "text/plain; charset",
      "text/plain;",
      "a b/c",
      `text/${"x".repeat(300)}`,
      "text/plain, text/html",
    ]) {
      for (const key of ["kept", "new"]) {
        const answer = await request("PUT", `/blobs/${key}`, {
          body: encode("replacement"),
          headers: { "content-type": bad },
        });
        expect([bad, key, answer.status]).toEqual([bad, key, 400]);
        expect(answer.headers.get("content-type")).toContain("application/json");
        expect(((await answer.json()) as { error: string }).error).toContain("Content-Type");
      }
    }
    expect(store.has("new")).toBe(false);
    expect(store.get("kept")).toEqual(encode("original"));
    expect((await request("HEAD", "/blobs/kept")).headers.get("content-type")).toBe("text/plain");
  });
});

describe("Last-Modified", () => {
  it("is the second of the write, as an IMF-fixdate, and reads do not move it", async () => {
    const clock = movingClock();
    const { request } = await openTestApp({ now: clock.now });
    const before = Math.floor(Date.now() / 1000) * 1000;
    await request("PUT", "/blobs/k", { body: encode("v1") });
    const after = Date.now();
    clock.passSecond();
    const header = await lastModifiedOf(await request("HEAD", "/blobs/k"));
    expect(header).toMatch(IMF_FIXDATE);
    const written = Date.parse(header);
    expect(written).toBeGreaterThanOrEqual(before);
    expect(written).toBeLessThanOrEqual(after);
    expect(written % 1000).toBe(0);
    // Reads do not move it.
    expect(await lastModifiedOf(await request("GET", "/blobs/k"))).toBe(header);
  });

  it("moves with each rewrite, to the clock's second", async () => {
    let now = Date.UTC(2026, 10, 25, 16, 0, 0, 999);
    const { request } = await openTestApp({ now: () => now });
    await request("PUT", "/blobs/k", { body: encode("v1") });
    now += 1;
    expect(await lastModifiedOf(await request("GET", "/blobs/k"))).toBe("Wed, 25 Nov 2026 16:00:00 GMT");
    now += 89_999;
    await request("PUT", "/blobs/k", { body: encode("v2") });
    now += 1_000;
    expect(await lastModifiedOf(await request("HEAD", "/blobs/k"))).toBe("Wed, 25 Nov 2026 16:01:30 GMT");
    const since = { "if-modified-since": "Wed, 25 Nov 2026 16:01:29 GMT" };
    expect((await request("GET", "/blobs/k", { headers: since })).status).toBe(200);
  });
});

describe("Last-Modified within the second of the write", () => {
  it("is not sent until that second is over, so a rewrite later in it is never answered 304", async () => {
    const second = Date.UTC(2026, 10, 25, 16, 0, 0);
    let now = second + 200;
    const { request } = await openTestApp({ now: () => now });
    await request("PUT", "/blobs/k", { body: encode("v1") });
    now = second + 300;
    // "16:00:00" would name v1 and the v2 written at 16:00:00.700 alike.
    const early = await request("GET", "/blobs/k");
    expect(early.headers.get("last-modified")).toBeNull();
    now = second + 700;
    await request("PUT", "/blobs/k", { body: encode("v2") });
    now = second + 5_000;
    const since = { "if-modified-since": "Wed, 25 Nov 2026 16:00:00 GMT" };
    const revalidated = await request("GET", "/blobs/k", { headers: since });
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get("last-modified")).toBe("Wed, 25 Nov 2026 16:00:00 GMT");
    const read = await request("GET", "/blobs/k");
    expect(await lastModifiedOf(read)).toBe("Wed, 25 Nov 2026 16:00:00 GMT");
    expect(await read.text()).toBe("v2");
  });

  it("is not sent, nor If-Modified-Since honoured, for a write dated after the clock (it moved back)", async () => {
    const second = Date.UTC(2026, 10, 25, 16, 0, 0);
    let now = second + 60_000;
    const { request } = await openTestApp({ now: () => now });
    await request("PUT", "/blobs/k", { body: encode("v1") });
    now = second;
    const head = await request("HEAD", "/blobs/k");
    expect(head.headers.get("last-modified")).toBeNull();
    const since = { "if-modified-since": "Wed, 25 Nov 2026 16:05:00 GMT" };
    expect((await request("GET", "/blobs/k", { headers: since })).status).toBe(200);
  });
});

describe("If-Modified-Since", () => {
  it("answers 304 with ETag and Last-Modified when not modified since, 200 when modified after", async () => {
    for (const streamFromFileBytes of bothReadPaths) {
      const clock = movingClock();
      const { request } = await openTestApp({ streamFromFileBytes, now: clock.now });
      await request("PUT", "/blobs/dir/k", {
        body: encode("the current version"),
        headers: { "content-type": "text/plain" },
      });
      clock.passSecond();
      const current = await request("HEAD", "/blobs/dir/k");
      const lastModified = await lastModifiedOf(current);
      const written = Date.parse(lastModified);
      const asctime = new Date(written)
        .toUTCString()
        .replace(
          /^(\w+), (\d+) (\w+) (\d+) (\S+) GMT$/,
          (_, w, d, m, y, t) => `${w} ${m} ${String(Number(d)).padStart(2, " ")} ${t} ${y}`,
        );
      for (const method of ["GET", "HEAD"]) {
        for (const since of [lastModified, new Date(written + 3_600_000).toUTCString(), asctime]) {
          const notModified = await request(method, "/blobs/dir/k", {
            headers: { "if-modified-since": since },
          });
          expect([method, since, notModified.status]).toEqual([method, since, 304]);
          expect(notModified.headers.get("etag")).toBe(current.headers.get("etag"));
          expect(notModified.headers.get("last-modified")).toBe(lastModified);
          expect(await notModified.text()).toBe("");
        }
        const earlier = new Date(written - 1000).toUTCString();
        const modified = await request(method, "/blobs/dir/k", { headers: { "if-modified-since": earlier } });
        expect([method, modified.status]).toEqual([method, 200]);
        expect(modified.headers.get("content-type")).toBe("text/plain");
        if (method === "GET") expect(await modified.text()).toBe("the current version");
      }
    }
  });

  it("is ignored beside If-None-Match, for an invalid date, and for a blob without a date", async () => {
    const clock = movingClock();
    const { request, store } = await openTestApp({ now: clock.now });
    await request("PUT", "/blobs/k", { body: encode("value") });
    clock.passSecond();
    const head = await request("HEAD", "/blobs/k");
    const lastModified = await lastModifiedOf(head);
    const etag = head.headers.get("etag") ?? "";
    const later = new Date(Date.parse(lastModified) + 3_600_000).toUTCString();

    // If-None-Match decides alone (RFC 9110, section 13.1.3): a miss is 200 whatever the date.
    const miss = await request("GET", "/blobs/k", {
      headers: { "if-none-match": '"0000000000000000"', "if-modified-since": later },
    });
    expect(miss.status).toBe(200);
    const earlier = new Date(Date.parse(lastModified) - 60_000).toUTCString();
    const hit = await request("GET", "/blobs/k", {
      headers: { "if-none-match": etag, "if-modified-since": earlier },
    });
    expect(hit.status).toBe(304);

    for (const invalid of [
      "yesterday",
      "Wed, 31 Feb 2026 00:00:00 GMT",
      `${later}, ${later}`,
      "1764086400",
    ]) {
      const answer = await request("GET", "/blobs/k", { headers: { "if-modified-since": invalid } });
      expect([invalid, answer.status]).toEqual([invalid, 200]);
    }

    await store.set("undated", "from the library");
    const undated = await request("GET", "/blobs/undated", { headers: { "if-modified-since": later } });
    expect(undated.status).toBe(200);
    expect(await undated.text()).toBe("from the library");
  });
});
