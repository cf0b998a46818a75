// The key index (src/engine/index, not yet used by the store) against a Map<string, object>:
// resident memory per key, insert and lookup rates, serialize and load times, at 1M and 10M
// keys of 16 bytes. Each size and structure runs in a fresh child process, so that RSS counts
// only what that one built. Run: bun bench/index-memory.ts [sizes...] (default 1000000 10000000).
import { KeyIndex } from "../src/engine/index/key-index.ts";
import { benchKey } from "./harness.ts";

type Structure = "index" | "map";

interface ChildResult {
  structure: Structure;
  keys: number;
  bytesPerKey: number;
  insertsPerSecond: number;
  firstListingMs: number;
  lookupsPerSecond: number;
  missesPerSecond: number;
  serializeMs?: number;
  loadMs?: number;
  serializedBytes?: number;
}

const LOOKUPS = 1_000_000;

/** Visits 0..n-1 in a scattered order, so that keys do not arrive already sorted. */
const scattered = (i: number, n: number): number => (i * 7919) % n;

type Built = { lookup: (key: string) => unknown; index: KeyIndex | null; size: () => number };

/** Inserts `keys` keys in scattered order; for the index, also builds its sorted order. */
function build(structure: Structure, keys: number): Built & { insertNanos: number; firstListingMs: number } {
  const start = Bun.nanoseconds();
  if (structure === "index") {
    const index = KeyIndex.create();
    const location = { segmentId: 1, offset: 0, length: 130 };
    for (let i = 0; i < keys; i++) {
      location.offset = i * 130;
      index.set(benchKey(scattered(i, keys)), location);
    }
    const insertNanos = Bun.nanoseconds() - start;
    const listStart = Bun.nanoseconds();
    index.list({ limit: 1 }); // the sorted order is part of the footprint
    const firstListingMs = (Bun.nanoseconds() - listStart) / 1e6;
    return { lookup: (key) => index.get(key), index, size: () => index.size, insertNanos, firstListingMs };
  }
  const map = new Map<string, { segmentId: number; offset: number; length: number }>();
  for (let i = 0; i < keys; i++)
    map.set(benchKey(scattered(i, keys)), { segmentId: 1, offset: i * 130, length: 130 });
  const insertNanos = Bun.nanoseconds() - start;
  return { lookup: (key) => map.get(key), index: null, size: () => map.size, insertNanos, firstListingMs: 0 };
}

async function settledRss(): Promise<number> {
  // The collector hands freed pages back to the kernel over a few passes.
  for (let i = 0; i < 3; i++) {
    Bun.gc(true);
    await Bun.sleep(300);
  }
  return process.memoryUsage().rss;
}

async function measureChild(structure: Structure, keys: number): Promise<ChildResult> {
  // Lookup keys are made before the "before" reading, so that both structures share the cost.
  const lookupKeys = Array.from({ length: LOOKUPS }, (_, i) => benchKey(scattered(i * 13, keys)));
  const missingKeys = Array.from({ length: LOOKUPS }, (_, i) => benchKey(keys + i));
  // A first, small build compiles the code and sets up the allocator: about 14 MiB that a
  // process pays once, whatever the number of keys, and that is not memory per key.
  build(structure, 100_000);
  const before = await settledRss();
  const built = build(structure, keys);
  const after = await settledRss();
  const rate = (list: string[]): number => {
    const start = Bun.nanoseconds();
    let found = 0;
    for (const key of list) if (built.lookup(key) !== undefined) found++;
    const seconds = (Bun.nanoseconds() - start) / 1e9;
    if (found !== (list === lookupKeys ? list.length : 0)) throw new Error(`lookups found ${found}`);
    return list.length / seconds;
  };
  const result: ChildResult = {
    structure,
    keys,
    bytesPerKey: (after - before) / keys,
    insertsPerSecond: keys / (built.insertNanos / 1e9),
    firstListingMs: built.firstListingMs,
    lookupsPerSecond: rate(lookupKeys),
    missesPerSecond: rate(missingKeys),
  };
  if (built.index !== null) {
    let start = Bun.nanoseconds();
    const bytes = built.index.serialize();
    result.serializeMs = (Bun.nanoseconds() - start) / 1e6;
    result.serializedBytes = bytes.length;
    start = Bun.nanoseconds();
    const loaded = KeyIndex.load(bytes);
    result.loadMs = (Bun.nanoseconds() - start) / 1e6;
    if (loaded.size !== keys || loaded.get(benchKey(keys - 1))?.length !== 130)
      throw new Error("load lost keys");
  }
  if (built.size() !== keys) throw new Error(`${structure} lost keys`);
  return result;
}

async function runChild(structure: Structure, keys: number): Promise<ChildResult> {
  const child = Bun.spawn([process.execPath, import.meta.path, "--child", structure, String(keys)], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const output = await new Response(child.stdout).text();
  if ((await child.exited) !== 0) throw new Error(`${structure} at ${keys} keys failed`);
  return JSON.parse(output) as ChildResult;
}

const number = (n: number, digits = 0): string =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

if (process.argv[2] === "--child") {
  console.log(JSON.stringify(await measureChild(process.argv[3] as Structure, Number(process.argv[4]))));
} else {
  const sizes = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [1_000_000, 10_000_000];
  console.log(
    `key index vs Map<string, object>: 16-byte keys, Bun ${Bun.version}, ${new Date().toISOString()}`,
  );
  console.log(
    "\n| keys | structure | RSS B/key | inserts/s | first sorted listing ms | lookups/s (hit) | lookups/s (miss) | serialize ms | load ms | serialized B/key |",
  );
  console.log("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const keys of sizes) {
    for (const structure of ["index", "map"] as const) {
      const r = await runChild(structure, keys);
      console.log(
        `| ${number(keys)} | ${structure === "index" ? "KeyIndex" : "Map"} | ${number(r.bytesPerKey, 1)} | ` +
          `${number(r.insertsPerSecond)} | ${structure === "index" ? number(r.firstListingMs) : "n/a"} | ` +
          `${number(r.lookupsPerSecond)} | ${number(r.missesPerSecond)} | ` +
          `${r.serializeMs === undefined ? "" : number(r.serializeMs, 1)} | ${r.loadMs === undefined ? "" : number(r.loadMs, 1)} | ` +
          `${r.serializedBytes === undefined ? "" : number(r.serializedBytes / keys, 1)} |`,
      );
    }
  }
}
