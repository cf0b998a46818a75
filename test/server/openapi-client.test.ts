// A client generated the usual way (openapi-typescript for the types, openapi-fetch for the
// calls) from the document a real server publishes, type-checked and used against that server.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultServerConfig } from "../../src/server/config.ts";
import { type ServerHandle, startServer } from "../../src/server/serve.ts";
import { everyByteValue } from "./app-fixture.ts";
import { generateApiTypes } from "./openapi-client/generate-api-types.ts";

const REPO = join(import.meta.dir, "../..");
const TOKEN = "client-test-token";
// Inside node_modules, so that the generated module resolves openapi-fetch and @types/bun the
// way an application's would; node_modules/.cache is the customary place for generated files.
const CACHE = join(REPO, "node_modules/.cache");

let dataDir: string;
let server: ServerHandle;
let clientDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "kvstore-client-"));
  server = await startServer(
    {
      ...defaultServerConfig,
      host: "127.0.0.1",
      port: 0,
      dataDir,
      logLevel: "error",
      authToken: TOKEN,
    },
    { handleSignals: false },
  );
  mkdirSync(CACHE, { recursive: true });
  clientDir = mkdtempSync(join(CACHE, "kvstore-openapi-client-"));
  const document = await fetch(new URL("/swagger/json", server.url)).then(
    (response) => response.json() as Promise<object>,
  );
  writeFileSync(join(clientDir, "api.ts"), await generateApiTypes(document));
  copyFileSync(join(import.meta.dir, "openapi-client/exercise-client.txt"), join(clientDir, "exercise.ts"));
  const compilerOptions = {
    target: "ESNext",
    module: "Preserve",
    moduleResolution: "bundler",
    lib: ["ESNext"],
    types: ["bun"],
    strict: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    skipLibCheck: true,
  };
  writeFileSync(join(clientDir, "tsconfig.json"), JSON.stringify({ compilerOptions, include: ["*.ts"] }));
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  if (clientDir !== undefined) rmSync(clientDir, { recursive: true, force: true });
});

describe("a client generated from /swagger/json (openapi-typescript and openapi-fetch)", () => {
  it("type-checks without casts", () => {
    const tsc = Bun.spawnSync([join(REPO, "node_modules/.bin/tsc"), "-p", clientDir], {
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(tsc.stdout.toString() + tsc.stderr.toString()).toBe("");
    expect(tsc.exitCode).toBe(0);
  }, 120_000);

  it("stores, reads, lists and deletes bytes under a key with a slash, byte for byte", async () => {
    const { exercise } = await import(join(clientDir, "exercise.ts"));
    const bytes = everyByteValue(1);
    const key = "photos/2026/cat ü.bin";
    const results = await exercise(server.url.href, TOKEN, key, bytes);
    expect(results.put).toEqual({ status: 201, size: 256 });
    expect(results.get.status).toBe(200);
    expect(results.get.bytes).toEqual(bytes);
    expect(results.head).toEqual({ status: 200, length: "256" });
    expect(results.list).toEqual({ status: 200, keys: [key] });
    expect(results.delete).toEqual({ status: 204 });
    expect(results.afterDelete).toEqual({ status: 404, error: "Blob not found" });
  }, 60_000);
});
