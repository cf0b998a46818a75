// Engine benchmark: kvstore beside bun:sqlite (WAL) and lmdb-js doing the same work in the same run.
// Usage: bun bench/engine.ts [--keys N]   (default 200,000 keys of 16 bytes, 100-byte values;
// the lmdb-js reads use 100,000 keys whatever N is)
import { Database } from "bun:sqlite";
import { closeSync, fdatasyncSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { open as openLmdb, type RootDatabase } from "lmdb";
import { KVStore, type KVStoreOptions, silentLogger } from "../src/index.ts";
import {
  batched,
  benchKey,
  concurrent,
  type Measurement,
  printTable,
  type Row,
  randomValue,
  sequential,
  tempDir,
  tightLoop,
} from "./harness.ts";

const { values: args } = parseArgs({ options: { keys: { type: "string", default: "200000" } } });
const KEYS = Number(args.keys);
const VALUE = randomValue(100);
const DURABLE_SECONDS = 3;
const keys = Array.from({ length: KEYS }, (_, i) => benchKey(i));

async function withStore<T>(options: KVStoreOptions, body: (store: KVStore) => Promise<T>): Promise<T> {
  const dir = tempDir("kv-bench");
  const store = await KVStore.open(dir.path, { logger: silentLogger, ...options });
  try {
    return await body(store);
  } finally {
    await store.close();
    dir.remove();
  }
}

function withSqlite<T>(synchronous: "FULL" | "OFF", body: (put: (i: number) => void, db: Database) => T): T {
  const dir = tempDir("sqlite-bench");
  const db = new Database(join(dir.path, "kv.db"));
  db.run("PRAGMA journal_mode=WAL");
  db.run(`PRAGMA synchronous=${synchronous}`);
  db.run("CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID");
  const insert = db.prepare("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)");
  try {
    return body((i) => insert.run(keys[i % KEYS] as string, VALUE), db);
  } finally {
    db.close();
    dir.remove();
  }
}

/**
 * lmdb-js in its durable mode: every commit is synced before its put() resolves (`noSync: false`,
 * `overlappingSync: false`; by default lmdb-js resolves a put once committed and syncs later).
 * Values are stored as given (`encoding: "binary"`); string keys use its default ordered-binary
 * encoding. Puts issued in the same event-loop turn share one transaction, as kvstore's writes
 * share one fdatasync.
 */
const LMDB_DURABLE_OPTIONS = { encoding: "binary", noSync: false, overlappingSync: false } as const;

async function withLmdb<T>(body: (db: RootDatabase<Uint8Array, string>) => Promise<T>): Promise<T> {
  const dir = tempDir("lmdb-bench");
  const db = openLmdb<Uint8Array, string>({ path: join(dir.path, "kv.mdb"), ...LMDB_DURABLE_OPTIONS });
  try {
    return await body(db);
  } finally {
    await db.close();
    dir.remove();
  }
}

/** The floor for one durable write: append a record-sized buffer, then fdatasync. */
async function rawWriteFdatasync(): Promise<Measurement> {
  const dir = tempDir("raw-bench");
  const fd = openSync(join(dir.path, "raw.dat"), "w");
  const record = new Uint8Array(131);
  try {
    return await sequential(KEYS, DURABLE_SECONDS, () => {
      writeSync(fd, record);
      fdatasyncSync(fd);
    });
  } finally {
    closeSync(fd);
    dir.remove();
  }
}

async function durableRows(): Promise<Row[]> {
  const raw = await rawWriteFdatasync();
  const single = await withStore({ sync: "always" }, (s) =>
    sequential(KEYS, DURABLE_SECONDS, (i) => s.set(keys[i] as string, VALUE)),
  );
  const singleSqlite = await withSqlite("FULL", (put) => sequential(KEYS, DURABLE_SECONDS, put));
  const many = await withStore({ sync: "always" }, (s) =>
    concurrent(KEYS, 64, DURABLE_SECONDS * 2, (i) => s.set(keys[i] as string, VALUE)),
  );
  const manySqlite = await withSqlite("FULL", (put) => concurrent(KEYS, 64, DURABLE_SECONDS, put));
  const singleLmdb = await withLmdb((db) =>
    sequential(KEYS, DURABLE_SECONDS, (i) => db.put(keys[i] as string, VALUE)),
  );
  const manyLmdb = await withLmdb((db) =>
    concurrent(KEYS, 64, DURABLE_SECONDS * 2, (i) => db.put(keys[i] as string, VALUE)),
  );
  const most = await withStore({ sync: "always" }, (s) =>
    concurrent(KEYS, 1024, DURABLE_SECONDS * 2, (i) => s.set(keys[i] as string, VALUE)),
  );
  const mostLmdb = await withLmdb((db) =>
    concurrent(KEYS, 1024, DURABLE_SECONDS * 2, (i) => db.put(keys[i] as string, VALUE)),
  );
  return [
    { name: "durable write, 1 writer", kvstore: single, baseline: singleSqlite, baselineName: "sqlite FULL" },
    { name: "durable write, 1 writer", kvstore: single, baseline: raw, baselineName: "raw write+fdatasync" },
    { name: "durable write, 1 writer", kvstore: single, baseline: singleLmdb, baselineName: "lmdb-js sync" },
    { name: "durable write, 64 writers", kvstore: many, baseline: manySqlite, baselineName: "sqlite FULL" },
    { name: "durable write, 64 writers", kvstore: many, baseline: manyLmdb, baselineName: "lmdb-js sync" },
    { name: "durable write, 1,024 writers", kvstore: most, baseline: mostLmdb, baselineName: "lmdb-js sync" },
  ];
}

async function bufferedRows(): Promise<Row[]> {
  const oneAtATime = await withStore({ sync: "never" }, (s) =>
    sequential(KEYS, 60, (i) => s.set(keys[i] as string, VALUE)),
  );
  const oneAtATimeSqlite = await withSqlite("OFF", (put) => sequential(KEYS, 60, put));
  const inBatches = await withStore({ sync: "never" }, (s) =>
    batched(KEYS, 1000, (i) => s.set(keys[i] as string, VALUE)),
  );
  const inBatchesSqlite = await withSqlite("OFF", (put) => batched(KEYS, 1000, put));
  return [
    { name: "write, no fsync, awaited one by one", kvstore: oneAtATime, baseline: oneAtATimeSqlite },
    { name: "write, no fsync, batches of 1,000", kvstore: inBatches, baseline: inBatchesSqlite },
  ].map((row) => ({ ...row, baselineName: "sqlite OFF" }));
}

async function readRows(): Promise<Row[]> {
  const order = Uint32Array.from({ length: KEYS }, () => Math.floor(Math.random() * KEYS));
  const missing = Array.from({ length: KEYS }, (_, i) => `miss-${String(i).padStart(11, "0")}`);
  const kv = await withStore({ sync: "never" }, async (s) => {
    await batched(KEYS, 1000, (i) => s.set(keys[i] as string, VALUE));
    const hit = tightLoop(KEYS, (i) => {
      if (s.get(keys[order[i] as number] as string) === null) throw new Error("lost a key");
    });
    const miss = tightLoop(KEYS, (i) => s.get(missing[i] as string));
    return { hit, miss };
  });
  const sqlite = withSqlite("OFF", (put, db) => {
    db.transaction(() => {
      for (let i = 0; i < KEYS; i++) put(i);
    })();
    const select = db.prepare("SELECT value FROM kv WHERE key = ?");
    const hit = tightLoop(KEYS, (i) => {
      if (select.get(keys[order[i] as number] as string) === null) throw new Error("lost a key");
    });
    const miss = tightLoop(KEYS, (i) => select.get(missing[i] as string));
    return { hit, miss };
  });
  return [
    { name: "random read, existing keys", kvstore: kv.hit, baseline: sqlite.hit, baselineName: "sqlite" },
    { name: "read, missing keys", kvstore: kv.miss, baseline: sqlite.miss, baselineName: "sqlite" },
  ];
}

/** kvstore `get` beside lmdb-js `get` on 100,000 keys, both with the same random order. */
async function lmdbReadRows(): Promise<Row[]> {
  const count = 100_000;
  const readKeys = Array.from({ length: count }, (_, i) => benchKey(i));
  const order = Uint32Array.from({ length: count }, () => Math.floor(Math.random() * count));
  const missing = Array.from({ length: count }, (_, i) => `miss-${String(i).padStart(11, "0")}`);
  const kv = await withStore({ sync: "never" }, async (s) => {
    await batched(count, 1000, (i) => s.set(readKeys[i] as string, VALUE));
    const hit = tightLoop(count, (i) => {
      if (s.get(readKeys[order[i] as number] as string) === null) throw new Error("lost a key");
    });
    const miss = tightLoop(count, (i) => s.get(missing[i] as string));
    return { hit, miss };
  });
  const lmdb = await withLmdb(async (db) => {
    let last: Promise<boolean> | undefined;
    for (let i = 0; i < count; i++) last = db.put(readKeys[i] as string, VALUE);
    await last;
    const hit = tightLoop(count, (i) => {
      if (db.get(readKeys[order[i] as number] as string) === undefined) throw new Error("lost a key");
    });
    const miss = tightLoop(count, (i) => db.get(missing[i] as string));
    return { hit, miss };
  });
  return [
    { name: "random read, existing keys", kvstore: kv.hit, baseline: lmdb.hit, baselineName: "lmdb-js" },
    { name: "read, missing keys", kvstore: kv.miss, baseline: lmdb.miss, baselineName: "lmdb-js" },
  ];
}

async function memoryPerKey(): Promise<string> {
  const child = Bun.spawn([process.execPath, join(import.meta.dir, "memory.ts")], { stdout: "pipe" });
  const output = await new Response(child.stdout).text();
  await child.exited;
  return output.trim();
}

console.log(`kvstore engine benchmark: ${KEYS.toLocaleString("en-US")} keys of 16 bytes, 100-byte values`);
console.log(`Bun ${Bun.version}, ${navigator.hardwareConcurrency} cores, ${new Date().toISOString()}`);
printTable(
  "Durable writes (kvstore sync always, sqlite synchronous=FULL, lmdb-js noSync: false and overlappingSync: false)",
  await durableRows(),
);
printTable("Writes without fsync (kvstore sync never, sqlite synchronous=OFF)", await bufferedRows());
printTable("Reads", await readRows());
printTable("Reads beside lmdb-js, 100,000 keys", await lmdbReadRows());
console.log(`\n### Memory\n\n${await memoryPerKey()}`);
