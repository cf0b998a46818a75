import { type CopyHooks, type CopyResult, copyRecords } from "./compaction-copy.ts";
import {
  describeError,
  FAULT_PENDING,
  FAULT_REPLY,
  FAULT_THROWN,
  FOREGROUND,
  InjectedFault,
  STOP,
  type StartMessage,
  type WorkerMessage,
} from "./compaction-worker-protocol.ts";
import { realFileSystem } from "./file-system.ts";
import { SlicePacer, WORKER_PACING } from "./slices.ts";

// Entry point of the Worker that runs compaction's copy phase off the main thread (see
// copy-in-worker.ts), one copy job per message. It uses the real file system: a test's FileSystem object cannot cross
// threads, so a store with another one copies on the main thread.

declare const self: Worker;

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  self.postMessage(message, { transfer });
}

self.onmessage = async (event: MessageEvent<StartMessage>) => {
  const { job, control, faults } = event.data;
  const hooks: CopyHooks = {
    fs: realFileSystem,
    reportError: (message) => post({ type: "error-report", message }),
    faults: faults
      ? (point) => {
          Atomics.store(control, FAULT_REPLY, FAULT_PENDING);
          post({ type: "fault", point });
          Atomics.wait(control, FAULT_REPLY, FAULT_PENDING);
          if (Atomics.load(control, FAULT_REPLY) === FAULT_THROWN) {
            throw new InjectedFault(`fault injected at ${point}`);
          }
        }
      : null,
    stopRequested: () => Atomics.load(control, STOP) !== 0,
    // The slices let fdatasync completions in, and give way to the store's writes.
    pacer: new SlicePacer(() => Atomics.load(control, FOREGROUND), WORKER_PACING),
  };
  let result: CopyResult | null;
  try {
    result = await copyRecords(job, hooks);
  } catch (error) {
    releaseInputMaps();
    post({ type: "failed", error: describeError(error) });
    return;
  }
  releaseInputMaps();
  if (result === null) post({ type: "stopped" });
  else post({ type: "done", result }, [result.outputIndexes.buffer, result.outputOffsets.buffer]);
};

/**
 * Unmaps the inputs the copy mapped, before the store deletes them: a mapping is released only
 * when the garbage collector frees its array, and an idle Worker allocates nothing that would
 * start one, so the deleted inputs kept their disk space while the store stayed open. The
 * Worker's heap holds little more than the job, so a full collection is brief.
 */
function releaseInputMaps(): void {
  Bun.gc(true);
}

post({ type: "ready" });
