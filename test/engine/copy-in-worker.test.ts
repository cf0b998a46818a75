// The main thread's side of the compaction Worker (copy-in-worker.ts) when the Worker itself
// misbehaves; a copy that runs as it should is in compaction.test.ts.
import { describe, expect, it } from "bun:test";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CopyJob } from "../../src/engine/compaction-copy.ts";
import { CopyWorker, type WorkerCopyHooks } from "../../src/engine/copy-in-worker.ts";
import { encodeRecord, Op, recordLength } from "../../src/engine/record.ts";
import { SlicePacer } from "../../src/engine/slices.ts";
import { seededValue, tempDir } from "../helpers.ts";

const CRASHING_WORKER = new URL("../fixtures/crashing-compaction-worker.ts", import.meta.url);
const UNLOADABLE_WORKERS = {
  // As in a program that bundles kvstore with `bun build --compile`: the entry is not there.
  "a missing module": new URL("../fixtures/no-such-compaction-worker.ts", import.meta.url),
  "a module that throws as it loads": new URL("../fixtures/unloadable-compaction-worker.ts", import.meta.url),
};

function workerThreads(): string[] {
  return readdirSync("/proc/self/task")
    .map((task) => readFileSync(`/proc/self/task/${task}/comm`, "utf8").trim())
    .filter((name) => name === "Worker");
}

/** A job of no records; `death` tells the crashing Worker how to die. */
function emptyJob(dir: string, death: "exit" | "throw" | "exit-when-idle"): CopyJob {
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

const hooks: WorkerCopyHooks = {
  faults: null,
  reportError() {},
  stopRequested: () => false,
  pacer: new SlicePacer(null),
  foregroundCount: () => 0,
};

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

  for (const [what, url] of Object.entries(UNLOADABLE_WORKERS)) {
    it(`copies on the main thread when the Worker cannot start (${what}), and says so once`, async () => {
      const dir = tempDir();
      const length = recordLength(3, 20);
      const input = new Uint8Array(2 * length);
      encodeRecord(input, 0, Op.Set, "one", 3, seededValue(1, 20));
      encodeRecord(input, length, Op.Set, "two", 3, seededValue(2, 20));
      writeFileSync(join(dir, "input.dat"), input);
      const reported: string[] = [];
      const copier = new CopyWorker(url);
      for (let attempt = 0; attempt < 2; attempt++) {
        const job: CopyJob = {
          ...emptyJob(dir, "exit"),
          inputPaths: [join(dir, "input.dat")],
          count: 2,
          inputIndexes: new Uint32Array(2),
          offsets: Uint32Array.from([length, 0]),
          lengths: Uint32Array.from([length, length]),
          firstOutputId: 3 + 2 * attempt,
          lastOutputId: 4 + 2 * attempt,
        };
        const result = await copier.copy(job, { ...hooks, reportError: (message) => reported.push(message) });
        if (result === null) throw new Error("stopped");
        expect(result.outputs).toHaveLength(1);
        const output = readFileSync(result.outputs[0]?.tempPath as string);
        expect(output).toEqual(Buffer.concat([input.subarray(length), input.subarray(0, length)]));
        expect(copier.inWorker).toBe(false);
        expect(workerThreads()).toEqual([]);
      }
      expect(reported).toEqual([expect.stringContaining("compaction worker could not start")]);
      await copier.terminate();
    });
  }

  it("has unmapped its inputs once a copy is done: deleting them frees their space", async () => {
    const dir = tempDir();
    const length = recordLength(3, 20);
    const input = new Uint8Array(length);
    encodeRecord(input, 0, Op.Set, "one", 3, seededValue(1, 20));
    const inputPath = join(dir, "input.dat");
    writeFileSync(inputPath, input);
    const copier = new CopyWorker();
    const job: CopyJob = {
      ...emptyJob(dir, "exit"),
      inputPaths: [inputPath],
      count: 1,
      inputIndexes: new Uint32Array(1),
      offsets: new Uint32Array(1),
      lengths: Uint32Array.from([length]),
    };
    expect(await copier.copy(job, hooks)).not.toBeNull();
    expect(copier.inWorker).toBe(true);
    // The Worker stays, idle: nothing in it would start a garbage collection that unmaps.
    rmSync(inputPath);
    const maps = readFileSync("/proc/self/maps", "utf8").split("\n");
    expect(maps.filter((line) => line.includes(inputPath))).toEqual([]);
    await copier.terminate();
  });

  it("starts a new Worker for the next copy when the idle one has ended", async () => {
    const dir = tempDir();
    const copier = new CopyWorker(CRASHING_WORKER);
    for (let attempt = 0; attempt < 2; attempt++) {
      expect(await copier.copy(emptyJob(dir, "exit-when-idle"), hooks)).not.toBeNull();
      // The thread ends on its own, while no copy waits for it.
      while (copier.threadRunning) await Bun.sleep(5);
    }
    await copier.terminate();
  });
});
