// Tokens, roles, Host and Origin checks and CORS, through app.handle() with a real store.
import { describe, expect, it } from "bun:test";
import { ConfigError } from "../../src/server/config.ts";
import { loopbackPolicy, type SecurityPolicy } from "../../src/server/security/guard.ts";
import { AccessTokens, parseTokensFile } from "../../src/server/security/tokens.ts";
import { openTestApp } from "./app-fixture.ts";

const TOKENS = new AccessTokens([
  { role: "read", token: "reader-token" },
  { role: "write", token: "writer-token" },
  { role: "admin", token: "admin-token" },
]);

function openSecuredApp(policy: Partial<SecurityPolicy> = {}) {
  return openTestApp({ security: { ...loopbackPolicy, tokens: TOKENS, ...policy } });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("the tokens file", () => {
  it("reads roles and tokens, skipping comments and blank lines", () => {
    const text = "# who may do what\n\nread   r-1\n  write w-1  \r\nadmin a-1\n";
    expect(parseTokensFile(text, "tokens")).toEqual([
      { role: "read", token: "r-1" },
      { role: "write", token: "w-1" },
      { role: "admin", token: "a-1" },
    ]);
  });

  it("refuses a bad line, naming the file and line but not the token", () => {
    for (const line of ["owner secret-1", "read", "read secret-1 extra"]) {
      const parse = () => parseTokensFile(`read ok\n${line}\n`, "/etc/tokens");
      expect(parse).toThrow(ConfigError);
      expect(parse).toThrow(
        '/etc/tokens line 2: expected "<role> <token>" with a role of read, write, admin',
      );
    }
  });

  it("gives the strongest role a token holds, and none to a prefix or an extension of a token", () => {
    const tokens = new AccessTokens([
      { role: "admin", token: "same" },
      { role: "read", token: "same" },
    ]);
    expect(tokens.roleOf("same")).toBe("admin");
    expect(TOKENS.roleOf("writer-token")).toBe("write");
    expect(TOKENS.roleOf("writer-toke")).toBeUndefined();
    expect(TOKENS.roleOf("writer-tokenX")).toBeUndefined();
  });
});

describe("access with tokens configured", () => {
  it("answers 401 with WWW-Authenticate, as JSON, without a valid token, and stores nothing", async () => {
    const { request, store } = await openSecuredApp();
    for (const headers of [{}, bearer("wrong"), { authorization: "Basic d3JpdGVyLXRva2Vu" }]) {
      const response = await request("PUT", "/blobs/k", { headers, body: "v" });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toStartWith("Bearer");
      expect(await response.json()).toEqual({ error: expect.any(String) });
    }
    expect(store.has("k")).toBe(false);
    const wrong = await request("GET", "/blobs/k", { headers: bearer("wrong") });
    expect(wrong.headers.get("www-authenticate")).toContain('error="invalid_token"');
  });

  it("counts refused requests in /metrics", async () => {
    const { request } = await openSecuredApp();
    await request("PUT", "/blobs/k", { body: "v" });
    const metrics = await request("GET", "/metrics", {
      headers: { ...bearer("reader-token"), accept: "text/plain" },
    });
    expect(await metrics.text()).toContain(
      'kvstore_http_requests_total{method="PUT",route="refused",status="401"} 1',
    );
  });

  it("lets read GET, HEAD and list blobs and read /metrics, and refuses it writes with 403", async () => {
    const { request, store } = await openSecuredApp();
    await store.set("k", "v");
    expect((await request("GET", "/blobs/k", { headers: bearer("reader-token") })).status).toBe(200);
    expect((await request("HEAD", "/blobs/k", { headers: bearer("reader-token") })).status).toBe(200);
    expect((await request("GET", "/blobs?prefix=k", { headers: bearer("reader-token") })).status).toBe(200);
    expect((await request("GET", "/metrics", { headers: bearer("reader-token") })).status).toBe(200);
    for (const method of ["PUT", "POST", "DELETE"]) {
      const refused = await request(method, "/blobs/k", { headers: bearer("reader-token"), body: "x" });
      expect(refused.status).toBe(403);
      expect(await refused.json()).toEqual({ error: expect.stringContaining("write role") });
    }
    expect(store.get("k")).toEqual(new TextEncoder().encode("v"));
  });

  it("lets write change blobs but not run /admin routes, which need admin", async () => {
    const { request, store } = await openSecuredApp();
    expect((await request("PUT", "/blobs/k", { headers: bearer("writer-token"), body: "v" })).status).toBe(
      201,
    );
    expect((await request("DELETE", "/blobs/k", { headers: bearer("writer-token") })).status).toBe(204);
    expect(store.has("k")).toBe(false);
    expect((await request("POST", "/admin/snapshot", { headers: bearer("writer-token") })).status).toBe(403);
    expect((await request("POST", "/admin/snapshot", { headers: bearer("admin-token") })).status).toBe(200);
    expect((await request("PUT", "/blobs/k", { headers: bearer("admin-token"), body: "v" })).status).toBe(
      201,
    );
  });

  it("keeps /health and the API documentation open, and /metrics open only when made public", async () => {
    const { request } = await openSecuredApp();
    expect((await request("GET", "/health")).status).toBe(200);
    expect((await request("GET", "/swagger")).status).toBe(200);
    expect((await request("GET", "/swagger/json")).status).toBe(200);
    expect((await request("GET", "/metrics")).status).toBe(401);
    const open = await openSecuredApp({ metricsPublic: true });
    expect((await open.request("GET", "/metrics")).status).toBe(200);
  });

  it("asks admin for a path Elysia would route as /admin when the Host is short", async () => {
    const { app } = await openSecuredApp({ allowedHosts: ["x"] });
    const response = await app.handle(
      new Request("http://x/blobs/admin/snapshot", { method: "POST", headers: bearer("writer-token") }),
    );
    expect(response.status).toBe(403);
  });

  it("is open to everyone when no token is configured", async () => {
    const { request } = await openTestApp();
    expect((await request("PUT", "/blobs/k", { body: "v" })).status).toBe(201);
    expect((await request("POST", "/admin/snapshot")).status).toBe(200);
    expect((await request("GET", "/metrics")).status).toBe(200);
  });
});

describe("the Host check", () => {
  const withHost = (host: string) => new Request("http://localhost/blobs/k", { headers: { host } });

  it("refuses a Host that is not this server's with 421, as JSON", async () => {
    const { app } = await openTestApp();
    const response = await app.handle(withHost("attacker.example:8000"));
    expect(response.status).toBe(421);
    expect(await response.json()).toEqual({ error: expect.stringContaining("ALLOWED_HOSTS") });
  });

  it("accepts loopback names, IP literals, the bound name and ALLOWED_HOSTS", async () => {
    const { app } = await openTestApp({
      security: { ...loopbackPolicy, boundHost: "kv.lan", allowedHosts: ["kv.example"] },
    });
    for (const host of [
      "localhost:8000",
      "127.0.0.1",
      "[::1]:8000",
      "192.168.1.5:8000",
      "kv.lan",
      "KV.example:1",
    ]) {
      expect({ host, status: (await app.handle(withHost(host))).status }).toEqual({ host, status: 404 });
    }
    expect((await app.handle(withHost("other.example"))).status).toBe(421);
  });

  it("on a wildcard address accepts any Host only when tokens are configured and ALLOWED_HOSTS is empty", async () => {
    const wildcard = { ...loopbackPolicy, boundHost: "0.0.0.0" };
    const withTokens = await openTestApp({ security: { ...wildcard, tokens: TOKENS } });
    expect((await withTokens.app.handle(withHost("kv.example"))).status).toBe(401);
    const withoutTokens = await openTestApp({ security: wildcard });
    expect((await withoutTokens.app.handle(withHost("kv.example"))).status).toBe(421);
    const listed = await openTestApp({
      security: { ...wildcard, tokens: TOKENS, allowedHosts: ["kv.example"] },
    });
    expect((await listed.app.handle(withHost("other.example"))).status).toBe(421);
  });
});

describe("the Origin check", () => {
  it("refuses a cross-origin simple POST with 403 before anything is stored", async () => {
    const { request, store } = await openTestApp();
    const response = await request("POST", "/blobs/k", {
      headers: { origin: "https://attacker.example", "content-type": "text/plain" },
      body: "planted",
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ error: expect.stringContaining("CORS_ORIGINS") });
    expect(store.has("k")).toBe(false);
    const admin = await request("POST", "/admin/compact", { headers: { origin: "null" } });
    expect(admin.status).toBe(403);
  });

  it("lets the server's own pages through (Swagger UI sends its Origin)", async () => {
    const { request } = await openTestApp();
    const response = await request("POST", "/blobs/k", {
      headers: { origin: "http://localhost" },
      body: "v",
    });
    expect(response.status).toBe(201);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("CORS", () => {
  const app = "https://app.example";

  it("answers a preflight from a listed origin with 204 and what it may send", async () => {
    const { request } = await openSecuredApp({ cors: { origins: [app] } });
    const response = await request("OPTIONS", "/blobs/k", {
      headers: {
        origin: app,
        "access-control-request-method": "PUT",
        "access-control-request-headers": "authorization",
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(app);
    expect(response.headers.get("access-control-allow-methods")).toBe("GET, HEAD, PUT, POST, DELETE");
    expect(response.headers.get("access-control-allow-headers")).toContain("Authorization");
    expect(Number(response.headers.get("access-control-max-age"))).toBeGreaterThan(0);
    expect(response.headers.get("vary")).toBe("Origin");
  });

  it("gives a listed origin's responses, errors included, the CORS headers", async () => {
    const { request } = await openSecuredApp({ cors: { origins: [app] } });
    const put = await request("PUT", "/blobs/k", {
      headers: { origin: app, ...bearer("writer-token") },
      body: "v",
    });
    expect(put.status).toBe(201);
    const get = await request("GET", "/blobs/k", { headers: { origin: app, ...bearer("reader-token") } });
    expect(get.headers.get("access-control-allow-origin")).toBe(app);
    expect(get.headers.get("access-control-expose-headers")).toBe(
      "ETag, Content-Range, Content-Length, Last-Modified, X-Next-After",
    );
    expect(get.headers.get("vary")).toBe("Origin");
    const unauthenticated = await request("GET", "/blobs/k", { headers: { origin: app } });
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get("access-control-allow-origin")).toBe(app);
  });

  it("with * allows every origin to read, and no origin to write", async () => {
    const { request, store } = await openTestApp({
      security: { ...loopbackPolicy, cors: { origins: ["*"] } },
    });
    await store.set("k", "v");
    const origin = "https://anyone.example";
    const get = await request("GET", "/blobs/k", { headers: { origin } });
    expect(get.status).toBe(200);
    expect(get.headers.get("access-control-allow-origin")).toBe("*");
    const preflight = await request("OPTIONS", "/blobs/k", {
      headers: { origin, "access-control-request-method": "GET" },
    });
    expect(preflight.headers.get("access-control-allow-methods")).toBe("GET, HEAD");
    const refusedPreflight = await request("OPTIONS", "/blobs/k", {
      headers: { origin, "access-control-request-method": "DELETE" },
    });
    expect(refusedPreflight.status).toBe(403);
    expect((await request("DELETE", "/blobs/k", { headers: { origin } })).status).toBe(403);
    expect(store.get("k")).toEqual(new TextEncoder().encode("v"));
  });

  it("refuses origins that are not listed", async () => {
    const { request } = await openTestApp({ security: { ...loopbackPolicy, cors: { origins: [app] } } });
    const response = await request("GET", "/blobs/k", { headers: { origin: "https://other.example" } });
    expect(response.status).toBe(403);
  });
});
