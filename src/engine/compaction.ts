import { closeSync, fdatasync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { syncDirectory } from "./directory.ts";
import type { KeyDir, Location } from "./keydir.ts";
import type { FaultInjector, Logger } from "./options.ts";
import { Op, parseRecord } from "./record.ts";
import { findNextRecord } from "./scan.ts";
import { Segment, segmentFileName } from "./segment.ts";

// Compaction rewrites the live records of every sealed segment into new segments and deletes the
// old ones. Why each step is safe to crash after:
//
// 1. The store seals its active segment and starts the next one `gap` ids further on. Outputs
//    take the ids in between: older than every write made while compaction runs, newer than
//    every input. Replay goes in id order, so the newest record of a key still wins.
// 2. Outputs are written as `*.compacting` temp files and fsynced. A crash leaves temp files,
//    which open deletes; the inputs are untouched.
// 3. Each output is renamed to its segment name. A crash leaves the inputs plus some outputs:
//    the outputs repeat the newest records of the inputs, so replaying both gives the same index.
// 4. The index is pointed at the outputs (in short slices; both copies are valid meanwhile).
// 5. Inputs are deleted oldest first. A crash leaves the newer inputs: a tombstone in them is
//    newer than any record it deletes that is still on disk, so nothing comes back to life.
//    That is also why compaction can drop every tombstone: all older records go with the inputs.

const SLICE_NANOS = 3_000_000;
const OUTPUT_BUFFER_BYTES = 1024 * 1024;
const TEMP_SUFFIX = ".compacting";

/** What the store hands to a compaction run, and the callbacks it needs from it. */
export interface CompactionPlan {
  dir: string;
  keydir: KeyDir;
  /** Sealed segments, oldest first. */
  inputs: Segment[];
  /** Ids free for outputs: [firstOutputId, lastOutputId]. */
  firstOutputId: number;
  lastOutputId: number;
  maxSegmentBytes: number;
  logger: Logger;
  faults: FaultInjector | null;
  /** True once the store is closing: stop before the commit point. */
  aborted(): boolean;
  /** Resolves when no write batch is open (see `yieldToEventLoop`). */
  writesSettled(): Promise<void>;
  addSegment(segment: Segment): void;
  removeSegment(segment: Segment): void;
}

export interface CompactionResult {
  inputs: number;
  outputs: number;
  liveRecords: number;
  bytesBefore: number;
  bytesAfter: number;
  aborted: boolean;
}

/** One record copied to an output: the Location object that the index held for it then. */
interface Move {
  key: string;
  location: Location;
  segmentId: number;
  offset: number;
}

export async function compact(plan: CompactionPlan): Promise<CompactionResult> {
  const outputs = new OutputWriter(plan);
  const moves: Move[] = [];
  const result: CompactionResult = {
    inputs: plan.inputs.length,
    outputs: 0,
    liveRecords: 0,
    bytesBefore: plan.inputs.reduce((sum, s) => sum + s.size, 0),
    bytesAfter: 0,
    aborted: false,
  };
  try {
    for (const input of plan.inputs) {
      await copyLiveRecords(plan, input, outputs, moves);
      if (plan.aborted()) break;
    }
    await outputs.finish();
  } catch (error) {
    await outputs.discard();
    throw error;
  }
  if (plan.aborted()) {
    await outputs.discard();
    return { ...result, aborted: true };
  }

  // Commit: from here on a crash is safe at every step (see the top of this file).
  const finished = outputs.finishedOutputs();
  for (const output of finished) {
    renameSync(output.tempPath, join(plan.dir, segmentFileName(output.id)));
    plan.faults?.("compaction:output-renamed");
  }
  syncDirectory(plan.dir);
  for (const output of finished) plan.addSegment(Segment.open(plan.dir, output.id, output.size));

  let sliceStart = Bun.nanoseconds();
  for (let i = 0; i < moves.length; i++) {
    const move = moves[i] as Move;
    plan.keydir.relocate(move.key, move.location, move.segmentId, move.offset);
    if ((i & 1023) === 1023 && Bun.nanoseconds() - sliceStart > SLICE_NANOS) {
      await yieldToEventLoop(plan);
      sliceStart = Bun.nanoseconds();
    }
  }
  plan.faults?.("compaction:relocated");
  dropUncopiedKeys(plan);

  // A write batch that failed would put back the Location objects it replaced. Those that were
  // copied now point at outputs; wait for open batches so none can bring back an input location.
  await plan.writesSettled();
  for (const input of plan.inputs) {
    plan.removeSegment(input);
    rmSync(input.path, { force: true });
    plan.faults?.("compaction:input-deleted");
  }
  syncDirectory(plan.dir);
  return {
    ...result,
    outputs: finished.length,
    liveRecords: moves.length,
    bytesAfter: finished.reduce((sum, o) => sum + o.size, 0),
  };
}

/**
 * Every live record of the inputs was copied, so no index entry should still point into one,
 * unless its record was damaged after the store opened (the copy skips records that fail their
 * CRC). The live-byte count tells at no cost; only then is the index searched.
 */
function dropUncopiedKeys(plan: CompactionPlan): void {
  const inputIds = new Set(plan.inputs.map((input) => input.id));
  if (plan.inputs.every((input) => plan.keydir.liveBytesOf(input.id) === 0)) return;
  for (const [key, location] of plan.keydir.entries()) {
    if (!inputIds.has(location.segmentId)) continue;
    plan.keydir.delete(key);
    plan.logger.error(
      `dropped key ${JSON.stringify(key)}: its record in ${segmentFileName(location.segmentId)} at offset ` +
        `${location.offset} is damaged and compaction removes that segment`,
    );
  }
}

/**
 * Lets reads and writes run between slices. It resumes from a macrotask, after every microtask
 * has run: a write batch is flushed in the microtask after its first write, so no batch is
 * open while a slice runs, and the index the slice sees holds only flushed writes.
 */
async function yieldToEventLoop(plan: CompactionPlan): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  await plan.writesSettled();
}

