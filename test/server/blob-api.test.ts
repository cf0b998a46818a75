import { describe, expect, it } from "bun:test";
import { closeSync, openSync, readdirSync, readSync, truncateSync, writeSync } from "node:fs";
import { recordingLogger, seededValue } from "../helpers.ts";
import { everyByteValue, openTestApp } from "./app-fixture.ts";

const HELLO = "Hello, World!";
/** The JSON `etag` of HELLO (its CRC-32) and its ETag header (its 64-bit hash), unquoted. */
const HELLO_CRC = "ec4ac3d0";
const HELLO_ETAG = "c49aacf8080fe47f";

async function bodyBytes(response: Response): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer());
}

describe("POST and PUT /blobs/:key", () => {
  it("stores the raw body and answers 201 with key, etag, size and volume_id", async () => {
    const { request, store } = await openTestApp({ volumeId: "vol-7" });
    for (const method of ["POST", "PUT"]) {
      const response = await request(method, "/blobs/user:123", { body: HELLO });
      expect(response.status).toBe(201);
      expect(response.headers.get("content-type")).toContain("application/json");
      expect(response.headers.get("etag")).toBe(`"${HELLO_ETAG}"`);
      expect(await response.json()).toEqual({
        key: "user:123",
        etag: HELLO_CRC,
        size: 13,
        volume_id: "vol-7",
      });
    }
    expect(new TextDecoder().decode(store.get("user:123") ?? new Uint8Array())).toBe(HELLO);
  });

  it("keeps every byte value and ignores the content type", async () => {
    const { request } = await openTestApp();
    const bytes = everyByteValue();
    for (const contentType of [
      "application/octet-stream",
      "application/json",
      "application/x-www-form-urlencoded",
    ]) {
      const put = await request("PUT", "/blobs/binary", {
        body: bytes,
        headers: { "content-type": contentType },
      });
      expect(put.status).toBe(201);
      expect(await bodyBytes(await request("GET", "/blobs/binary"))).toEqual(bytes);
    }
  });

  it("replaces the blob under an existing key", async () => {
    const { request } = await openTestApp();
    await request("PUT", "/blobs/k", { body: "first" });
    await request("PUT", "/blobs/k", { body: "second" });
    expect(await (await request("GET", "/blobs/k")).text()).toBe("second");
  });

  it("stores an empty body as an empty blob", async () => {
    const { request } = await openTestApp();
    const put = await request("PUT", "/blobs/empty", { body: "" });
    expect(await put.json()).toMatchObject({ size: 0, etag: "00000000" });
    const get = await request("GET", "/blobs/empty");
    expect(get.status).toBe(200);
    expect(get.headers.get("content-length")).toBe("0");
    expect(await get.text()).toBe("");
  });

  it("answers 413 with a JSON error and stores nothing when the body is over the limit", async () => {
    const { app, request, store } = await openTestApp({ maxBodyBytes: 1024 });
    const tooBig = new Uint8Array(1025);
    const declared = await request("PUT", "/blobs/big", { body: tooBig });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual({ error: expect.stringContaining("1024 bytes") });

    // Without Content-Length the body is counted while it streams in.
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 5; i++) controller.enqueue(new Uint8Array(300));
        controller.close();
      },
    });
    const streamedRequest = new Request("http://localhost/blobs/big", { method: "POST", body: chunked });
    expect(streamedRequest.headers.get("content-length")).toBeNull();
    const streamed = await app.handle(streamedRequest);
    expect(streamed.status).toBe(413);
    expect(store.has("big")).toBe(false);
    expect((await request("PUT", "/blobs/fits", { body: new Uint8Array(1024) })).status).toBe(201);
  });
});

