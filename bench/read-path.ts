// What one kvstore read is made of, on 100,000 keys of 16 bytes with 100-byte values: the steps of
// `store.get` rebuilt from the engine's own parts (key index, records in a memory-mapped file),
// each run on its own and then one more step at a time, in a random key order and over 1,000
// hot keys; beside a JS Map.get of the same string keys, store.get itself and lmdb-js get.
// Nanoseconds per call, best of ROUNDS passes of CALLS calls (the machine is shared).
// Run: bun bench/read-path.ts [--keys N]. Figures: README.md, section Benchmarks, "Reads".
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { open as openLmdb } from "lmdb";
import { KeyIndex } from "../src/engine/index/key-index.ts";
import { copyValue, encodeRecord, Op, recordLength } from "../src/engine/record.ts";
import { KVStore, silentLogger } from "../src/index.ts";
import { batched, benchKey, randomValue, tempDir } from "./harness.ts";

const { values: args } = parseArgs({ options: { keys: { type: "string", default: "100000" } } });
const KEYS = Number(args.keys);
const HOT_KEYS = 1000;
const CALLS = 2_000_000;
const ROUNDS = 3;
const VALUE = randomValue(100);
const keys = Array.from({ length: KEYS }, (_, i) => benchKey(i));
const orders = {
  random: Uint32Array.from({ length: CALLS }, () => Math.floor(Math.random() * KEYS)),
  hot: Uint32Array.from({ length: CALLS }, (_, i) => i % HOT_KEYS),
};
type OrderName = keyof typeof orders;

/** Best nanoseconds per call of `op(key)` over CALLS calls in `order`, of ROUNDS rounds. */
function nanosPerCall(orderName: OrderName, op: (key: string) => unknown): number {
  const order = orders[orderName];
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUNDS; round++) {
    const start = Bun.nanoseconds();
    for (let i = 0; i < CALLS; i++) op(keys[order[i] as number] as string);
    best = Math.min(best, (Bun.nanoseconds() - start) / CALLS);
  }
  return best;
}

const rows: { name: string; op: (key: string) => unknown }[] = [];
const step = (name: string, op: (key: string) => unknown) => rows.push({ name, op });

// The engine's parts: an index of every key, and their records back to back in a mapped file.
const dir = tempDir("kv-read-path");
const length = recordLength(16, VALUE.length);
const file = new Uint8Array(KEYS * length);
const index = KeyIndex.create();
for (let i = 0; i < KEYS; i++) {
  encodeRecord(file, i * length, Op.Set, keys[i] as string, 16, VALUE);
  index.set(keys[i] as string, { segmentId: 1, offset: i * length, length });
}
writeFileSync(join(dir.path, "records"), file);
const mapped = Bun.mmap(join(dir.path, "records"), { shared: true });
const map = new Map(keys.map((key, i) => [key, { segmentId: 1, offset: i * length, length }]));

const lost = (): never => {
  throw new Error("lost a key");
};
step("Map.get (string key)", (key) => map.get(key) ?? lost());
step("KeyIndex.find (string key)", (key) => (index.find(key) === -1 ? lost() : 0));
step("+ location (KeyIndex.get)", (key) => (index.get(key) ?? lost()).offset);
step("+ touch the record's first and last byte", (key) => {
  const { offset, length } = index.get(key) ?? lost();
  return (mapped[offset] as number) + (mapped[offset + length - 1] as number);
});
step("+ check the record and copy the value", (key) => {
  const { offset, length } = index.get(key) ?? lost();
  return copyValue(mapped, offset, length);
});

const store = await KVStore.open(join(dir.path, "store"), { logger: silentLogger, sync: "never" });
await batched(KEYS, 1000, (i) => store.set(keys[i] as string, VALUE));
step("KVStore.get", (key) => store.get(key) ?? lost());

const db = openLmdb<Uint8Array, string>({ path: join(dir.path, "kv.mdb"), encoding: "binary" });
let last: Promise<boolean> | undefined;
for (let i = 0; i < KEYS; i++) last = db.put(keys[i] as string, VALUE);
await last;
step("lmdb-js get", (key) => db.get(key) ?? lost());

console.log(`Read path, ${KEYS.toLocaleString("en-US")} keys; ns per call, best of ${ROUNDS} x ${CALLS}`);
console.log(`| step | random order | ${HOT_KEYS.toLocaleString("en-US")} hot keys |`);
console.log("|---|---:|---:|");
for (const { name, op } of rows) {
  const random = nanosPerCall("random", op).toFixed(0);
  const hot = nanosPerCall("hot", op).toFixed(0);
  console.log(`| ${name} | ${random} | ${hot} |`);
}
await store.close();
await db.close();
dir.remove();
