// The HTTP app served by Bun on a loopback port, for requests that only a raw socket can send.
// Stopped, its store closed and its directory removed, after each test.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KVStore, type Logger, silentLogger } from "../../src/index.ts";
import { type AppOptions, createApp } from "../../src/server/app.ts";
import { loopbackPolicy, type SecurityPolicy } from "../../src/server/security/guard.ts";
import { BlobStorage } from "../../src/volume/blob-storage.ts";
import { afterThisTest } from "../fixtures/after-this-test.ts";

export async function startTestServer({
  logger = silentLogger,
  security = loopbackPolicy,
  bodyLimits = {},
}: {
  logger?: Logger;
  security?: SecurityPolicy;
  bodyLimits?: Pick<AppOptions, "uploadBudgetBytes" | "bodyIdleMs" | "maxBodyBytes">;
} = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "kvstore-served-"));
  const store = await KVStore.open(dataDir, { logger: silentLogger });
  // As serve.ts listens, so that Bun routes and answers as it does in production.
  const app = createApp(new BlobStorage(store, "vol-test"), { logger, security, ...bodyLimits }).listen({
    hostname: "127.0.0.1",
    port: 0,
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    development: false,
  });
  afterThisTest(async () => {
    await app.stop(true);
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { origin: `http://127.0.0.1:${app.server?.port}`, store, dataDir };
}
