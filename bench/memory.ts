// Resident memory per key: loads 1,000,000 keys (16 bytes, 100-byte values) into a fresh store.
// Run alone (bench/engine.ts and bench/scale.ts spawn it) so that nothing else is on the heap.
// Usage: bun bench/memory.ts [--keys N]
import { parseArgs } from "node:util";
import { KVStore, silentLogger } from "../src/index.ts";
import { benchKey, randomValue, tempDir } from "./harness.ts";

const { values: args } = parseArgs({ options: { keys: { type: "string", default: "1000000" } } });
const KEYS = Number(args.keys);
const value = randomValue(100);
const dir = tempDir("kv-memory");
Bun.gc(true);
const before = process.memoryUsage().rss;
// Background snapshots off: they would hold encoded copies of the index while RSS is read.
const store = await KVStore.open(dir.path, { sync: "never", logger: silentLogger, snapshotEveryBytes: 0 });
for (let i = 0; i < KEYS; i += 1000) {
  const batch: Promise<void>[] = [];
  for (let j = i; j < Math.min(KEYS, i + 1000); j++) batch.push(store.set(benchKey(j), value));
  await Promise.all(batch);
}
store.listKeys({ limit: 1 }); // the sorted index is part of the footprint
Bun.gc(true);
const after = process.memoryUsage().rss;
console.log(
  `resident memory after loading ${KEYS.toLocaleString("en-US")} keys: ${((after - before) / KEYS).toFixed(0)} bytes per key ` +
    `(RSS ${(before / 2 ** 20).toFixed(0)} MiB before, ${(after / 2 ** 20).toFixed(0)} MiB after)`,
);
await store.close();
dir.remove();
