// openapi-typescript prints its output with TypeScript 5's compiler API (ts.factory and the
// printer), which TypeScript 7, this project's compiler, no longer ships as a JavaScript module.
// package.json installs TypeScript 5 as `typescript-5` and lets openapi-typescript's peer resolve
// to the root `typescript` (npm refuses two versions of one peer); this plugin hands
// openapi-typescript TypeScript 5 when it loads `typescript`.
import { createRequire } from "node:module";

const typescript5 = createRequire(import.meta.url).resolve("typescript-5");

Bun.plugin({
  name: "typescript-5 for openapi-typescript",
  setup(build) {
    build.onLoad({ filter: /node_modules\/typescript\/lib\/version\.cjs$/ }, () => ({
      contents: `import ts from ${JSON.stringify(typescript5)}; export default ts;`,
      loader: "js",
    }));
  },
});

/** The TypeScript module openapi-typescript generates for an OpenAPI document (its `paths` type and more). */
export async function generateApiTypes(document: object): Promise<string> {
  const { default: openapiTS, astToString } = await import("openapi-typescript");
  return astToString(await openapiTS(document as Parameters<typeof openapiTS>[0]));
}
