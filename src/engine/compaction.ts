import { join } from "node:path";
import { type CopyJob, type CopyResult, copyRecords, DAMAGED, removeTempFiles } from "./compaction-copy.ts";
import type { CopyWorker } from "./copy-in-worker.ts";
import type { FileSystem } from "./file-system.ts";
import type { KeyIndex } from "./index/key-index.ts";
import type { IndexWalks } from "./index-walks.ts";
import type { FaultInjector, Logger } from "./options.ts";
import { Segment, segmentFileName } from "./segment.ts";
import { SlicePacer } from "./slices.ts";
import type { StorageFailure } from "./storage-failure.ts";
import type { GroupCommitter } from "./writer.ts";

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

// The copy of step 2 runs in a Worker when the store uses the real file system (see
// copy-in-worker.ts), else on the main thread in slices; its code is compaction-copy.ts. The
// main thread walks the index to choose the records, and does steps 1 and 3 to 5 itself.

/** Records collected per growth of the job's typed arrays, at first. */
const INITIAL_JOB_RECORDS = 4096;

/** What a compaction changes in the store's set of segments (SegmentSet). */
export interface CompactionSegments {
  /** Puts an output in use. */
  add(segment: Segment): void;
  /** Takes the inputs out of use; their files are then deleted (`deleteRetired`). */
  retire(segments: Segment[]): void;
}

/** What the store hands to a compaction run: its inputs and the parts of the store it works with. */
export interface CompactionPlan {
  fs: FileSystem;
  dir: string;
  index: KeyIndex;
  /** Sealed segments, oldest first. */
  inputs: Segment[];
  /** Ids free for outputs: [firstOutputId, lastOutputId]. */
  firstOutputId: number;
  lastOutputId: number;
  maxSegmentBytes: number;
  /** Where to copy: in this Worker (with the real file system, whatever `fs` is), or on this
   * thread when null. */
  copyWorker: CopyWorker | null;
  logger: Logger;
  faults: FaultInjector | null;
  /** Latched when a failed step cannot be undone (copies that would outlive tombstones). */
  failure: StorageFailure;
  /** True once the store is closing: stop before the commit point. */
  aborted(): boolean;
  /**
   * True once the store has written so many segments since the compaction began that the next
   * compaction is due already: the compaction then stops giving way to writes (slices.ts), or
   * under a steady stream of them it would fall ever further behind (files piling up until the
   * process ran out of descriptors, with 16 KiB segments).
   */
  fallingBehind(): boolean;
  /** The store's write path: its open batch is flushed before each slice (see `yieldToEventLoop`),
   * and its count of flushed batches paces the slices (slices.ts). */
  writes: Pick<GroupCommitter, "flushNow" | "batches">;
  /** The relocation runs when no other walk over the index (a snapshot being written) is under way. */
  indexWalks: IndexWalks;
  segments: CompactionSegments;
}

export interface CompactionResult {
  inputs: number;
  outputs: number;
  liveRecords: number;
  bytesBefore: number;
  bytesAfter: number;
  aborted: boolean;
  /** Where the copy ran. */
  copiedIn: "worker thread" | "main thread";
}

/**
 * The live records of the inputs, collected by walking the index: each one's key (record i's
 * key is `keyBytes[keyEnds[i - 1], keyEnds[i])`, keyEnds[-1] being 0) and where it was, kept for
 * the relocation, and, in the job's typed arrays, where the record is. Keys rather than entry
 * ids: a delete whose batch fails is rolled back by setting the key again, under a new id, at
 * the record collected, and relocation must still move it.
 */
interface LiveRecords {
  keyBytes: Uint8Array;
  keyEnds: Uint32Array;
  /** Where record i was when collected: the job's arrays move to the Worker, these stay. */
  segmentIds: Uint32Array;
  offsets: Uint32Array;
  job: CopyJob;
}

