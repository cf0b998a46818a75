// Data outlives the process: write, close, open again, and everything acknowledged is there,
// including deletions. The second open loads the index snapshot that close() saved.
// Run: bun examples/persistence.ts [DATA_DIR]   (without DATA_DIR, a temporary directory)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KVStore } from "kvstore";

const givenDir = process.argv[2];
const dir = givenDir ?? mkdtempSync(join(tmpdir(), "kvstore-persistence-"));
const text = new TextDecoder();

try {
  const first = await KVStore.open(dir);
  for (let i = 0; i < 1000; i++) await first.set(`session:${i}`, `state of session ${i}`);
  await first.set("config:mode", "draft");
  await first.set("config:mode", "published");
  await first.delete("session:0");
  console.log(`first run: wrote ${first.stats().numKeys} keys, then closed`);
  await first.close();

  const started = performance.now();
  const second = await KVStore.open(dir);
  const openMs = (performance.now() - started).toFixed(1);
  console.log(`second run: opened in ${openMs} ms with ${second.stats().numKeys} keys`);

  const mode = second.get("config:mode");
  console.log("config:mode =", mode === null ? null : text.decode(mode));
  console.log("session:0 (deleted) =", second.get("session:0"));
  const last = second.get("session:999");
  console.log("session:999 =", last === null ? null : text.decode(last));
  if (mode === null || text.decode(mode) !== "published" || second.has("session:0") || last === null) {
    throw new Error("the reopened store does not hold what the first run acknowledged");
  }
  await second.close();
} finally {
  if (givenDir === undefined) rmSync(dir, { recursive: true, force: true });
}
