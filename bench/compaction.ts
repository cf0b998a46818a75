// Snapshot and compaction benchmark: open time for N keys with and without index.snapshot,
// compaction throughput for N live keys plus N dead records, and read/write latency while a
// compaction runs beside the same load without one. bench/scale.ts runs it for each size.
// Usage: bun bench/compaction.ts [--keys N]   (default 1,000,000)
import { rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { KVStore, type KVStoreOptions, silentLogger } from "../src/index.ts";
import { benchKey, type Measurement, printTable, randomValue, tempDir } from "./harness.ts";

const { values: args } = parseArgs({ options: { keys: { type: "string", default: "1000000" } } });
const KEYS = Number(args.keys);
const VALUE = randomValue(100);
const options: KVStoreOptions = { logger: silentLogger, autoCompaction: false, snapshotEveryBytes: 0 };

async function load(store: KVStore, round: number): Promise<void> {
  for (let i = 0; i < KEYS; i += 1000) {
    const batch: Promise<void>[] = [];
    for (let j = i; j < Math.min(KEYS, i + 1000); j++) {
      VALUE[0] = round;
      batch.push(store.set(benchKey(j), VALUE));
    }
    await Promise.all(batch);
  }
}

async function timeOpen(dir: string, withSnapshot: boolean): Promise<{ ms: number; used: string }> {
  const times: number[] = [];
  let used = "";
  for (let run = 0; run < 3; run++) {
    if (!withSnapshot) rmSync(join(dir, "index.snapshot"), { force: true });
    Bun.gc(true);
    const start = performance.now();
    const store = await KVStore.open(dir, options);
    times.push(performance.now() - start);
    used = store.stats().snapshotOnOpen;
    if (store.stats().numKeys !== KEYS) throw new Error("open lost keys");
    await store.close();
  }
  return { ms: times.sort((a, b) => a - b)[1] as number, used };
}

/**
 * One client, as a server sees it: a request arrives, waits for the event loop (where a
 * compaction slice may be running), then does a durable write or a read of a random key.
 * Latency counts from arrival to reply. Runs until `until()` is true.
 */
async function mixedLoad(
  store: KVStore,
  until: () => boolean,
): Promise<{ reads: Measurement; writes: Measurement }> {
  const reads: number[] = [];
  const writes: number[] = [];
  const start = Bun.nanoseconds();
  for (let i = 0; !until(); i++) {
    const arrived = Bun.nanoseconds();
    await new Promise((resolve) => setImmediate(resolve));
    const key = benchKey(Math.floor(Math.random() * KEYS));
    if (i % 2 === 0) {
      await store.set(key, VALUE);
      writes.push((Bun.nanoseconds() - arrived) / 1000);
    } else {
      store.get(key);
      reads.push((Bun.nanoseconds() - arrived) / 1000);
    }
  }
  const seconds = (Bun.nanoseconds() - start) / 1e9;
  return {
    reads: { ops: reads.length, seconds, latenciesUs: Float64Array.from(reads) },
    writes: { ops: writes.length, seconds, latenciesUs: Float64Array.from(writes) },
  };
}

const temp = tempDir("kv-compaction-bench");
const dir = temp.path;
try {
  console.log(
    `kvstore snapshot and compaction benchmark: ${KEYS.toLocaleString("en-US")} keys of 16 bytes, 100-byte values`,
  );
  console.log(`Bun ${Bun.version}, ${navigator.hardwareConcurrency} cores, ${new Date().toISOString()}`);
  let store = await KVStore.open(dir, { ...options, sync: "never" });
  await load(store, 1);
  await store.close();

  const snapshot = await timeOpen(dir, true);
  const replay = await timeOpen(dir, false);
  console.log("\n### Open\n");
  console.log(`| open of ${KEYS.toLocaleString("en-US")} keys | median of 3 (ms) | index rebuilt from |`);
  console.log("|---|---:|---|");
  console.log(`| with index.snapshot | ${snapshot.ms.toFixed(0)} | ${snapshot.used} |`);
  console.log(`| full replay | ${replay.ms.toFixed(0)} | ${replay.used} |`);
  console.log(`\nsnapshot open is ${(replay.ms / snapshot.ms).toFixed(1)}x faster than replay`);

  // Overwrite every key once: 1M live records plus 1M dead ones.
  store = await KVStore.open(dir, { ...options, sync: "never" });
  await load(store, 2);
  const before = store.stats();
  const started = performance.now();
  await store.compact();
  const seconds = (performance.now() - started) / 1000;
  const after = store.stats();
  await store.close();
  console.log("\n### Compaction\n");
  const compactSeconds = after.lastCompactionMs / 1000;
  console.log(
    "| live keys | dead records | compaction s | live keys/s | with the snapshot after it, s | bytes before | bytes after |",
  );
  console.log("|---:|---:|---:|---:|---:|---:|---:|");
  console.log(
    `| ${after.lastCompactionLiveRecords.toLocaleString("en-US")} | ${KEYS.toLocaleString("en-US")} | ${compactSeconds.toFixed(2)} | ` +
      `${Math.round(after.lastCompactionLiveRecords / compactSeconds).toLocaleString("en-US")} | ${seconds.toFixed(2)} | ` +
      `${before.totalBytes.toLocaleString("en-US")} | ${after.totalBytes.toLocaleString("en-US")} |`,
  );

  // Latency with and without a compaction running, same load, sync "always".
  store = await KVStore.open(dir, { ...options, sync: "always" });
  await load(store, 3); // another 1M dead records for the compaction to work through
  const during = store.compact();
  let compacting = true;
  during.then(() => {
    compacting = false;
  });
  const withCompaction = await mixedLoad(store, () => !compacting);
  const compactionSeconds = withCompaction.reads.seconds;
  const quietEnd = Bun.nanoseconds() + compactionSeconds * 1e9;
  const without = await mixedLoad(store, () => Bun.nanoseconds() > quietEnd);
  await store.close();
  printTable(
    `Latency during a ${compactionSeconds.toFixed(1)} s compaction (baseline: same load, no compaction)`,
    [
      {
        name: "read (get)",
        kvstore: withCompaction.reads,
        baseline: without.reads,
        baselineName: "no compaction",
      },
      {
        name: "durable write",
        kvstore: withCompaction.writes,
        baseline: without.writes,
        baselineName: "no compaction",
      },
    ],
  );
} finally {
  temp.remove();
}
