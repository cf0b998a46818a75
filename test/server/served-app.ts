// The HTTP app served by Bun on a loopback port, for requests that only a raw socket can send.
// Stopped, and its data directory removed, after each test.
import { afterEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultServerConfig } from "../../src/config.ts";
import { startServer } from "../../src/server/serve.ts";

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

export async function startTestServer(): Promise<{ origin: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), "kvstore-served-"));
  const server = await startServer(
    { ...defaultServerConfig, host: "127.0.0.1", port: 0, dataDir, logLevel: "error" },
    { handleSignals: false },
  );
  cleanups.push(async () => {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { origin: server.url.origin };
}