describe("keys in the path", () => {
  it("are percent-decoded UTF-8 and may contain / and :", async () => {
    const { request, store } = await openTestApp();
    const cases: [string, string][] = [
      ["/blobs/user:123", "user:123"],
      ["/blobs/a%3Ab", "a:b"],
      ["/blobs/dir%2Fsub%2Ffile", "dir/sub/file"],
      ["/blobs/plain/slashes/too", "plain/slashes/too"],
      ["/blobs/%E2%82%AC%20%D0%BA%D0%BB%D1%8E%D1%87", "€ ключ"],
      ["/blobs/100%25", "100%"],
    ];
    for (const [path, key] of cases) {
      expect((await request("PUT", path, { body: key })).status).toBe(201);
      expect(store.has(key)).toBe(true);
      expect(await (await request("GET", path)).text()).toBe(key);
    }
    expect(await (await request("GET", "/blobs/dir/sub/file")).text()).toBe("dir/sub/file");
  });

  it("are refused with 400 when empty, undecodable or over the key limit", async () => {
    const { request } = await openTestApp();
    const refusals: [string, string, string][] = [
      ["PUT", "/blobs/", "key must not be empty"],
      ["POST", "/blobs", "key must not be empty"],
      ["DELETE", "/blobs/", "key must not be empty"],
      ["PUT", "/blobs/%FF", "key is not valid percent-encoded UTF-8"],
      ["GET", "/blobs/bad%E2%82", "key is not valid percent-encoded UTF-8"],
      ["GET", "/blobs/nested/%FF", "key is not valid percent-encoded UTF-8"],
      ["DELETE", "/blobs/%ED%A0%80", "key is not valid percent-encoded UTF-8"],
      ["PUT", `/blobs/${"k".repeat(4097)}`, "4097 bytes"],
    ];
    for (const [method, path, message] of refusals) {
      const response = await request(method, path, {
        body: method === "PUT" || method === "POST" ? "x" : null,
      });
      expect({ path, status: response.status }).toEqual({ path, status: 400 });
      expect(await response.json()).toEqual({ error: expect.stringContaining(message) });
    }
  });
});

