// The copy routine of compaction on its own (compaction-copy.ts), as the Worker and the main
// thread run it: the whole-store behaviour is in compaction.test.ts.
import { describe, expect, it } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type CopyJob, copyRecords, DAMAGED } from "../../src/engine/compaction-copy.ts";
import { realFileSystem } from "../../src/engine/file-system.ts";
import { encodeRecord, Op, recordLength } from "../../src/engine/record.ts";
import { SlicePacer } from "../../src/engine/slices.ts";
import { seededValue, tempDir } from "../helpers.ts";

/** A segment file of `count` records of 50-byte values; returns their offsets and lengths. */
function writeSegment(path: string, count: number): { offsets: number[]; lengths: number[] } {
  const length = recordLength(5, 50);
  const bytes = new Uint8Array(count * length);
  for (let i = 0; i < count; i++)
    encodeRecord(bytes, i * length, Op.Set, `k${String(i).padStart(4, "0")}`, 5, seededValue(i, 50));
  writeFileSync(path, bytes);
  return { offsets: Array.from({ length: count }, (_, i) => i * length), lengths: Array(count).fill(length) };
}

const hooks = {
  fs: realFileSystem,
  reportError() {},
  faults: null,
  stopRequested: () => false,
  pacer: new SlicePacer(null),
};

describe("copyRecords", () => {
  it("copies records in the order given, passes over an empty input that has none", async () => {
    const dir = tempDir();
    // An empty segment can be among the inputs; mapping it would fail (mmap refuses length 0).
    writeFileSync(join(dir, "empty.dat"), new Uint8Array(0));
    const { offsets, lengths } = writeSegment(join(dir, "full.dat"), 100);
    const order = [...offsets.keys()].reverse();
    const job: CopyJob = {
      dir,
      inputPaths: [join(dir, "empty.dat"), join(dir, "full.dat")],
      count: order.length,
      inputIndexes: new Uint32Array(order.length).fill(1),
      offsets: Uint32Array.from(order.map((i) => offsets[i] as number)),
      lengths: Uint32Array.from(order.map((i) => lengths[i] as number)),
      firstOutputId: 7,
      lastOutputId: 9,
      maxSegmentBytes: 4096,
    };
    const result = await copyRecords(job, hooks);
    if (result === null) throw new Error("stopped");
    expect(result.outputs.map((output) => output.id)).toEqual([7, 8]);
    expect([...result.outputIndexes].every((index) => index !== DAMAGED)).toBe(true);
    const input = readFileSync(join(dir, "full.dat"));
    const outputs = result.outputs.map((output) => readFileSync(output.tempPath));
    order.forEach((recordIndex, i) => {
      const output = outputs[result.outputIndexes[i] as number] as Buffer;
      const at = result.outputOffsets[i] as number;
      const from = offsets[recordIndex] as number;
      expect(output.subarray(at, at + (lengths[recordIndex] as number))).toEqual(
        input.subarray(from, from + (lengths[recordIndex] as number)),
      );
    });
    expect(readdirSync(dir).filter((name) => name.endsWith(".compacting"))).toHaveLength(2);
  });

  it("stops when asked while its last outputs are sealed: no result, no temp file", async () => {
    const dir = tempDir();
    const { offsets, lengths } = writeSegment(join(dir, "input.dat"), 100);
    const job: CopyJob = {
      dir,
      inputPaths: [join(dir, "input.dat")],
      count: offsets.length,
      inputIndexes: new Uint32Array(offsets.length),
      offsets: Uint32Array.from(offsets),
      lengths: Uint32Array.from(lengths),
      firstOutputId: 7,
      lastOutputId: 9,
      maxSegmentBytes: 4096,
    };
    // As when the store closes from its fault injector, or during the last fdatasync: every
    // record is written by then, so the copy's checks between records are all behind it.
    let stop = false;
    const faults = (point: string) => {
      if (point === "compaction:output-written") stop = true;
    };
    expect(await copyRecords(job, { ...hooks, faults, stopRequested: () => stop })).toBeNull();
    expect(stop).toBe(true);
    expect(readdirSync(dir)).toEqual(["input.dat"]);
  });
});
