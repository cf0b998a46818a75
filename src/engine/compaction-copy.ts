import { join } from "node:path";
import { type FileSystem, writeAll } from "./file-system.ts";
import type { FaultInjector } from "./options.ts";
import { parseRecord } from "./record.ts";
import { segmentFileName } from "./segment.ts";
import type { SlicePacer } from "./slices.ts";

// The copy phase of compaction (step 2 in compaction.ts): reads the chosen records of the input
// segments, checks each one's CRC, and writes the sound ones into `*.compacting` temp files that
// it fdatasyncs. It knows nothing of the index, so it can run on the main thread (with any
// FileSystem, as the fault-injecting tests need) or in a Worker (compaction-worker.ts).

const OUTPUT_BUFFER_BYTES = 1024 * 1024;
const TEMP_SUFFIX = ".compacting";
/** Where `CopyResult.outputIndexes` puts a record that failed its CRC and was not copied. */
export const DAMAGED = -1;

/**
 * What to copy: the records, in the order they go into the outputs, as parallel typed arrays
 * (they cross to a Worker without copying, and a million small objects would keep the garbage
 * collector busy).
 */
export interface CopyJob {
  dir: string;
  /** The input segment files; `inputIndexes` points into this list. */
  inputPaths: string[];
  count: number;
  inputIndexes: Uint32Array<ArrayBuffer>;
  offsets: Uint32Array<ArrayBuffer>;
  /** Whole record lengths, header and CRC included. */
  lengths: Uint32Array<ArrayBuffer>;
  /** Ids free for outputs: [firstOutputId, lastOutputId]. */
  firstOutputId: number;
  lastOutputId: number;
  maxSegmentBytes: number;
}

export interface FinishedOutput {
  id: number;
  tempPath: string;
  size: number;
}

/** Where each record of the job went, and the fdatasynced outputs, in id order. */
export interface CopyResult {
  /** Per record: its output's id less `firstOutputId`, or DAMAGED. */
  outputIndexes: Int32Array<ArrayBuffer>;
  /** Per record: its offset in that output. */
  outputOffsets: Uint32Array<ArrayBuffer>;
  outputs: FinishedOutput[];
}

/** What the copy needs from the thread it runs on. */
export interface CopyHooks {
  fs: FileSystem;
  /** Reports a temp file it could not close or delete (the next open deletes it). */
  reportError(message: string): void;
  faults: FaultInjector | null;
  /** True once the compaction must stop (the store is closing or failed). */
  stopRequested(): boolean;
  /** Ends each slice of the copy (on the main thread, it paces them beside reads and writes). */
  pacer: SlicePacer;
}

/**
 * Copies the records of `job`; returns null if stopped first. Throws the first write or
 * fdatasync error (nothing is retried). After a throw or a stop no temp file is left.
 */
export async function copyRecords(job: CopyJob, hooks: CopyHooks): Promise<CopyResult | null> {
  const writer = new OutputWriter(job, hooks);
  const outputIndexes = new Int32Array(job.count);
  const outputOffsets = new Uint32Array(job.count);
  try {
    // Mapped when first needed: an input without live records may be empty, which mmap refuses.
    const inputs: (Uint8Array | undefined)[] = [];
    for (let i = 0; i < job.count; i++) {
      const inputIndex = job.inputIndexes[i] as number;
      let input = inputs[inputIndex];
      if (input === undefined) {
        input = hooks.fs.map(job.inputPaths[inputIndex] as string);
        inputs[inputIndex] = input;
      }
      const offset = job.offsets[i] as number;
      const record = input.subarray(offset, offset + (job.lengths[i] as number));
      // A record damaged since open is not copied; compaction's dropUncopiedKeys reports its key.
      if (record.length === job.lengths[i] && typeof parseRecord(record, 0, record.length) !== "string") {
        const placed = writer.append(record);
        outputIndexes[i] = placed.segmentId - job.firstOutputId;
        outputOffsets[i] = placed.offset;
      } else {
        outputIndexes[i] = DAMAGED;
      }
      if ((i & 63) === 63) {
        if (hooks.stopRequested()) {
          await writer.discard();
          return null;
        }
        // Lets the thread's event loop run: in-thread reads and writes, and in both cases the
        // completions of background fdatasyncs (so that the next one can start).
        if (hooks.pacer.due()) await hooks.pacer.yield(undefined, () => writer.syncsUnderWay());
      }
    }
    await writer.finish();
    // The last check above may come before the outputs are sealed: a stop requested while the
    // last fdatasyncs ran (or at their fault point) is honoured here, so the copy never reports
    // outputs the store no longer wants.
    if (hooks.stopRequested()) {
      await writer.discard();
      return null;
    }
  } catch (error) {
    await writer.discard();
    throw error;
  }
  return { outputIndexes, outputOffsets, outputs: writer.finishedOutputs() };
}