describe("GET /blobs/:key", () => {
  it("answers the bytes with Content-Type, Content-Length, ETag and Accept-Ranges", async () => {
    const { request } = await openTestApp();
    await request("PUT", "/blobs/greeting", { body: HELLO });
    const response = await request("GET", "/blobs/greeting");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/octet-stream");
    expect(response.headers.get("content-length")).toBe("13");
    expect(response.headers.get("etag")).toBe(`"${HELLO_ETAG}"`);
    expect(response.headers.get("accept-ranges")).toBe("bytes");
    expect(await response.text()).toBe(HELLO);
  });

  it('answers 404 {"error":"Blob not found"} for a missing key', async () => {
    const { request } = await openTestApp();
    const response = await request("GET", "/blobs/missing");
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "Blob not found" });
  });

  it("answers 304 without a body when If-None-Match matches the ETag", async () => {
    const { request } = await openTestApp();
    await request("PUT", "/blobs/greeting", { body: HELLO });
    for (const header of [
      `"${HELLO_ETAG}"`,
      `W/"${HELLO_ETAG}"`,
      `"00000000", "${HELLO_ETAG}"`,
      "*",
      HELLO_ETAG,
    ]) {
      const response = await request("GET", "/blobs/greeting", { headers: { "if-none-match": header } });
      expect({ header, status: response.status }).toEqual({ header, status: 304 });
      expect(response.headers.get("etag")).toBe(`"${HELLO_ETAG}"`);
      expect(await response.text()).toBe("");
    }
    const stale = await request("GET", "/blobs/greeting", { headers: { "if-none-match": '"00000000"' } });
    expect(stale.status).toBe(200);
    expect(await stale.text()).toBe(HELLO);
  });

  it("answers a single Range with 206 and Content-Range", async () => {
    const { request } = await openTestApp();
    await request("PUT", "/blobs/greeting", { body: HELLO });
    const ranges: [string, string, string][] = [
      ["bytes=0-4", "bytes 0-4/13", "Hello"],
      ["bytes=7-", "bytes 7-12/13", "World!"],
      ["bytes=-6", "bytes 7-12/13", "World!"],
      ["bytes=7-1000", "bytes 7-12/13", "World!"],
      ["bytes=-100", "bytes 0-12/13", HELLO],
      ["bytes=12-12", "bytes 12-12/13", "!"],
    ];
    for (const [range, contentRange, body] of ranges) {
      const response = await request("GET", "/blobs/greeting", { headers: { range } });
      expect({ range, status: response.status }).toEqual({ range, status: 206 });
      expect(response.headers.get("content-range")).toBe(contentRange);
      expect(response.headers.get("content-length")).toBe(String(body.length));
      expect(await response.text()).toBe(body);
    }
  });

  it("answers 416 with the size in Content-Range when the range starts past the end", async () => {
    const { request } = await openTestApp();
    await request("PUT", "/blobs/greeting", { body: HELLO });
    for (const range of ["bytes=13-", "bytes=100-200", "bytes=-0"]) {
      const response = await request("GET", "/blobs/greeting", { headers: { range } });
      expect({ range, status: response.status }).toEqual({ range, status: 416 });
      expect(response.headers.get("content-range")).toBe("bytes */13");
      expect(await response.json()).toEqual({ error: expect.stringContaining("not satisfiable") });
    }
  });

  it("answers the whole blob for a malformed or multi-part Range", async () => {
    const { request } = await openTestApp();
    await request("PUT", "/blobs/greeting", { body: HELLO });
    for (const range of ["bytes=0-1,3-4", "bytes=5-2", "items=0-1", "bytes=abc"]) {
      const response = await request("GET", "/blobs/greeting", { headers: { range } });
      expect({ range, status: response.status }).toEqual({ range, status: 200 });
      expect(await response.text()).toBe(HELLO);
    }
  });

  it("streams large blobs from the segment file, ranges included, with the PUT's etag", async () => {
    const { request } = await openTestApp({ streamFromFileBytes: 1024 });
    const large = everyByteValue(64);
    const putEtag = (await request("PUT", "/blobs/large", { body: large })).headers.get("etag");
    const whole = await request("GET", "/blobs/large");
    expect(whole.headers.get("etag")).toBe(putEtag);
    expect(whole.headers.get("content-length")).toBe(String(large.length));
    expect(await bodyBytes(whole)).toEqual(large);
    const part = await request("GET", "/blobs/large", { headers: { range: "bytes=1000-9999" } });
    expect(part.status).toBe(206);
    expect(await bodyBytes(part)).toEqual(large.subarray(1000, 10_000));

    const replaced = large.map((byte) => 255 - byte);
    const secondEtag = (await request("PUT", "/blobs/large", { body: replaced })).headers.get("etag");
    expect(secondEtag).not.toBe(putEtag);
    const reread = await request("GET", "/blobs/large");
    expect(reread.headers.get("etag")).toBe(secondEtag);
    expect(await bodyBytes(reread)).toEqual(replaced);
  });
});

describe("HEAD /blobs/:key", () => {
  it("answers the GET headers without the bytes", async () => {
    const { request } = await openTestApp();
    await request("PUT", "/blobs/greeting", { body: HELLO });
    const response = await request("HEAD", "/blobs/greeting");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-length")).toBe("13");
    expect(response.headers.get("etag")).toBe(`"${HELLO_ETAG}"`);
    expect(await response.text()).toBe("");
    const conditional = await request("HEAD", "/blobs/greeting", {
      headers: { "if-none-match": `"${HELLO_ETAG}"` },
    });
    expect(conditional.status).toBe(304);
  });

  it("answers 404 for a missing key", async () => {
    const { request } = await openTestApp();
    expect((await request("HEAD", "/blobs/missing")).status).toBe(404);
  });
});

