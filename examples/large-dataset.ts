// Many keys, written concurrently: the engine's group commit covers every write queued since the
// last flush with one write(2) and one fsync, so throughput grows with concurrency while each
// write still resolves only once it is durable. Memory holds locations, not values.
// Run: bun examples/large-dataset.ts [DATA_DIR] [KEY_COUNT]   (defaults: a temporary directory, 50000)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KVStore } from "kvstore";

const givenDir = process.argv[2] || undefined;
const keyCount = Number(process.argv[3] ?? 50_000);
const concurrency = 1000;
const dir = givenDir ?? mkdtempSync(join(tmpdir(), "kvstore-large-"));
const value = new Uint8Array(256).fill(0x61);

function keyOf(i: number): string {
  return `item:${String(i).padStart(8, "0")}`;
}

function perSecond(count: number, ms: number): string {
  return Math.round((count / ms) * 1000).toLocaleString("en-US");
}

try {
  const store = await KVStore.open(dir, { maxSegmentBytes: 4 * 1024 * 1024 });

  let started = performance.now();
  for (let first = 0; first < keyCount; first += concurrency) {
    const writes: Promise<void>[] = [];
    for (let i = first; i < Math.min(first + concurrency, keyCount); i++)
      writes.push(store.set(keyOf(i), value));
    await Promise.all(writes);
  }
  const writeMs = performance.now() - started;
  const { fsyncs, numSegments, totalBytes } = store.stats();
  console.log(`wrote ${keyCount} values of ${value.length} B in ${writeMs.toFixed(0)} ms`);
  console.log(
    `  ${perSecond(keyCount, writeMs)} durable writes/s, ${fsyncs} fsyncs, ${numSegments} segments`,
  );
  console.log(`  ${(totalBytes / 1024 / 1024).toFixed(1)} MiB on disk`);

  started = performance.now();
  for (let i = 0; i < keyCount; i++) {
    if (store.get(keyOf(i))?.length !== value.length) throw new Error(`${keyOf(i)} did not read back`);
  }
  const readMs = performance.now() - started;
  console.log(`read them all back in ${readMs.toFixed(0)} ms (${perSecond(keyCount, readMs)} reads/s)`);

  const page = store.listKeys({ after: keyOf(keyCount - 4), limit: 10 });
  console.log("the last keys, paged with after:", page);
  await store.close();

  started = performance.now();
  const reopened = await KVStore.open(dir);
  console.log(
    `reopened with ${reopened.stats().numKeys} keys in ${(performance.now() - started).toFixed(0)} ms`,
  );
  await reopened.close();
} finally {
  if (givenDir === undefined) rmSync(dir, { recursive: true, force: true });
}
