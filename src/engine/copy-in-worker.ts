import { rmSync } from "node:fs";
import { compactionWorkerUrl } from "../compaction-worker-url.ts";
import { type CopyJob, type CopyResult, copyRecords, tempPathOf } from "./compaction-copy.ts";
import {
  CONTROL_SLOTS,
  FAULT_PASSED,
  FAULT_REPLY,
  FAULT_THROWN,
  FOREGROUND,
  reviveError,
  STOP,
  type StartMessage,
  type WorkerMessage,
} from "./compaction-worker-protocol.ts";
import { realFileSystem } from "./file-system.ts";
import type { FaultInjector } from "./options.ts";
import type { SlicePacer } from "./slices.ts";

// Runs compaction's copy phase (compaction-copy.ts) in a Worker, so that its reads, CRC checks
// and writes leave the main thread free for reads and writes.
//
// The Worker is an entry point of its own: `bun build --compile` must be given
// src/engine/compaction-worker.ts besides src/main.ts (package.json "build"), and
// src/compaction-worker-url.ts says why its URL is found from there.

/** How often the main thread checks whether the compaction must stop (the store closing), and
 * passes the count of the store's writes on to the Worker. */
const POLL_MS = 5;

export interface WorkerCopyHooks {
  faults: FaultInjector | null;
  reportError(message: string): void;
  stopRequested(): boolean;
  /** Paces the copy when it runs on this thread (the Worker could not start). */
  pacer: SlicePacer;
  /** A count that grows with the store's writes; the Worker's copy gives way while it grows. */
  foregroundCount(): number;
}

/**
 * A store's compaction Worker, started at its first copy and kept for the next ones: starting
 * a thread and loading its modules costs 5-20 ms, more than a small compaction's whole copy
 * (back-to-back compactions ran at a third of the rate with a Worker per copy). While idle it
 * holds a thread and two file descriptors but does not keep the process alive. It is ended
 * when a copy is stopped and by `terminate()` (the store's close); a later copy starts another.
 */
export class CopyWorker {
  private worker: Worker | null = null;
  /** `url` is the Worker's entry point; a test may give a stand-in. */
  constructor(private readonly url: URL = compactionWorkerUrl) {}
  /** Resolves once the last Worker started has exited. */
  private ended: Promise<void> = Promise.resolve();

  /** Why the Worker could not start, once it failed to: copies then run on the main thread. */
  private unavailable: string | null = null;

  /** Whether a Worker thread is up, idle or copying, as far as this thread has been told. */
  get threadRunning(): boolean {
    return this.worker !== null;
  }

  /** Where the copies run: false once the Worker could not be started. */
  get inWorker(): boolean {
    return this.unavailable === null;
  }

  /**
   * Copies `job`; resolves null if stopped (once the Worker has deleted its temp files and
   * ended), rejects with the copy's first error. The job's typed arrays move to the Worker.
   * One copy at a time. If the Worker cannot start (its module missing from a program that
   * bundles kvstore with `bun build --compile`, see src/compaction-worker-url.ts), this and
   * every later copy run on the main thread, and the reason is reported once.
   */
  async copy(job: CopyJob, hooks: WorkerCopyHooks): Promise<CopyResult | null> {
    const worker = this.unavailable === null ? await this.loaded(hooks) : null;
    if (worker === null) return copyRecords(job, { fs: realFileSystem, ...hooks });
    return this.copyIn(worker, job, hooks);
  }