describe("DELETE /blobs/:key", () => {
  it("answers 204, after which the blob is gone", async () => {
    const { request, store } = await openTestApp();
    await request("PUT", "/blobs/a/b", { body: "x" });
    const response = await request("DELETE", "/blobs/a/b");
    expect(response.status).toBe(204);
    expect(await response.text()).toBe("");
    expect(store.has("a/b")).toBe(false);
    expect((await request("GET", "/blobs/a%2Fb")).status).toBe(404);
  });

  it('answers 404 {"error":"Blob not found"} for a missing key', async () => {
    const { request } = await openTestApp();
    const response = await request("DELETE", "/blobs/missing");
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "Blob not found" });
  });
});

describe("GET /blobs", () => {
  async function appWithKeys(keys: string[]) {
    const fixture = await openTestApp();
    for (const key of keys) await fixture.request("PUT", `/blobs/${encodeURIComponent(key)}`, { body: key });
    return fixture;
  }

  it("answers every key, sorted", async () => {
    const { request } = await appWithKeys(["user:2", "config", "user:10", "a/b"]);
    const response = await request("GET", "/blobs");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(["a/b", "config", "user:10", "user:2"]);
  });

  it("lists in unsigned byte order of the keys' UTF-8, not UTF-16 order", async () => {
    const { request } = await appWithKeys(["ord😀", "ord！", "ordé", "ord~", "other"]);
    const response = await request("GET", `/blobs?prefix=${encodeURIComponent("ord")}`);
    expect(response.status).toBe(200);
    // ！ (U+FF01) is EF BC 81 in UTF-8, 😀 (U+1F600) F0 9F 98 80.
    expect(await response.json()).toEqual(["ord~", "ordé", "ord！", "ord😀"]);
    const after = await request("GET", `/blobs?prefix=ord&after=${encodeURIComponent("ord！")}`);
    expect(await after.json()).toEqual(["ord😀"]);
  });

  it("answers [] for an empty store", async () => {
    const { request } = await openTestApp();
    expect(await (await request("GET", "/blobs")).json()).toEqual([]);
  });

  it("filters by prefix and pages with after and limit", async () => {
    const keys = Array.from({ length: 25 }, (_, i) => `item:${String(i).padStart(2, "0")}`);
    const { request } = await appWithKeys([...keys, "other"]);
    expect(await (await request("GET", "/blobs?prefix=item%3A1")).json()).toEqual(keys.slice(10, 20));
    const seen: string[] = [];
    let after = "";
    for (;;) {
      const query = `prefix=item:&limit=10${after === "" ? "" : `&after=${encodeURIComponent(after)}`}`;
      const page = (await (await request("GET", `/blobs?${query}`)).json()) as string[];
      if (page.length === 0) break;
      expect(page.length).toBeLessThanOrEqual(10);
      seen.push(...page);
      after = page[page.length - 1] ?? "";
    }
    expect(seen).toEqual(keys);
  });

  it("answers 400 for a limit that is not a whole number from 1 to 10000", async () => {
    const { request } = await openTestApp();
    for (const limit of ["0", "-1", "abc", "1.5", "10001"]) {
      const response = await request("GET", `/blobs?limit=${limit}`);
      expect({ limit, status: response.status }).toEqual({ limit, status: 400 });
      expect(await response.json()).toEqual({ error: "limit must be a whole number from 1 to 10000" });
    }
    expect((await request("GET", "/blobs?limit=10000")).status).toBe(200);
  });

  it("answers 1000 keys by default, naming the last one in X-Next-After while more follow", async () => {
    const { request, store } = await openTestApp();
    const keys = Array.from({ length: 2500 }, (_, i) => `k/${String(i).padStart(4, "0")} é`);
    await Promise.all(keys.map((key) => store.set(key, new Uint8Array(0))));
    const seen: string[] = [];
    const pageLengths: number[] = [];
    let query = "";
    for (;;) {
      const response = await request("GET", `/blobs${query}`);
      const page = (await response.json()) as string[];
      seen.push(...page);
      pageLengths.push(page.length);
      const next = response.headers.get("x-next-after");
      if (next === null) break;
      expect(page.length).toBe(1000);
      expect(next).toBe(encodeURIComponent(page[page.length - 1] ?? ""));
      query = `?after=${next}`;
    }
    expect(pageLengths).toEqual([1000, 1000, 500]);
    expect(seen).toEqual(keys);
  });

  it("sends no X-Next-After on a page that ends the listing exactly", async () => {
    const { request } = await appWithKeys(["a", "b", "c", "d"]);
    const first = await request("GET", "/blobs?limit=2");
    expect(first.headers.get("x-next-after")).toBe("b");
    const last = await request("GET", "/blobs?limit=2&after=b");
    expect(await last.json()).toEqual(["c", "d"]);
    expect(last.headers.get("x-next-after")).toBeNull();
  });
});

