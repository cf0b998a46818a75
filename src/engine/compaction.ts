import { join } from "node:path";
import { type FileSystem, writeAll } from "./file-system.ts";
import type { KeyDir, Location } from "./keydir.ts";
import type { FaultInjector, Logger } from "./options.ts";
import { parseRecord } from "./record.ts";
import { Segment, segmentFileName } from "./segment.ts";
import { nextTurn, SLICE_NANOS } from "./slices.ts";
import type { StorageFailure } from "./storage-failure.ts";

// Compaction rewrites the live records of every sealed segment into new segments and deletes the
// old ones. Why each step is safe to crash after:
//
// 1. The store seals its active segment and starts the next one `gap` ids further on. Outputs
//    take the ids in between: older than every write made while compaction runs, newer than
//    every input. Replay goes in id order, so the newest record of a key still wins. Then it
//    fsyncs the inputs (with sync "interval" or "never" they may hold records not yet on
//    disk): step 5 needs their tombstones on disk before any copy is.
// 2. Outputs are written as `*.compacting` temp files and fsynced. A crash leaves temp files,
//    which open deletes; the inputs are untouched. A failed write or fdatasync fails the whole
//    compaction: its temp files are deleted and the inputs stay in use. An fdatasync error is
//    never retried (Linux reports a lost write-back once; the next call would return 0).
// 3. Each output is renamed to its segment name. A crash leaves the inputs plus some outputs:
//    the outputs repeat the newest records of the inputs, so replaying both gives the same index.
// 4. The index is pointed at the outputs (in short slices; both copies are valid meanwhile).
// 5. Inputs leave the index and their files are deleted oldest first (a reader streaming a
//    value out of one holds its own open file, which keeps the bytes until it closes). A crash leaves all or the newer
//    inputs: a tombstone in them is newer than any record it deletes that is still on disk, so
//    nothing comes back to life. That is also why compaction can drop every tombstone: all
//    older records go with the inputs.

const OUTPUT_BUFFER_BYTES = 1024 * 1024;
const TEMP_SUFFIX = ".compacting";

/** What the store hands to a compaction run, and the callbacks it needs from it. */
export interface CompactionPlan {
  fs: FileSystem;
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
  /** Latched when a failed step cannot be undone (copies that would outlive tombstones). */
  failure: StorageFailure;
  /** True once the store is closing: stop before the commit point. */
  aborted(): boolean;
  /** Flushes the open write batch, if any (see `yieldToEventLoop`). */
  flushWrites(): void;
  /** Runs `walk` when no other walk over the index (a snapshot being written) is under way. */
  exclusiveIndexWalk(walk: () => Promise<void>): Promise<void>;
  addSegment(segment: Segment): void;
  /** Takes the inputs out of use; the store then deletes their files (`deleteRetired`). */
  retireSegments(segments: Segment[]): void;
}

export interface CompactionResult {
  inputs: number;
  outputs: number;
  liveRecords: number;
  bytesBefore: number;
  bytesAfter: number;
  aborted: boolean;
}

/**
 * The records copied to outputs, as parallel arrays (a million small objects would keep the
 * garbage collector busy): the key, the Location object the index held for it then, and where
 * its copy is.
 */
interface Moves {
  keys: string[];
  locations: Location[];
  segmentIds: number[];
  offsets: number[];
}