/** The temp file name of output `id`. */
export function tempPathOf(dir: string, id: number): string {
  return join(dir, segmentFileName(id) + TEMP_SUFFIX);
}

/** Deletes the temp files of finished outputs; never throws (see `OutputWriter.discard`). */
export function removeTempFiles(
  fs: FileSystem,
  outputs: FinishedOutput[],
  reportError: (m: string) => void,
): void {
  for (const output of outputs) {
    try {
      fs.remove(output.tempPath);
    } catch (error) {
      reportError(`could not delete ${output.tempPath}: ${String(error)}`);
    }
  }
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

  constructor(
    private readonly job: CopyJob,
    private readonly hooks: CopyHooks,
  ) {
    this.nextId = job.firstOutputId;
  }

  /** Appends one record; returns where it will be once the output is renamed into place. */
  append(record: Uint8Array): { segmentId: number; offset: number } {
    if (this.failure !== null) throw this.failure.error;
    let output = this.current;
    if (output !== null && output.size > 0 && output.size + record.length > this.job.maxSegmentBytes) {
      this.seal(output);
      output = null;
    }
    output ??= this.start();
    const offset = output.size;
    if (this.buffered + record.length > this.buffer.length) this.writeBuffer(output);
    if (record.length > this.buffer.length) {
      writeAll(this.hooks.fs, output.fd, record, output.size);
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

  /** Resolves once the fdatasyncs started so far have ended (it never rejects). */
  async syncsUnderWay(): Promise<void> {
    await Promise.all([this.current?.syncing, ...this.seals]);
  }

  /** Outputs in id order, all fsynced once `finish()` has resolved. */
  finishedOutputs(): FinishedOutput[] {
    return this.started.map(({ id, tempPath, size }) => ({ id, tempPath, size }));
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
    removeTempFiles(this.hooks.fs, this.started, this.hooks.reportError);
  }

  private start(): OpenOutput {
    if (this.nextId > this.job.lastOutputId) {
      const reserved = this.job.lastOutputId - this.job.firstOutputId + 1;
      throw new Error(`compaction needs more than the ${reserved} segment ids it reserved`);
    }
    const id = this.nextId++;
    const tempPath = tempPathOf(this.job.dir, id);
    const fd = this.hooks.fs.open(tempPath, "create");
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
    writeAll(this.hooks.fs, output.fd, this.buffer.subarray(0, this.buffered), output.size - this.buffered);
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
      if (this.failure === null) this.hooks.faults?.("compaction:output-written");
    })();
    // A fault injected above is kept like an I/O error; finish() reports it.
    this.seals.push(sealed.catch((error) => this.keepFailure(error)));
  }

  private async datasync(output: OpenOutput): Promise<void> {
    try {
      await this.hooks.fs.datasyncInBackground(output.fd);
    } catch (error) {
      this.keepFailure(error);
    }
  }

  private keepFailure(error: unknown): void {
    this.failure ??= { error };
  }

  private closeQuietly(output: OpenOutput): void {
    try {
      this.hooks.fs.close(output.fd);
    } catch (error) {
      this.hooks.reportError(`could not close ${output.tempPath}: ${String(error)}`);
    }
  }
}
