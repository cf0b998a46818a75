import { describe, expect, it } from "bun:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { loopbackPolicy } from "../../src/server/security/guard.ts";
import { AccessTokens } from "../../src/server/security/tokens.ts";
import { openTestApp } from "./app-fixture.ts";

interface Operation {
  summary?: string;
  description?: string;
  security?: unknown[];
  tags?: string[];
  parameters?: { name: string; in: string; schema: { examples?: unknown[] } }[];
  requestBody?: { content: Record<string, unknown> };
  responses: Record<
    string,
    { description: string; content?: Record<string, { schema?: Schema; example?: { error?: string } }> }
  >;
}
interface Schema {
  type?: string;
  examples?: unknown[];
  properties?: Record<string, Schema>;
}
interface Document {
  openapi: string;
  security?: Record<string, string[]>[];
  components?: { securitySchemes?: Record<string, { type: string; scheme?: string }> };
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
}

/** Every route of the API, as OpenAPI spells it. */
const documentedOperations = [
  "get /",
  "get /health",
  "get /metrics",
  "get /blobs",
  "post /blobs/{key}",
  "put /blobs/{key}",
  "get /blobs/{key}",
  "head /blobs/{key}",
  "delete /blobs/{key}",
  "post /admin/compact",
  "post /admin/snapshot",
  "post /admin/backup",
  "get /admin/stats",
].sort();

async function openApiDocument(): Promise<Document> {
  const { request } = await openTestApp();
  const response = await request("GET", "/swagger/json");
  expect(response.status).toBe(200);
  return (await response.json()) as Document;
}

function operations(document: Document): [string, Operation][] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]): [string, Operation] => [`${method} ${path}`, operation]),
  );
}

/** Whether a schema or one of its properties carries an example. */
function hasExample(schema: Schema): boolean {
  return (schema.examples?.length ?? 0) > 0 || Object.values(schema.properties ?? {}).some(hasExample);
}