export async function compact(plan: CompactionPlan): Promise<CompactionResult> {
  const outputs = new OutputWriter(plan);
  const moves: Moves = { keys: [], locations: [], segmentIds: [], offsets: [] };
  const result: CompactionResult = {
    inputs: plan.inputs.length,
    outputs: 0,
    liveRecords: 0,
    bytesBefore: plan.inputs.reduce((sum, s) => sum + s.size, 0),
    bytesAfter: 0,
    aborted: false,
  };
  try {
    await copyLiveRecords(plan, outputs, moves);
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
  const renamed: string[] = [];
  const opened: Segment[] = [];
  try {
    for (const output of finished) {
      const path = join(plan.dir, segmentFileName(output.id));
      plan.fs.rename(output.tempPath, path);
      renamed.push(path);
      plan.faults?.("compaction:output-renamed");
    }
    plan.fs.syncDirectory(plan.dir);
    for (const output of finished) opened.push(Segment.open(plan.fs, plan.dir, output.id, output.size));
  } catch (error) {
    // The index still points at the inputs: remove the copies, or they would outlive the
    // tombstones that later compactions drop and bring deleted keys back on the next open.
    for (const segment of opened) segment.close();
    try {
      for (const path of renamed.reverse()) plan.fs.remove(path);
      await outputs.discard();
      plan.fs.syncDirectory(plan.dir);
    } catch (cleanupError) {
      // Copies may stay on disk: no later compaction may drop tombstones, so stop everything.
      plan.failure.latch("removing the outputs of a failed compaction", cleanupError);
    }
    throw error;
  }
  for (const segment of opened) plan.addSegment(segment);

  // A snapshot being written must not see Locations change under it.
  await plan.exclusiveIndexWalk(async () => {
    plan.flushWrites();
    let sliceStart = Bun.nanoseconds();
    const { keys, locations, segmentIds, offsets } = moves;
    for (let i = 0; i < keys.length; i++) {
      plan.keydir.relocate(
        keys[i] as string,
        locations[i] as Location,
        segmentIds[i] as number,
        offsets[i] as number,
      );
      if ((i & 1023) === 1023 && Bun.nanoseconds() - sliceStart > SLICE_NANOS) {
        plan.keydir.settleRelocations();
        await yieldToEventLoop(plan);
        sliceStart = Bun.nanoseconds();
      }
    }
    plan.keydir.settleRelocations();
    plan.faults?.("compaction:relocated");
    dropUncopiedKeys(plan);
    // Still in the slice that began with a flush: no write batch is open, so none can put back
    // a location in an input from here on (every copied Location now names an output).
    plan.retireSegments(plan.inputs);
  });
  return {
    ...result,
    outputs: finished.length,
    liveRecords: moves.keys.length,
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
 * Lets reads and writes run between slices. The next slice begins by flushing the open write
 * batch, so no batch is open while a slice runs and the index it sees holds only writes that
 * reached the files: none of them can be rolled back under it.
 */
async function yieldToEventLoop(plan: CompactionPlan): Promise<void> {
  await nextTurn();
  plan.flushWrites();
}

/**
 * Deletes the files of retired inputs, oldest first (see step 5 at the top of this file), taking
 * each out of `segments` once it is gone, then makes the deletions durable. If it throws,
 * `segments` holds the ones still on disk.
 */
export function deleteRetired(
  fs: FileSystem,
  dir: string,
  segments: Segment[],
  faults: FaultInjector | null,
): void {
  segments.sort((a, b) => a.id - b.id);
  while (segments.length > 0) {
    fs.remove((segments[0] as Segment).path);
    segments.shift();
    faults?.("compaction:input-deleted");
  }
  fs.syncDirectory(dir);
}

/**
 * Copies the record of every index entry that points into an input. Walking the index rather
 * than the inputs reads only live records, and a Map iterator carries on correctly while writes
 * change the index between slices: an entry overwritten or added meanwhile points to the active
 * segment, not to an input, and is skipped.
 */
async function copyLiveRecords(plan: CompactionPlan, outputs: OutputWriter, moves: Moves): Promise<void> {
  const inputs = new Map(plan.inputs.map((input) => [input.id, input]));
  const inputBytes = new Map<number, Uint8Array>();
  let sliceStart = Bun.nanoseconds();
  let sinceCheck = 0;
  for (const [key, location] of plan.keydir.entries()) {
    const input = inputs.get(location.segmentId);
    if (input !== undefined) {
      let bytes = inputBytes.get(input.id);
      if (bytes === undefined) {
        bytes = input.allWritten();
        inputBytes.set(input.id, bytes);
      }
      const record = bytes.subarray(location.offset, location.offset + location.length);
      // A record damaged since open is not copied; dropUncopiedKeys reports its key.
      if (typeof parseRecord(record, 0, record.length) !== "string") {
        const placed = outputs.append(record);
        moves.keys.push(key);
        moves.locations.push(location);
        moves.segmentIds.push(placed.segmentId);
        moves.offsets.push(placed.offset);
      }
    }
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
  /** The background fdatasync under way on this output, if any. It never rejects: a failure
   * is kept in `OutputWriter.failure`. */
  syncing: Promise<void> | null;
}

/**
 * Writes output segments as temp files, fsynced off the event loop while the copy goes on; a
 * full output is sealed with a last fdatasync while the next one fills. The first error of any
 * write or fdatasync is kept and fails the compaction (`finish` throws it); nothing is retried.
 */
class OutputWriter {
  private current: OpenOutput | null = null;
  private nextId: number;
  private readonly buffer = new Uint8Array(OUTPUT_BUFFER_BYTES);
  private buffered = 0;
  private readonly started: FinishedOutput[] = [];
  private readonly seals: Promise<void>[] = [];
  private failure: { error: unknown } | null = null;

  constructor(private readonly plan: CompactionPlan) {
    this.nextId = plan.firstOutputId;
  }

  /** Appends one record; returns where it will be once the output is renamed into place. */
  append(record: Uint8Array): { segmentId: number; offset: number } {
    if (this.failure !== null) throw this.failure.error;
    let output = this.current;
    if (output !== null && output.size > 0 && output.size + record.length > this.plan.maxSegmentBytes) {
      this.seal(output);
      output = null;
    }
    output ??= this.start();
    const offset = output.size;
    if (this.buffered + record.length > this.buffer.length) this.writeBuffer(output);
    if (record.length > this.buffer.length) {
      writeAll(this.plan.fs, output.fd, record, output.size);
    } else {
      this.buffer.set(record, this.buffered);
      this.buffered += record.length;
    }
    output.size += record.length;
    return { segmentId: output.id, offset };
  }

  /** Seals the last output and waits until every output is on disk; throws the first failure. */
  async finish(): Promise<void> {
    if (this.current !== null) this.seal(this.current);
    await Promise.all(this.seals);
    if (this.failure !== null) throw this.failure.error;
  }

  /** Outputs in id order, all fsynced once `finish()` has resolved. */
  finishedOutputs(): FinishedOutput[] {
    return this.started;
  }

  /**
   * Closes every output and deletes every temp file (after an error or an abort). Never
   * throws: a temp file it cannot delete is reported, and the next open deletes it.
   */
  async discard(): Promise<void> {
    const unsealed = this.current;
    this.current = null;
    if (unsealed !== null) this.closeQuietly(unsealed);
    await Promise.allSettled(this.seals);
    for (const output of this.started) {
      try {
        this.plan.fs.remove(output.tempPath);
      } catch (error) {
        this.plan.logger.error(`could not delete ${output.tempPath}: ${String(error)}`);
      }
    }
  }

  private start(): OpenOutput {
    if (this.nextId > this.plan.lastOutputId) {
      const reserved = this.plan.lastOutputId - this.plan.firstOutputId + 1;
      throw new Error(`compaction needs more than the ${reserved} segment ids it reserved`);
    }
    const id = this.nextId++;
    const tempPath = join(this.plan.dir, segmentFileName(id) + TEMP_SUFFIX);
    const fd = this.plan.fs.open(tempPath, "create");
    const output: OpenOutput = { id, tempPath, fd, size: 0, syncing: null };
    this.started.push(output);
    this.current = output;
    return output;
  }

  /**
   * Writes the buffer out and starts an fdatasync if none is under way. Syncing as it goes
   * keeps little dirty data in the page cache: on ext4 a durable write's fsync may have to
   * flush it too, so a large backlog would stall the store's own writes.
   */
  private writeBuffer(output: OpenOutput): void {
    if (this.buffered === 0) return;
    writeAll(this.plan.fs, output.fd, this.buffer.subarray(0, this.buffered), output.size - this.buffered);
    this.buffered = 0;
    if (output.syncing === null) {
      const syncing = this.datasync(output).finally(() => {
        if (output.syncing === syncing) output.syncing = null;
      });
      output.syncing = syncing;
    }
  }

  /** Writes what is buffered for `output`, then fdatasyncs and closes it in the background. */
  private seal(output: OpenOutput): void {
    this.current = null;
    try {
      this.writeBuffer(output);
    } catch (error) {
      this.closeQuietly(output);
      throw error;
    }
    const sealed = (async () => {
      try {
        await output.syncing;
        // One fdatasync after the last write: only its success says every byte is on disk.
        if (this.failure === null) await this.datasync(output);
      } finally {
        this.closeQuietly(output);
      }
      if (this.failure === null) this.plan.faults?.("compaction:output-written");
    })();
    // A fault injected above is kept like an I/O error; finish() reports it.
    this.seals.push(sealed.catch((error) => this.keepFailure(error)));
  }

  private async datasync(output: OpenOutput): Promise<void> {
    try {
      await this.plan.fs.datasyncInBackground(output.fd);
    } catch (error) {
      this.keepFailure(error);
    }
  }

  private keepFailure(error: unknown): void {
    this.failure ??= { error };
  }

  private closeQuietly(output: OpenOutput): void {
    try {
      this.plan.fs.close(output.fd);
    } catch (error) {
      this.plan.logger.error(`could not close ${output.tempPath}: ${String(error)}`);
    }
  }
}
