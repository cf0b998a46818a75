import { type CopyHooks, type CopyResult, copyRecords } from "./compaction-copy.ts";
import {
  describeError,
  FAULT_PENDING,
  FAULT_REPLY,
  FAULT_THROWN,
  InjectedFault,
  STOP,
  type StartMessage,
  type WorkerMessage,
} from "./compaction-worker-protocol.ts";
import { realFileSystem } from "./file-system.ts";

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
  };
  let result: CopyResult | null;
  try {
    result = await copyRecords(job, hooks);
  } catch (error) {
    post({ type: "failed", error: describeError(error) });
    return;
  }
  if (result === null) post({ type: "stopped" });
  else post({ type: "done", result }, [result.outputIndexes.buffer, result.outputOffsets.buffer]);
};

post({ type: "ready" });
