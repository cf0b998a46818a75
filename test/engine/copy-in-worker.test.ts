// The main thread's side of the compaction Worker (copy-in-worker.ts) when the Worker itself
// misbehaves; a copy that runs as it should is in compaction.test.ts.
import { describe, expect, it } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import type { CopyJob } from "../../src/engine/compaction-copy.ts";
import { CopyWorker, type WorkerCopyHooks } from "../../src/engine/copy-in-worker.ts";
import { tempDir } from "../helpers.ts";

const CRASHING_WORKER = new URL("../fixtures/crashing-compaction-worker.ts", import.meta.url);

function workerThreads(): string[] {
  return readdirSync("/proc/self/task")
    .map((task) => readFileSync(`/proc/self/task/${task}/comm`, "utf8").trim())
    .filter((name) => name === "Worker");
}

/** A job of no records; `death` tells the crashing Worker how to die. */
function emptyJob(dir: string, death: "exit" | "throw"): CopyJob {
  return {
    dir,
    inputPaths: [death],
    count: 0,
    inputIndexes: new Uint32Array(0),
    offsets: new Uint32Array(0),
    lengths: new Uint32Array(0),
    firstOutputId: 3,
    lastOutputId: 5,
    maxSegmentBytes: 4096,
  };
}

const hooks: WorkerCopyHooks = { faults: null, reportError() {}, stopRequested: () => false };

describe("CopyWorker", () => {
  for (const [death, error] of [
    ["exit", /compaction worker exited with code 9 mid-copy/],
    ["throw", /compaction worker failed: .*a bug in the copy/s],
  ] as const) {
    it(`rejects a copy whose Worker thread dies (${death}), deletes its temp files, starts anew`, async () => {
      const dir = tempDir();
      const copier = new CopyWorker(CRASHING_WORKER);
      // Each copy starts a new Worker: the one that died is not reused.
      for (let attempt = 0; attempt < 2; attempt++) {
        await expect(copier.copy(emptyJob(dir, death), hooks)).rejects.toThrow(error);
        expect(readdirSync(dir)).toEqual([]);
        expect(workerThreads()).toEqual([]);
      }
      await copier.terminate();
    });
  }
});