async function copyLiveRecords(plan: CompactionPlan, input: Segment, outputs: OutputWriter, moves: Move[]) {
  const size = input.size;
  if (size === 0) return;
  const bytes = input.bytes(0, size);
  const keys = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  let sliceStart = Bun.nanoseconds();
  let sinceCheck = 0;
  while (at < size) {
    const record = parseRecord(bytes, at, size);
    if (typeof record === "string") {
      // Damage was counted when the store opened; skip to the next valid record.
      const next = findNextRecord(bytes, at + 1, size);
      if (next === -1) break;
      at = next;
      continue;
    }
    if (record.op === Op.Set) {
      const key = keys.toString("utf8", record.keyStart, record.keyStart + record.keyBytes);
      const location = plan.keydir.get(key);
      if (location !== undefined && location.segmentId === input.id && location.offset === at) {
        const placed = outputs.append(bytes.subarray(at, at + record.length));
        moves.push({ key, location, segmentId: placed.segmentId, offset: placed.offset });
      }
    }
    at += record.length;
    if (++sinceCheck === 256) {
      sinceCheck = 0;
      if (Bun.nanoseconds() - sliceStart > SLICE_NANOS) {
        await yieldToEventLoop(plan);
        if (plan.aborted()) return;
        sliceStart = Bun.nanoseconds();
      }
    }
  }
}

interface FinishedOutput {
  id: number;
  tempPath: string;
  size: number;
}

interface OpenOutput extends FinishedOutput {
  fd: number;
}

/**
 * Writes output segments as temp files. A full output is fsynced off the event loop (a large
 * file can take a while to reach the disk) while the next one fills.
 */
class OutputWriter {
  private current: OpenOutput | null = null;
  private nextId: number;
  private readonly buffer = new Uint8Array(OUTPUT_BUFFER_BYTES);
  private buffered = 0;
  private readonly started: FinishedOutput[] = [];
  private readonly syncs: Promise<void>[] = [];

  constructor(private readonly plan: CompactionPlan) {
    this.nextId = plan.firstOutputId;
  }

  /** Appends one record; returns where it will be once the output is renamed into place. */
  append(record: Uint8Array): { segmentId: number; offset: number } {
    let output = this.current;
    if (output !== null && output.size > 0 && output.size + record.length > this.plan.maxSegmentBytes) {
      this.seal(output);
      output = null;
    }
    output ??= this.start();
    const offset = output.size;
    if (this.buffered + record.length > this.buffer.length) this.writeBuffer(output);
    if (record.length > this.buffer.length) {
      writeAll(output.fd, record, output.size);
    } else {
      this.buffer.set(record, this.buffered);
      this.buffered += record.length;
    }
    output.size += record.length;
    return { segmentId: output.id, offset };
  }

  /** Seals the last output and waits until every output is on disk. */
  async finish(): Promise<void> {
    if (this.current !== null) this.seal(this.current);
    await Promise.all(this.syncs);
  }

  /** Outputs in id order, all fsynced once `finish()` has resolved. */
  finishedOutputs(): FinishedOutput[] {
    return this.started;
  }

  /** Deletes every temp file (after an error or an abort). */
  async discard(): Promise<void> {
    if (this.current !== null) this.seal(this.current);
    await Promise.allSettled(this.syncs);
    for (const output of this.started) rmSync(output.tempPath, { force: true });
  }

  private start(): OpenOutput {
    if (this.nextId > this.plan.lastOutputId) {
      const reserved = this.plan.lastOutputId - this.plan.firstOutputId + 1;
      throw new Error(`compaction needs more than the ${reserved} segment ids it reserved`);
    }
    const id = this.nextId++;
    const tempPath = join(this.plan.dir, segmentFileName(id) + TEMP_SUFFIX);
    const output = { id, tempPath, fd: openSync(tempPath, "wx"), size: 0 };
    this.started.push(output);
    this.current = output;
    return output;
  }

  private writeBuffer(output: OpenOutput): void {
    if (this.buffered === 0) return;
    writeAll(output.fd, this.buffer.subarray(0, this.buffered), output.size - this.buffered);
    this.buffered = 0;
  }

  private seal(output: OpenOutput): void {
    this.writeBuffer(output);
    this.current = null;
    const synced = new Promise<void>((resolve, reject) => {
      fdatasync(output.fd, (error) => {
        closeSync(output.fd);
        if (error) reject(error);
        else resolve();
      });
    }).then(() => this.plan.faults?.("compaction:output-written"));
    // Failures surface from finish() or discard(); do not also report them as unhandled.
    synced.catch(() => {});
    this.syncs.push(synced);
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}
