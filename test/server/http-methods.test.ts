import { describe, expect, it } from "bun:test";
import { openTestApp } from "./app-fixture.ts";
import { openRawConnection } from "./raw-connection.ts";
import { exchange, rawRequest } from "./raw-http.ts";
import { startTestServer } from "./served-app.ts";

/** The counter of blob bytes sent; the exposition leaves it out while it is 0. */
async function bytesSent(origin: string): Promise<string> {
  const text = await (await fetch(`${origin}/metrics`, { headers: { accept: "text/plain" } })).text();
  return /^kvstore_blob_sent_bytes_total (\S+)$/m.exec(text)?.[1] ?? "0";
}

describe("HEAD /blobs/:key", () => {
  it("sends no bytes and ignores Range, for keys with and without a /", async () => {
    const { origin } = await startTestServer();
    for (const path of ["/blobs/plain", "/blobs/with/slash", "/blobs/encoded%2Fslash"]) {
      await fetch(`${origin}${path}`, { method: "PUT", body: "Hello, World!" });
      const response = await fetch(`${origin}${path}`, { method: "HEAD", headers: { range: "bytes=0-4" } });
      expect({ path, status: response.status }).toEqual({ path, status: 200 });
      expect(response.headers.get("content-length")).toBe("13");
      expect(response.headers.get("content-range")).toBeNull();
    }
    expect(await bytesSent(origin)).toBe("0");
  });
});

describe("methods a route does not have", () => {
  it("answer 405 with Allow and a JSON error on a known route", async () => {
    const { request } = await openTestApp();
    const cases: [string, string, string][] = [
      ["PATCH", "/blobs/k", "DELETE, GET, HEAD, POST, PUT"],
      ["OPTIONS", "/blobs/a/b", "DELETE, GET, HEAD, POST, PUT"],
      ["DELETE", "/health", "GET, HEAD"],
      ["GET", "/admin/compact", "POST"],
      ["PUT", "/metrics", "GET, HEAD"],
    ];
    for (const [method, path, allow] of cases) {
      const response = await request(method, path);
      expect({ method, path, status: response.status }).toEqual({ method, path, status: 405 });
      expect(response.headers.get("allow")).toBe(allow);
      expect(await response.json()).toEqual({ error: expect.stringContaining(`allowed: ${allow}`) });
    }
    expect((await request("PATCH", "/nowhere")).status).toBe(404);
  });

  it("answer 501 for a method the server implements nowhere, when Bun lets it through", async () => {
    const { origin } = await startTestServer();
    for (const method of ["PROPFIND", "QUERY", "M-SEARCH"]) {
      for (const path of ["/blobs/k", "/nowhere"]) {
        const response = await exchange(origin, rawRequest(method, path));
        expect({ method, path, status: response.status }).toEqual({ method, path, status: 501 });
        expect(JSON.parse(response.body)).toEqual({
          error: `method ${method} is not implemented by this server`,
        });
      }
    }
  });

  it("Bun 1.4.5 closes the connection without a response for a method it does not know or in lower case", async () => {
    const { origin } = await startTestServer();
    for (const method of ["BREW", "get"]) {
      const connection = await openRawConnection(origin);
      connection.write(rawRequest(method, "/blobs/k"));
      await expect(connection.waitFor(/HTTP/)).rejects.toThrow(/connection closed before/);
    }
  });
});