describe("other errors", () => {
  it("answers 404 with a JSON error for an unknown route", async () => {
    const { request } = await openTestApp();
    const response = await request("GET", "/nowhere");
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "Not found" });
  });

  it("answers 500 with the cause, and logs it, when a stored record is damaged", async () => {
    const logger = recordingLogger();
    const { request, store, dir } = await openTestApp({ logger });
    await request("PUT", "/blobs/fragile", { body: HELLO });
    const location = store.openValue("fragile");
    if (location === null) throw new Error("the blob was not stored");
    location.close();
    const fd = openSync(location.path, "r+");
    writeSync(fd, new Uint8Array([0x00]), 0, 1, location.offset);
    closeSync(fd);

    const response = await request("GET", "/blobs/fragile");
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(JSON.parse(body)).toEqual({ error: expect.stringContaining("corrupt record") });
    expect(body).not.toContain(dir); // the file is named in the log, not to the client
    expect(logger.lines).toContainEqual(
      expect.stringMatching(/^error: GET \S+\/blobs\/fragile failed: CorruptionError/),
    );
  });

  it("answers 500 naming no server path when the segment file was cut short under the store", async () => {
    const { request, store, dir } = await openTestApp();
    await request("PUT", "/blobs/first", { body: HELLO });
    await request("PUT", "/blobs/cut", { body: HELLO });
    const location = store.openValue("cut");
    if (location === null) throw new Error("the blob was not stored");
    location.close();
    truncateSync(location.path, location.recordOffset);

    const response = await request("GET", "/blobs/cut");
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(JSON.parse(body)).toEqual({ error: expect.stringContaining("corrupt record") });
    expect(body).not.toContain(dir);
  });

  it("never sends a large blob that fails its CRC: 500 for GET, Range and HEAD, cached etag or not", async () => {
    // 3 MiB and a bit: served from the segment file (1 MiB and more) and read in several chunks.
    const value = seededValue(3, 3 * 1024 * 1024 + 5);
    const key = "big";
    const header = 11;
    const places = {
      "op byte": -key.length - header + 2,
      "a key byte": -1,
      "the first value byte": 0,
      "a value byte past the first megabyte": 2 * 1024 * 1024 + 3,
      "the last value byte": value.length - 1,
      "a CRC byte": value.length + 2,
    };
    for (const cached of [false, true]) {
      for (const [where, at] of Object.entries(places)) {
        const scenario = `${where}, etag ${cached ? "cached" : "not cached"}`;
        const logger = recordingLogger();
        const { request, store, dir } = await openTestApp({ logger });
        await request("PUT", `/blobs/${key}`, { body: value });
        if (cached) expect((await request("GET", `/blobs/${key}`)).status).toBe(200);
        const location = store.openValue(key);
        if (location === null) throw new Error("the blob was not stored");
        location.close();
        const fd = openSync(location.path, "r+");
        const byte = new Uint8Array(1);
        readSync(fd, byte, 0, 1, location.offset + at);
        byte[0] = (byte[0] as number) ^ 0x5a;
        writeSync(fd, byte, 0, 1, location.offset + at);
        closeSync(fd);

        if (!cached) {
          // Without a cached etag, HEAD reads the blob to compute one, and so checks it.
          const head = await request("HEAD", `/blobs/${key}`);
          expect({ scenario, head: head.status }).toEqual({ scenario, head: 500 });
        }
        const ranges: Record<string, string>[] = [
          {},
          { range: "bytes=0-99" },
          { range: "bytes=2097152-2097251" },
        ];
        for (const headers of ranges) {
          const response = await request("GET", `/blobs/${key}`, { headers });
          const body = await response.text();
          expect({ scenario, headers, status: response.status }).toEqual({ scenario, headers, status: 500 });
          expect(JSON.parse(body)).toEqual({ error: expect.stringContaining("corrupt record") });
          expect(body).not.toContain(dir);
        }
        // The failed GET dropped any cached etag: HEAD reads the blob again, and fails too.
        const head = await request("HEAD", `/blobs/${key}`);
        expect({ scenario, head: head.status }).toEqual({ scenario, head: 500 });
        const logged = logger.lines.filter((line) => line.startsWith("error: "));
        expect(logged.length).toBe(cached ? 4 : 5);
        for (const line of logged) expect(line).toContain(location.path);
      }
    }
  });

  it("answers 503 once the store is closed, as during shutdown", async () => {
    const { request, store } = await openTestApp();
    await store.close();
    for (const [method, path] of [
      ["GET", "/health"],
      ["GET", "/blobs/k"],
      ["PUT", "/blobs/k"],
    ] as const) {
      const response = await request(method, path, { body: method === "PUT" ? "x" : null });
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ error: "the server is shutting down" });
    }
  });
});

