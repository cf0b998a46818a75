// The key index (src/engine/index) alone against a Map<string, object>:
// resident memory per key, insert and lookup rates, serialize and load times, at 1M and 10M
// keys of 16 bytes. Each size and structure runs in a fresh child process, so that RSS counts
// only what that one built. Run: bun bench/index-memory.ts [sizes...] (default 1000000 10000000).
// Figures: README.md, section Benchmarks, "Index".
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
type MapEntry = { segmentId: number; offset: number; length: number };

/** Visits 0..n-1 in a scattered order, so that keys do not arrive already sorted. */
const scattered = (i: number, n: number): number => (i * 7919) % n;

/** benchKey(n) written into `into` as bytes, without making a string. */
function benchKeyBytes(n: number, into: Uint8Array): Uint8Array {
  into.set(KEY_HEAD);
  for (let at = 15; at >= 4; at--) {
    into[at] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  return into;
}
const KEY_HEAD = new TextEncoder().encode("key-");

/**
 * An index of `keys` keys inserted in scattered order, with its sorted order built (a listing
 * needs it, so it is part of the footprint). Keys come as strings, as the store passes them
 * today, or as bytes, as recovery reads them from segments (no garbage strings left behind).
 */
function buildIndex(
  keys: number,
  keysAs: "string" | "bytes",
): { index: KeyIndex; insertNanos: number; listMs: number } {
  const index = KeyIndex.create();
  const location = { segmentId: 1, offset: 0, length: 130 };
  const scratch = new Uint8Array(16);
  const start = Bun.nanoseconds();
  for (let i = 0; i < keys; i++) {
    location.offset = i * 130;
    const n = scattered(i, keys);
    index.set(keysAs === "string" ? benchKey(n) : benchKeyBytes(n, scratch), location);
  }
  const insertNanos = Bun.nanoseconds() - start;
  const listStart = Bun.nanoseconds();
  index.list({ limit: 1 });
  return { index, insertNanos, listMs: (Bun.nanoseconds() - listStart) / 1e6 };
}

function buildMap(keys: number): { map: Map<string, MapEntry>; insertNanos: number } {
  const map = new Map<string, MapEntry>();
  const start = Bun.nanoseconds();
  for (let i = 0; i < keys; i++)
    map.set(benchKey(scattered(i, keys)), { segmentId: 1, offset: i * 130, length: 130 });
  return { map, insertNanos: Bun.nanoseconds() - start };
}

async function settledRss(): Promise<number> {
  // The collector hands freed pages back to the kernel over a few passes.
  for (let i = 0; i < 3; i++) {
    Bun.gc(true);
    await Bun.sleep(300);
  }
  return process.memoryUsage().rss;
}

function lookupRate(keys: string[], lookup: (key: string) => unknown, expectFound: boolean): number {
  const start = Bun.nanoseconds();
  let found = 0;
  for (const key of keys) if (lookup(key) !== undefined) found++;
  const seconds = (Bun.nanoseconds() - start) / 1e9;
  if (found !== (expectFound ? keys.length : 0)) throw new Error(`lookups found ${found} of ${keys.length}`);
  return keys.length / seconds;
}

async function measureChild(structure: Structure, keys: number): Promise<ChildResult> {
  const lookupKeys = Array.from({ length: LOOKUPS }, (_, i) => benchKey(scattered(i * 13, keys)));
  const missingKeys = Array.from({ length: LOOKUPS }, (_, i) => benchKey(keys + i));
  if (structure === "map") {
    // A first, small build compiles the code and sets up the allocator: memory a process pays
    // once, whatever the number of keys (about 14 MiB for the index), not memory per key.
    buildMap(100_000);
    const before = await settledRss();
    const { map, insertNanos } = buildMap(keys);
    const after = await settledRss();
    return {
      structure,
      keys,
      bytesPerKey: (after - before) / keys,
      insertsPerSecond: keys / (insertNanos / 1e9),
      firstListingMs: 0,
      lookupsPerSecond: lookupRate(lookupKeys, (key) => map.get(key), true),
      missesPerSecond: lookupRate(missingKeys, (key) => map.get(key), false),
    };
  }
  buildIndex(100_000, "bytes");
  const before = await settledRss();
  const { index } = buildIndex(keys, "bytes");
  const after = await settledRss();
  const lookupsPerSecond = lookupRate(lookupKeys, (key) => index.get(key), true);
  const missesPerSecond = lookupRate(missingKeys, (key) => index.get(key), false);
  let start = Bun.nanoseconds();
  const bytes = index.serialize();
  const serializeMs = (Bun.nanoseconds() - start) / 1e6;
  start = Bun.nanoseconds();
  const loaded = KeyIndex.load(bytes);
  const loadMs = (Bun.nanoseconds() - start) / 1e6;
  if (loaded.size !== keys || loaded.get(benchKey(keys - 1))?.length !== 130)
    throw new Error("load lost keys");
  if (index.size !== keys) throw new Error("index lost keys");
  // Inserting string keys, as the Map does, in a second index.
  const timed = buildIndex(keys, "string");
  return {
    structure,
    keys,
    bytesPerKey: (after - before) / keys,
    insertsPerSecond: keys / (timed.insertNanos / 1e9),
    firstListingMs: timed.listMs,
    lookupsPerSecond,
    missesPerSecond,
    serializeMs,
    loadMs,
    serializedBytes: bytes.length,
  };
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
