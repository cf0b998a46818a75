import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import packageJson from "../../../package.json" with { type: "json" };
import { swaggerUiAssets } from "./swagger-ui-assets.ts";

const ASSETS = "/swagger/assets";

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
  return new Elysia({ name: "kvstore/api-docs" })
    .get(
      `${ASSETS}/swagger-ui-bundle.js`,
      asset(swaggerUiAssets.bundleScript, "text/javascript; charset=utf-8"),
    )
    .get(`${ASSETS}/swagger-ui.css`, asset(swaggerUiAssets.stylesheet, "text/css; charset=utf-8"))
    .use(
      openapi({
        path: "/swagger",
        specPath: "/swagger/json",
        provider: "swagger-ui",
        documentation: {
          info: {
            title: "kvstore",
            version: packageJson.version,
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
