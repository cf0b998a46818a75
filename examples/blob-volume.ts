// A blob volume: BlobStorage wraps a KVStore with etags and a volume id, and the HTTP server
// (what `kvstore serve` runs) exposes it as /blobs. This example uses both, in one process.
// Run: bun examples/blob-volume.ts [DATA_DIR]   (without DATA_DIR, a temporary directory)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KVStore } from "kvstore";
import { loadServerConfig } from "../src/server/config.ts";
import { startServer } from "../src/server/serve.ts";
import { BlobStorage } from "../src/volume/blob-storage.ts";

const givenDir = process.argv[2];
const dir = givenDir ?? mkdtempSync(join(tmpdir(), "kvstore-volume-"));

try {
  // 1. The volume API in process.
  const storage = new BlobStorage(await KVStore.open(dir), "vol-example");
  const image = new Uint8Array(4096).map((_, i) => i % 251);
  const meta = await storage.put("images/logo.png", image);
  console.log("put:", meta);
  const blob = storage.read("images/logo.png");
  console.log(`read: ${blob?.size} bytes, etag ${blob?.etag}`);
  await storage.put("notes/todo.txt", new TextEncoder().encode("ship it"));
  console.log("list:", storage.list());
  console.log("delete notes/todo.txt:", await storage.delete("notes/todo.txt"));
  await storage.close();

  // 2. The same volume over HTTP, as `kvstore serve --port 0 --volume-id vol-example` would run it.
  const config = loadServerConfig(
    [
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--data-dir",
      dir,
      "--volume-id",
      "vol-example",
      "--log-level",
      "warn",
    ],
    {},
  );
  const server = await startServer(config, { handleSignals: false });
  const base = server.url.origin;
  try {
    const created = await fetch(`${base}/blobs/user:123`, { method: "POST", body: "Hello, World!" });
    console.log(`POST /blobs/user:123 -> ${created.status}`, await created.json());
    const fetched = await fetch(`${base}/blobs/user:123`);
    console.log(
      `GET /blobs/user:123 -> ${fetched.status} etag ${fetched.headers.get("etag")}:`,
      await fetched.text(),
    );
    const unchanged = await fetch(`${base}/blobs/user:123`, {
      headers: { "if-none-match": fetched.headers.get("etag") ?? "" },
    });
    console.log(`GET with If-None-Match -> ${unchanged.status}`);
    console.log("GET /blobs ->", await (await fetch(`${base}/blobs`)).json());
    console.log("GET /health ->", await (await fetch(`${base}/health`)).json());
    const deleted = await fetch(`${base}/blobs/user:123`, { method: "DELETE" });
    console.log(`DELETE /blobs/user:123 -> ${deleted.status}`);
    const missing = await fetch(`${base}/blobs/user:123`);
    console.log(`GET /blobs/user:123 -> ${missing.status}`, await missing.json());
  } finally {
    await server.stop();
  }
} finally {
  if (givenDir === undefined) rmSync(dir, { recursive: true, force: true });
}
