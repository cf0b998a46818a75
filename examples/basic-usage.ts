// The core API: open a store, write, read, list, delete, look at the statistics, close.
// Run: bun examples/basic-usage.ts [DATA_DIR]   (without DATA_DIR, a temporary directory)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KVStore } from "kvstore";

const givenDir = process.argv[2];
const dir = givenDir ?? mkdtempSync(join(tmpdir(), "kvstore-basic-"));

try {
  // open() creates the directory, replays what is there and takes the directory's LOCK.
  const store = await KVStore.open(dir);

  // A write resolves once it is durable (fsynced, with the default sync: "always").
  await store.set("user:1:name", "Alice");
  await store.set("user:1:email", "alice@example.com");
  await store.set("user:2:name", "Bob");
  // Values are bytes; strings are stored as UTF-8.
  await store.set("user:1:avatar", new Uint8Array([0x89, 0x50, 0x4e, 0x47]));

  // Reads are synchronous and return bytes, or null for a missing key.
  const name = store.get("user:1:name");
  console.log("user:1:name =", name === null ? null : new TextDecoder().decode(name));
  console.log("user:1:avatar =", store.get("user:1:avatar"));
  console.log("user:3:name =", store.get("user:3:name"));

  // Keys come back sorted; a prefix selects a range.
  console.log("keys of user 1:", store.listKeys({ prefix: "user:1:" }));

  console.log("deleted user:1:email:", await store.delete("user:1:email"));
  console.log("deleted it again:", await store.delete("user:1:email"));

  const stats = store.stats();
  console.log(`${stats.numKeys} keys in ${stats.numSegments} segment(s), ${stats.totalBytes} bytes on disk`);

  // close() flushes, saves the index snapshot and releases the LOCK.
  await store.close();
} finally {
  if (givenDir === undefined) rmSync(dir, { recursive: true, force: true });
}