export async function compact(plan: CompactionPlan): Promise<CompactionResult> {
  const result: CompactionResult = {
    inputs: plan.inputs.length,
    outputs: 0,
    liveRecords: 0,
    bytesBefore: plan.inputs.reduce((sum, s) => sum + s.size, 0),
    bytesAfter: 0,
    aborted: false,
    copiedIn: plan.copyWorker !== null ? "worker thread" : "main thread",
  };
  // Writes pace the compaction only while it keeps up (a count that stops changing ends it).
  const foregroundCount = () => (plan.fallingBehind() ? -1 : plan.writes.batches);
  const pacer = new SlicePacer(foregroundCount);
  const live = await collectLiveRecords(plan, pacer);
  const copied = plan.aborted() ? null : await copy(plan, live.job, pacer, foregroundCount);
  if (copied === null || plan.aborted()) {
    if (copied !== null) removeTempFiles(plan.fs, copied.outputs, (message) => plan.logger.error(message));
    return { ...result, aborted: true };
  }

  // Commit: from here on a crash is safe at every step (see the top of this file).
  const finished = copied.outputs;
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
      removeTempFiles(plan.fs, finished, (message) => plan.logger.error(message));
      plan.fs.syncDirectory(plan.dir);
    } catch (cleanupError) {
      // Copies may stay on disk: no later compaction may drop tombstones, so stop everything.
      plan.failure.latch("removing the outputs of a failed compaction", cleanupError);
    }
    throw error;
  }
  for (const segment of opened) plan.segments.add(segment);

  // Never beside a snapshot or backup capture (they take the same turn).
  await plan.indexWalks.exclusive(async () => {
    // Why a write batch never holds an undo entry that this moves: each slice below begins with
    // the open batch flushed (yieldToEventLoop, startSlice), and a batch is undone only while it is flushed,
    // which is synchronous (its write and, with sync "always", its fdatasync). So a batch that
    // saw a key's location before a slice is settled before the slice moves that location, and
    // a batch opened after it notes the moved location. (The alternative, patching the undo
    // entries of batches in flight, would be needed only if a flush could span a slice.)
    plan.writes.flushNow();
    const { keyBytes, keyEnds, segmentIds, offsets, job } = live;
    const { outputIndexes, outputOffsets } = copied;
    for (let i = 0; i < job.count; i++) {
      const outputIndex = outputIndexes[i] as number;
      if (outputIndex !== DAMAGED) {
        // Moves the entry only if it still points at the copied record: an overwrite or a
        // delete made meanwhile wins. Live bytes move with it.
        plan.index.relocate(
          keyBytes.subarray(i === 0 ? 0 : (keyEnds[i - 1] as number), keyEnds[i] as number),
          segmentIds[i] as number,
          offsets[i] as number,
          plan.firstOutputId + outputIndex,
          outputOffsets[i] as number,
        );
      }
      if ((i & 63) === 63 && pacer.due()) {
        await yieldToEventLoop(plan, pacer);
        startSlice(plan);
      }
    }
    plan.faults?.("compaction:relocated");
    dropUncopiedKeys(plan);
    // Still in the slice that began with a flush: no write batch is open, so none can put back
    // a location in an input from here on (every copied entry now names an output).
    plan.segments.retire(plan.inputs);
  });
  return {
    ...result,
    // The Worker may have turned out unable to start (CopyWorker.copy then copied here).
    copiedIn: plan.copyWorker?.inWorker ? "worker thread" : "main thread",
    outputs: finished.length,
    liveRecords: copied.outputIndexes.reduce(
      (sum, outputIndex) => (outputIndex === DAMAGED ? sum : sum + 1),
      0,
    ),
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
  if (plan.inputs.every((input) => plan.index.liveBytesOf(input.id) === 0)) return;
  const dropped: { key: Uint8Array; segmentId: number; offset: number }[] = [];
  plan.index.forEachEntry((id) => {
    const segmentId = plan.index.segmentIdOf(id);
    if (inputIds.has(segmentId))
      dropped.push({ key: plan.index.keyBytesOf(id), segmentId, offset: plan.index.offsetOf(id) });
    return true;
  });
  for (const { key, segmentId, offset } of dropped) {
    plan.index.delete(key);
    plan.logger.error(
      `dropped key ${JSON.stringify(new TextDecoder().decode(key))}: its record in ${segmentFileName(segmentId)} ` +
        `at offset ${offset} is damaged and compaction removes that segment`,
    );
  }
}

/**
 * Lets reads and writes run between slices. The next slice begins by flushing the open write
 * batch, so no batch is open while a slice runs and the index it sees holds only writes that
 * reached the files: none of them can be rolled back under it.
 *
 * The pacer's flush (outside the slice's time) is not enough on its own: it settles the
 * batch's promises, and their continuations run as microtasks before the caller's `await`
 * resumes. A client's next write made there opened a batch that the slice then ran beside; a
 * delete of a key the slice had yet to reach noted the key's location in an input as its undo
 * entry, the slice skipped the key, and when the disk turned out full the undo put that
 * location back: the compaction then deleted the input and the key was gone. So the caller
 * flushes again, in the same synchronous stretch as the slice (`startSlice`).
 */
