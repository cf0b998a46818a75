// A real store in a temp directory behind the HTTP app, called without a socket through
// app.handle(). Everything opened here is closed and removed after each test.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KVStore, type KVStoreOptions, silentLogger } from "../../src/index.ts";
import { type AppOptions, createApp } from "../../src/server/app.ts";
import { BlobStorage } from "../../src/volume/blob-storage.ts";
import { afterThisTest } from "../fixtures/after-this-test.ts";

/** A fresh directory, removed after the current test. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "kvstore-server-"));
  afterThisTest(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestAppOptions extends AppOptions {
  volumeId?: string;
  /** Blobs from this size up are served from the segment file; small in tests to exercise it. */
  streamFromFileBytes?: number;
  store?: KVStoreOptions;
  /** The clock that dates blob writes (Last-Modified). */
  now?: () => number;
}

export async function openTestApp(options: TestAppOptions = {}) {
  const dir = scratchDir();
  const store = await KVStore.open(dir, { logger: silentLogger, ...options.store });
  afterThisTest(() => store.close());
  const storage = new BlobStorage(
    store,
    options.volumeId ?? "vol-test",
    options.streamFromFileBytes,
    options.now,
  );
  const app = createApp(storage, options);
  const request = (method: string, path: string, init: RequestInit = {}) =>
    app.handle(new Request(`http://localhost${path}`, { method, ...init }));
  return { dir, store, storage, app, request };
}

/** Every byte value, several times over, so that no byte is mangled on the way. */
export function everyByteValue(repeats = 4): Uint8Array {
  const bytes = new Uint8Array(256 * repeats);
  for (let i = 0; i < bytes.length; i++) bytes[i] = i % 256;
  return bytes;
}