describe("the OpenAPI document at /swagger/json", () => {
  it("is valid OpenAPI 3", async () => {
    const document = await openApiDocument();
    expect(document.openapi).toMatch(/^3\.\d+\.\d+$/);
    const validator = new Validator();
    const result = await validator.validate(document as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("lists every route, and only those", async () => {
    const document = await openApiDocument();
    expect(
      operations(document)
        .map(([name]) => name)
        .sort(),
    ).toEqual(documentedOperations);
  });

  it("names the API and its version", async () => {
    const { info } = await openApiDocument();
    expect(info.title).toBe("kvstore");
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("gives every operation a summary, a tag and described responses", async () => {
    for (const [name, operation] of operations(await openApiDocument())) {
      expect({ name, summary: typeof operation.summary }).toEqual({ name, summary: "string" });
      expect({ name, tags: operation.tags?.length }).toEqual({ name, tags: 1 });
      const responses = Object.values(operation.responses);
      expect({ name, responses: responses.length > 0 }).toEqual({ name, responses: true });
      for (const response of responses) expect(typeof response.description).toBe("string");
    }
  });

  it("has examples for every parameter and every JSON response", async () => {
    for (const [name, operation] of operations(await openApiDocument())) {
      for (const parameter of operation.parameters ?? []) {
        if (parameter.in === "header") continue;
        expect({
          name,
          parameter: parameter.name,
          examples: (parameter.schema.examples?.length ?? 0) > 0,
        }).toEqual({
          name,
          parameter: parameter.name,
          examples: true,
        });
      }
      for (const [status, response] of Object.entries(operation.responses)) {
        const json = response.content?.["application/json"];
        if (json === undefined) continue;
        // Error responses share one schema; their examples are per status, on the media type.
        const example =
          Number(status) >= 400 ? typeof json.example?.error === "string" : hasExample(json.schema ?? {});
        expect({ name, status, example }).toEqual({ name, status, example: true });
      }
    }
  });

  it("describes blob bodies as raw bytes, not JSON", async () => {
    const { paths } = await openApiDocument();
    const blob = paths["/blobs/{key}"] ?? {};
    for (const method of ["post", "put"]) {
      expect(Object.keys(blob[method]?.requestBody?.content ?? {})).toEqual(["application/octet-stream"]);
    }
    expect(Object.keys(blob.get?.responses["200"]?.content ?? {})).toEqual(["application/octet-stream"]);
    // No schema: `type: string` would make generated clients send and expect text.
    expect(blob.put?.requestBody?.content["application/octet-stream"]).toEqual({});
    expect(blob.get?.responses["200"]?.content?.["application/octet-stream"]).toEqual({});
    expect(Object.keys(blob.get?.responses ?? {}).sort()).toEqual([
      "200",
      "206",
      "304",
      "400",
      "401",
      "403",
      "404",
      "416",
    ]);
  });

  it("declares the bearer token scheme and the role each operation needs", async () => {
    const document = await openApiDocument();
    expect(document.components?.securitySchemes?.bearerAuth).toMatchObject({
      type: "http",
      scheme: "bearer",
    });
    expect(document.security).toEqual([{ bearerAuth: [] }]);
    const { paths } = document;
    expect(paths["/health"]?.get?.security).toEqual([]);
    expect(paths["/health"]?.get?.responses["401"]).toBeUndefined();
    expect(paths["/blobs/{key}"]?.get?.description).toContain("Needs a token with the read role");
    expect(paths["/blobs/{key}"]?.put?.description).toContain("Needs a token with the write role");
    expect(paths["/admin/compact"]?.post?.description).toContain("Needs a token with the admin role");
    expect(paths["/metrics"]?.get?.description).toContain("unless METRICS_PUBLIC=1");
  });

  it("gives error examples that are what the server answers", async () => {
    const document = await openApiDocument();
    const example = (path: string, method: string, status: number) =>
      document.paths[path]?.[method]?.responses[String(status)]?.content?.["application/json"]?.example;
    const tokens = new AccessTokens([
      { role: "read", token: "reader" },
      { role: "write", token: "writer" },
    ]);
    const { request } = await openTestApp({ security: { ...loopbackPolicy, tokens } });
    const reader = { headers: { authorization: "Bearer reader" } };
    await request("PUT", "/blobs/k", { ...reader, body: "x" }).then(async (response) => {
      expect(response.status).toBe(403);
      expect(await response.json()).toEqual(example("/blobs/{key}", "put", 403));
    });
    await request("PUT", "/blobs/thirteen", {
      headers: { authorization: "Bearer writer" },
      body: "13 bytes long",
    });
    const staleWrite = { headers: { authorization: "Bearer writer", "if-match": '"0000000000000000"' } };
    const answers: [string, string, string, RequestInit, number][] = [
      [
        "GET",
        "/blobs/thirteen",
        "/blobs/{key}",
        { headers: { ...reader.headers, range: "bytes=100-199" } },
        416,
      ],
      ["GET", "/blobs/%ZZ", "/blobs/{key}", reader, 400],
      ["GET", "/blobs/k", "/blobs/{key}", {}, 401],
      ["GET", "/blobs/nothing-here", "/blobs/{key}", reader, 404],
      ["GET", "/blobs?limit=0", "/blobs", reader, 400],
      ["PUT", "/blobs/thirteen", "/blobs/{key}", { ...staleWrite, body: "x" }, 412],
      ["DELETE", "/blobs/thirteen", "/blobs/{key}", staleWrite, 412],
      [
        "GET",
        "/blobs/k",
        "/blobs/{key}",
        { headers: { ...reader.headers, origin: "https://elsewhere.example" } },
        403,
      ],
    ];
    for (const [method, url, path, init, status] of answers) {
      const response = await request(method, url, init);
      expect({ url, status: response.status }).toEqual({ url, status });
      expect({ url, body: await response.json() }).toEqual({
        url,
        body: example(path, method.toLowerCase(), status),
      });
    }
  });
});
