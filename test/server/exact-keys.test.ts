// Bun rewrites the request target before the app sees it; a key is stored as the client sent it
// or refused. Raw sockets send what fetch() would normalise first.
import { describe, expect, it } from "bun:test";
import { loopbackPolicy } from "../../src/server/security/guard.ts";
import { openTestApp } from "./app-fixture.ts";
import { openRawConnection } from "./raw-connection.ts";
import { exchange, rawRequest, readResponses } from "./raw-http.ts";
import { startTestServer } from "./served-app.ts";

describe("exact keys", () => {
  it("refuses with 400, and stores nothing, a target that Bun would rewrite into another key", async () => {
    const { origin } = await startTestServer();
    const targets: (string | Uint8Array)[] = [
      "/blobs/x/.",
      "/blobs/x/y/..",
      "/blobs/a/.//b",
      "/blobs/a\\b",
      "/blobs/k/../j",
      "/blobs/k/%2e%2E/j",
      "/blobs/%2E%2E",
      Buffer.concat([Buffer.from("/blobs/raw"), Buffer.from([0xff])]),
      Buffer.concat([Buffer.from("/blobs/dir/raw"), Buffer.from([0xc3, 0x28])]),
    ];
    for (const target of targets) {
      const response = await exchange(origin, rawRequest("PUT", target, { body: "v" }));
      const shown = Buffer.from(target).toString("latin1");
      expect({ shown, status: response.status }).toEqual({ shown, status: 400 });
      expect(JSON.parse(response.body)).toEqual({ error: expect.stringContaining("percent-encode") });
    }
    const keys = await (await fetch(`${origin}/blobs`)).json();
    expect(keys).toEqual([]);
  });

  it("still stores keys whose dots, slashes and backslashes are percent-encoded", async () => {
    const { origin } = await startTestServer();
    const keys = ["x/.", "a/../b", "a\\b", "x/", "/lead", "a//b", "\uFFFE€ ключ", "100%", "plain/slash"];
    for (const key of keys) {
      const target = key === "plain/slash" ? "/blobs/plain/slash" : `/blobs/${encodeURIComponent(key)}`;
      const response = await exchange(origin, rawRequest("PUT", target, { body: "v" }));
      expect({ key, status: response.status }).toEqual({ key, status: 201 });
    }
    const listed = await (await fetch(`${origin}/blobs`)).json();
    expect(listed).toEqual([...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  });

  it("stores a raw UTF-8 key as the key it spells", async () => {
    const { origin } = await startTestServer();
    const response = await exchange(origin, rawRequest("PUT", Buffer.from("/blobs/€/ключ"), { body: "v" }));
    expect(response.status).toBe(201);
    expect(await (await fetch(`${origin}/blobs`)).json()).toEqual(["€/ключ"]);
  });

  it("routes by the real path whatever the length of the Host header", async () => {
    // Short names a DNS rebinding check would refuse: allowed here, to reach the routing.
    const security = { ...loopbackPolicy, allowedHosts: ["x", "ab", "abc", "h"] };
    const { origin } = await startTestServer({ security });
    for (const host of ["x", "ab", "abc", "[::1]", "h:1"]) {
      const put = await exchange(origin, rawRequest("PUT", "/blobs/admin/snapshot", { host, body: host }));
      expect({ host, status: put.status }).toEqual({ host, status: 201 });
      expect(JSON.parse(put.body)).toMatchObject({ key: "admin/snapshot" });
      const get = await exchange(origin, rawRequest("GET", "/blobs/dir/k%2Fv", { host }));
      expect({ host, status: get.status }).toEqual({ host, status: 404 });
      expect(JSON.parse(get.body)).toEqual({ error: "Blob not found" });
    }
  });

  it("refuses a target that Bun would rewrite into another key whatever the length of the Host header", async () => {
    const security = { ...loopbackPolicy, allowedHosts: ["x", "ab"] };
    const { origin, store } = await startTestServer({ security });
    await store.set("j", "kept");
    for (const host of ["x", "ab"]) {
      for (const method of ["PUT", "GET", "DELETE"]) {
        for (const target of ["/blobs/k/../j", "/blobs/k\\..\\j", "/blobs/k/%2e%2E/j"]) {
          const request = rawRequest(method, target, { host, body: method === "PUT" ? "other" : "" });
          const response = await exchange(origin, request);
          const seen = { host, method, target, status: response.status };
          expect(seen).toEqual({ ...seen, status: 400 });
          expect(JSON.parse(response.body).error).toContain("percent-encode");
        }
      }
    }
    expect(new TextDecoder().decode(store.get("j") ?? undefined)).toBe("kept");
  });

  it("refuses a key over the limit before reading the body", async () => {
    const { origin } = await startTestServer();
    const connection = await openRawConnection(origin);
    try {
      // The body is announced and never sent: only a refusal from the headers can answer.
      connection.write(
        `PUT /blobs/${"k".repeat(4097)} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000\r\n\r\n`,
      );
      const [response] = await readResponses(connection, 1);
      expect(response?.status).toBe(400);
      expect(response?.body).toContain("4097 bytes");
    } finally {
      connection.close();
    }
  });

  it("refuses U+FFFD and empty segments through app.handle too", async () => {
    const { request } = await openTestApp();
    for (const path of ["/blobs/%EF%BF%BD", "/blobs/a/", "/blobs//a", "/blobs/a//b"]) {
      const response = await request("PUT", path, { body: "v" });
      expect({ path, status: response.status }).toEqual({ path, status: 400 });
      expect(await response.json()).toEqual({ error: expect.stringContaining("percent-encode") });
    }
  });
});