async function yieldToEventLoop(plan: CompactionPlan, pacer: SlicePacer): Promise<void> {
  await pacer.yield(() => plan.writes.flushNow());
}

/** Called right after `await yieldToEventLoop(...)`, with no await between it and the slice. */
function startSlice(plan: CompactionPlan): void {
  plan.writes.flushNow();
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
 * Collects the record of every index entry that points into an input. Walking the index rather
 * than the inputs finds only live records. The walk goes by entry id, in slices, with the ids
 * pinned (no rebuild renumbers them meanwhile): an entry overwritten or added between slices
 * points to the active segment, not to an input, and is skipped. One overwritten or deleted
 * after it was collected is copied all the same, and harmlessly: relocation moves only an entry
 * that still points at the record collected (KeyIndex.relocate).
 */
async function collectLiveRecords(plan: CompactionPlan, pacer: SlicePacer): Promise<LiveRecords> {
  const inputIndexOf = new Map(plan.inputs.map((input, index) => [input.id, index]));
  const index = plan.index;
  let keyBytes = new Uint8Array(INITIAL_JOB_RECORDS * 16);
  let keyEnds = new Uint32Array(INITIAL_JOB_RECORDS);
  let inputIndexes = new Uint32Array(INITIAL_JOB_RECORDS);
  let segmentIds = new Uint32Array(INITIAL_JOB_RECORDS);
  let offsets = new Uint32Array(INITIAL_JOB_RECORDS);
  let lengths = new Uint32Array(INITIAL_JOB_RECORDS);
  let count = 0;
  let keyEnd = 0;
  let sinceCheck = 0;
  const release = index.pinEntryIds();
  try {
    for (let id = index.nextEntry(0); id !== -1; id = index.nextEntry(id + 1)) {
      const segmentId = index.segmentIdOf(id);
      const inputIndex = inputIndexOf.get(segmentId);
      if (inputIndex !== undefined) {
        if (count === offsets.length) {
          keyEnds = grown(keyEnds);
          inputIndexes = grown(inputIndexes);
          segmentIds = grown(segmentIds);
          offsets = grown(offsets);
          lengths = grown(lengths);
        }
        const key = index.keyBytesOf(id);
        if (keyEnd + key.length > keyBytes.length) {
          const bigger = new Uint8Array(Math.max(keyBytes.length * 2, keyEnd + key.length));
          bigger.set(keyBytes.subarray(0, keyEnd));
          keyBytes = bigger;
        }
        keyBytes.set(key, keyEnd);
        keyEnd += key.length;
        keyEnds[count] = keyEnd;
        inputIndexes[count] = inputIndex;
        segmentIds[count] = segmentId;
        offsets[count] = index.offsetOf(id);
        lengths[count] = index.lengthOf(id);
        count++;
      }
      if (++sinceCheck === 64) {
        sinceCheck = 0;
        if (pacer.due()) {
          await yieldToEventLoop(plan, pacer);
          startSlice(plan);
          if (plan.aborted()) break;
        }
      }
    }
  } finally {
    release();
  }
  const job: CopyJob = {
    dir: plan.dir,
    inputPaths: plan.inputs.map((input) => input.path),
    count,
    // Copies of the used part: they move to the Worker.
    inputIndexes: inputIndexes.slice(0, count),
    offsets: offsets.slice(0, count),
    lengths: lengths.slice(0, count),
    firstOutputId: plan.firstOutputId,
    lastOutputId: plan.lastOutputId,
    maxSegmentBytes: plan.maxSegmentBytes,
  };
  return { keyBytes, keyEnds, segmentIds, offsets, job };
}

function grown(array: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> {
  const bigger = new Uint32Array(array.length * 2);
  bigger.set(array);
  return bigger;
}

/** Step 2: copies the records of `job` in a Worker or on this thread; null if stopped. */
function copy(
  plan: CompactionPlan,
  job: CopyJob,
  pacer: SlicePacer,
  foregroundCount: () => number,
): Promise<CopyResult | null> {
  const reportError = (message: string) => plan.logger.error(message);
  if (plan.copyWorker !== null) {
    return plan.copyWorker.copy(job, {
      faults: plan.faults,
      reportError,
      stopRequested: plan.aborted,
      pacer,
      foregroundCount,
    });
  }
  return copyRecords(job, {
    fs: plan.fs,
    faults: plan.faults,
    reportError,
    stopRequested: plan.aborted,
    pacer,
  });
}
