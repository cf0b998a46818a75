// Overwrites and deletes leave dead records behind in the append-only segments; compaction
// rewrites the live records of sealed segments into new ones and removes the old files.
// Run: bun examples/compaction.ts [DATA_DIR]   (without DATA_DIR, a temporary directory)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KVStore, type KVStoreStats } from "kvstore";

const givenDir = process.argv[2];
const dir = givenDir ?? mkdtempSync(join(tmpdir(), "kvstore-compaction-"));

function describe(label: string, stats: KVStoreStats): void {
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  console.log(
    `${label}: ${stats.numKeys} keys, ${stats.numSegments} segments (${stats.oldestSegmentId}..${stats.activeSegmentId}),`,
    `${kib(stats.totalBytes)} on disk, ${kib(stats.deadBytes)} reclaimable`,
  );
}

try {
  // Small segments, so that a few hundred writes fill several of them.
  const store = await KVStore.open(dir, { maxSegmentBytes: 16 * 1024 });
  const keys = Array.from({ length: 100 }, (_, i) => `counter:${i}`);

  // Every key is written ten times: nine of every ten records become dead.
  for (let round = 1; round <= 10; round++) {
    await Promise.all(keys.map((key) => store.set(key, `round ${round} of ${key}`.padEnd(100, "."))));
  }
  await Promise.all(keys.slice(0, 20).map((key) => store.delete(key)));
  describe("before compaction", store.stats());

  // Reads and writes go on while compaction runs; it never blocks them for long.
  await store.compact();
  describe("after compaction ", store.stats());

  const sample = store.get("counter:50");
  console.log("counter:50 =", sample === null ? null : new TextDecoder().decode(sample).replace(/\.+$/, ""));
  console.log("counter:5 (deleted) =", store.get("counter:5"));
  if (store.has("counter:5") || store.stats().numKeys !== 80) throw new Error("compaction changed the data");
  await store.close();
} finally {
  if (givenDir === undefined) rmSync(dir, { recursive: true, force: true });
}