describe("large blobs and compaction", () => {
  const openFds = () => readdirSync("/proc/self/fd").length;

  it("a response started before a compaction sends the whole blob after the compaction deleted its file", async () => {
    const { request, dir } = await openTestApp({
      streamFromFileBytes: 1024,
      store: { maxSegmentBytes: 64 * 1024 },
    });
    const value = seededValue(11, 300_000);
    await request("PUT", "/blobs/big", { body: value });
    // The first compaction starts the store's compaction Worker, which holds file descriptors
    // of its own until the store closes: counted before the GET, like the store's files.
    expect((await request("POST", "/admin/compact")).status).toBe(200);
    for (let i = 0; i < 50; i++)
      await request("PUT", `/blobs/small-${i % 5}`, { body: seededValue(i, 2000) });
    const segmentsBefore = readdirSync(dir).filter((name) => name.endsWith(".dat"));
    const fdsBefore = openFds();
    const response = await request("GET", "/blobs/big");
    expect(response.status).toBe(200);
    expect((await request("POST", "/admin/compact")).status).toBe(200);
    const segmentsAfter = readdirSync(dir).filter((name) => name.endsWith(".dat"));
    for (const name of segmentsBefore) expect(segmentsAfter).not.toContain(name);
    expect(Buffer.from(await response.arrayBuffer()).equals(Buffer.from(value))).toBe(true);
    // The stream closed the segment file it held once the body was sent.
    expect(openFds()).toBe(fdsBefore);
  });

  it("a cancelled response, a 416 and a HEAD leave no file open", async () => {
    const { request } = await openTestApp({ streamFromFileBytes: 1024 });
    await request("PUT", "/blobs/big", { body: seededValue(12, 2 * 1024 * 1024) });
    const fdsBefore = openFds();
    const response = await request("GET", "/blobs/big");
    await response.body?.cancel();
    expect((await request("GET", "/blobs/big", { headers: { range: "bytes=99999999-" } })).status).toBe(416);
    expect((await request("HEAD", "/blobs/big")).status).toBe(200);
    const ranged = await request("GET", "/blobs/big", { headers: { range: "bytes=0-9" } });
    expect((await ranged.arrayBuffer()).byteLength).toBe(10);
    expect(openFds()).toBe(fdsBefore);
  });
});
