// Memory per key: loads N keys (16 bytes, 100-byte values; default 1,000,000) into a fresh store
// and reports two figures side by side:
// - the index's own arrays (KeyIndex.memoryBytes(): exact bytes used, and bytes allocated), and
// - the process's resident memory (RSS) grown by the load, read with the sorted order built (a
//   listing needs it, so it is part of the footprint).
// Run alone (bench/engine.ts and bench/scale.ts spawn it) so that nothing else is on the heap.
// Usage: bun bench/memory.ts [--keys N]
//
// Two things would otherwise count in the RSS delta without being memory per key:
// - One-time costs. A first store pages in Bun's code, compiles the engine's hot paths and sets
//   up the allocator: about 14 MiB whatever the number of keys (four rounds of open, 100k sets,
//   list and close in one process leave RSS flat after the first). A warm-up store in another
//   directory, closed and removed before the first reading, pays them; the figure that counts
//   them too is printed beside ("from process start").
// - Freed memory not yet handed back. The collector returns the pages of freed garbage (the
//   set() calls' promises and key strings, the listing's 8 B/key sort buffer) over a few
//   passes: read right after one Bun.gc(true), RSS still held about 17 MiB of it at 1M keys.
//   Each reading waits for three collections.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { KeyIndex } from "../src/engine/index/key-index.ts";
import { KVStore, type KVStoreOptions, silentLogger } from "../src/index.ts";
import { benchKey, randomValue, tempDir } from "./harness.ts";

const { values: args } = parseArgs({ options: { keys: { type: "string", default: "1000000" } } });
const KEYS = Number(args.keys);
const WARM_UP_KEYS = Math.min(100_000, Math.ceil(KEYS / 10));
const value = randomValue(100);
// Background snapshots off: they would hold encoded copies of the index while RSS is read.
const options: KVStoreOptions = { sync: "never", logger: silentLogger, snapshotEveryBytes: 0 };

interface Reading {
  rss: number;
  /** Anonymous (heap, arrays, JIT code) and file-backed (Bun's own code) resident bytes. */
  anonymous: number;
  fileBacked: number;
}

/** RSS once the collector has handed freed pages back to the kernel. */
async function settled(): Promise<Reading> {
  for (let i = 0; i < 3; i++) {
    Bun.gc(true);
    await Bun.sleep(300);
  }
  const rss = process.memoryUsage().rss;
  let anonymous = Number.NaN;
  try {
    const rollup = readFileSync("/proc/self/smaps_rollup", "utf8");
    anonymous = Number(/^Anonymous:\s+(\d+) kB/m.exec(rollup)?.[1]) * 1024;
  } catch {} // not Linux: the split is left out
  return { rss, anonymous, fileBacked: rss - anonymous };
}

async function load(dir: string, keys: number): Promise<KVStore> {
  const store = await KVStore.open(dir, options);
  for (let i = 0; i < keys; i += 1000) {
    const batch: Promise<void>[] = [];
    for (let j = i; j < Math.min(keys, i + 1000); j++) batch.push(store.set(benchKey(j), value));
    await Promise.all(batch);
  }
  store.listKeys({ limit: 1 }); // the sorted index is part of the footprint
  return store;
}

const start = await settled();
const warmUpDir = tempDir("kv-memory-warm-up");
await (await load(warmUpDir.path, WARM_UP_KEYS)).close();
warmUpDir.remove();
const before = await settled();
const dir = tempDir("kv-memory");
const store = await load(dir.path, KEYS);
const after = await settled();
// The index is private to the store; the bench reads its arrays' sizes through it.
const { used, allocated } = (store as unknown as { index: KeyIndex }).index.memoryBytes();

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);
const perKey = (bytes: number): string => (bytes / KEYS).toFixed(1);
console.log(`memory after loading ${KEYS.toLocaleString("en-US")} keys (16-byte keys, 100-byte values):`);
console.log(
  `  index arrays: ${perKey(used)} bytes per key used, ${perKey(allocated)} allocated ` +
    "(unwritten room to grow is reserved address space, not resident)",
);
console.log(
  `  resident memory: ${perKey(after.rss - before.rss)} bytes per key ` +
    `(RSS ${mib(before.rss)} MiB after a ${WARM_UP_KEYS.toLocaleString("en-US")}-key warm-up, ${mib(after.rss)} MiB after; ` +
    `anonymous ${perKey(after.anonymous - before.anonymous)}, file-backed ${perKey(after.fileBacked - before.fileBacked)})`,
);
console.log(
  `  resident memory from process start: ${perKey(after.rss - start.rss)} bytes per key ` +
    `(RSS ${mib(start.rss)} MiB at start; the warm-up's one-time cost included)`,
);
await store.close();
dir.remove();