  private copyIn(worker: Worker, job: CopyJob, hooks: WorkerCopyHooks): Promise<CopyResult | null> {
    worker.ref();
    const control = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * Int32Array.BYTES_PER_ELEMENT));
    // The count as it is now, before the Worker reads it: starting from 0, the first poll's
    // change looked like writes and paced every copy for its first 20 ms.
    Atomics.store(control, FOREGROUND, hooks.foregroundCount() | 0);
    return new Promise((resolve, reject) => {
      // The fault injector's own error, rethrown as it was (a test may check its identity).
      let injected: { error: unknown } | null = null;
      const poll = setInterval(() => {
        if (hooks.stopRequested()) Atomics.store(control, STOP, 1);
        // Wraps like the Int32 slot: the Worker only compares it with the last value it saw.
        Atomics.store(control, FOREGROUND, hooks.foregroundCount() | 0);
      }, POLL_MS);
      /** Settles the copy: at once if the Worker stays, else once it has ended. */
      const end = (keepWorker: boolean, settle: () => void) => {
        clearInterval(poll);
        worker.onmessage = null;
        worker.onerror = null;
        worker.removeEventListener("close", exited);
        if (keepWorker) {
          worker.unref();
          settle();
        } else {
          this.terminate().then(settle);
        }
      };
      worker.onmessage = (event: MessageEvent<WorkerMessage>) => {
        const message = event.data;
        switch (message.type) {
          case "fault": {
            let reply = FAULT_PASSED;
            try {
              hooks.faults?.(message.point);
            } catch (error) {
              injected ??= { error };
              reply = FAULT_THROWN;
            }
            // The injector may have closed the store: the Worker sees it on its next check.
            if (hooks.stopRequested()) Atomics.store(control, STOP, 1);
            Atomics.store(control, FAULT_REPLY, reply);
            Atomics.notify(control, FAULT_REPLY);
            break;
          }
          case "error-report":
            hooks.reportError(message.message);
            break;
          case "done":
            end(true, () => resolve(message.result));
            break;
          case "stopped":
            end(false, () => resolve(null));
            break;
          case "failed": {
            const error =
              message.error.injected && injected !== null ? injected.error : reviveError(message.error);
            end(true, () => reject(error));
            break;
          }
        }
      };
      // Only a bug or a Worker that cannot load gets to these two (the copy catches its
      // errors). The thread is gone before it could delete its temp files: they are deleted here.
      const died = (why: string) =>
        end(false, () => {
          removeTempFilesOf(job, hooks.reportError);
          reject(new Error(`the compaction worker ${why}; the copy is abandoned and the inputs kept`));
        });
      worker.onerror = (event) => died(`failed: ${event.message}`);
      // A thread that ends without an error event (process.exit in it) would otherwise leave
      // the copy, and close() waiting for it, pending forever.
      const exited = (event: Event) => died(`exited with code ${(event as CloseEvent).code} mid-copy`);
      worker.addEventListener("close", exited);
      const start: StartMessage = { job, control, faults: hooks.faults !== null };
      worker.postMessage(start, {
        transfer: [job.inputIndexes.buffer, job.offsets.buffer, job.lengths.buffer],
      });
    });
  }

  /** Ends the Worker, if one is running; resolves once its thread has exited. */
  terminate(): Promise<void> {
    this.worker?.terminate();
    this.worker = null;
    return this.ended;
  }

  /**
   * The Worker, started if need be and once its module has loaded (it then says "ready"); null
   * if it cannot start. Nothing has been sent to it before, so the copy can still run here.
   */
  private async loaded(hooks: WorkerCopyHooks): Promise<Worker | null> {
    if (this.worker !== null) return this.worker;
    let worker: Worker;
    try {
      worker = new Worker(this.url);
    } catch (error) {
      return this.giveUp(String(error), hooks);
    }
    this.ended = new Promise((resolve) =>
      worker.addEventListener("close", () => {
        // A Worker that ended while idle is not posted the next job (nothing would answer).
        if (this.worker === worker) this.worker = null;
        resolve();
      }),
    );
    this.worker = worker;
    let exited = (_event: Event) => {};
    const failure = await new Promise<string | null>((resolve) => {
      exited = (event) => resolve(`it exited with code ${(event as CloseEvent).code}`);
      worker.addEventListener("close", exited);
      worker.onerror = (event) => resolve(event.message);
      worker.onmessage = (event: MessageEvent<WorkerMessage>) => {
        if (event.data.type === "ready") resolve(null);
      };
    });
    worker.onmessage = null;
    worker.onerror = null;
    worker.removeEventListener("close", exited);
    if (failure === null) return worker;
    await this.terminate();
    return this.giveUp(failure, hooks);
  }

  private giveUp(failure: string, hooks: WorkerCopyHooks): null {
    this.unavailable = failure;
    hooks.reportError(
      `the compaction worker could not start, so compaction copies on the main thread: ${failure} ` +
        "(option compactionWorker: false runs it there without trying)",
    );
    return null;
  }
}

/** Deletes the temp file of every output id the job may have used; never throws. */
function removeTempFilesOf(job: CopyJob, reportError: (message: string) => void): void {
  for (let id = job.firstOutputId; id <= job.lastOutputId; id++) {
    const path = tempPathOf(job.dir, id);
    try {
      rmSync(path, { force: true });
    } catch (error) {
      reportError(`could not delete ${path}: ${String(error)}`);
    }
  }
}
