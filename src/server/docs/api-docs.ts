import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import packageJson from "../../../package.json" with { type: "json" };
import { finishDocument, type GeneratedDocument } from "./finish-document.ts";
import { swaggerUiAssets } from "./swagger-ui-assets.ts";

const ASSETS = "/swagger/assets";
const SPEC_PATH = "/swagger/json";

function asset(path: string, contentType: string) {
  return () =>
    new Response(Bun.file(path), {
      headers: { "content-type": contentType, "cache-control": "public, max-age=86400" },
    });
}

/**
 * Swagger UI at /swagger and the OpenAPI document at /swagger/json, with the UI's script and
 * stylesheet served by kvstore itself so that the page works with no internet access.
 */
export function apiDocs() {
  // @elysiajs/openapi generates the document once and then hands out the same object.
  const finished = new WeakMap<GeneratedDocument, GeneratedDocument>();
  const finish = (generated: GeneratedDocument) => {
    const cached = finished.get(generated);
    if (cached !== undefined) return cached;
    const document = finishDocument(generated);
    finished.set(generated, document);
    return document;
  };
  return new Elysia({ name: "kvstore/api-docs" })
    .mapResponse(({ path, responseValue }) =>
      path === SPEC_PATH && typeof responseValue === "object" && responseValue !== null
        ? Response.json(finish(responseValue as GeneratedDocument))
        : undefined,
    )
    .get(
      `${ASSETS}/swagger-ui-bundle.js`,
      asset(swaggerUiAssets.bundleScript, "text/javascript; charset=utf-8"),
    )
    .get(`${ASSETS}/swagger-ui.css`, asset(swaggerUiAssets.stylesheet, "text/css; charset=utf-8"))
    .use(
      openapi({
        path: "/swagger",
        specPath: SPEC_PATH,
        provider: "swagger-ui",
        documentation: {
          info: {
            title: "kvstore",
            version: packageJson.version,
            license: { name: "MIT", identifier: "MIT" },
            description:
              "A Bitcask-style blob volume: raw bytes under UTF-8 keys, stored durably in append-only segment files.",
          },
          tags: [
            { name: "blobs", description: "Store, read, list and delete blobs" },
            { name: "operations", description: "Health, metrics and maintenance" },
          ],
        },
        swagger: {
          cdn: `${ASSETS}/swagger-ui-bundle.js`,
          theme: `${ASSETS}/swagger-ui.css`,
          autoDarkMode: false,
        },
      }),
    );
}
