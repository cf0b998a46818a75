// Where the compaction Worker's entry point is (src/engine/compaction-worker.ts, started by
// src/engine/copy-in-worker.ts). This file must stay beside src/main.ts: `bun build --compile`
// bundles all modules into one whose import.meta.url names the main entry at the root of the
// embedded files, and names the Worker entry by its path from the directory of the entry points
// (src/), so the same relative URL finds it when run from the sources and in dist/kvstore.
export const compactionWorkerUrl = new URL("./engine/compaction-worker.ts", import.meta.url);
