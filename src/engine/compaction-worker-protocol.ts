import type { CopyJob, CopyResult } from "./compaction-copy.ts";
import type { FaultPoint } from "./options.ts";

// The messages between the main thread and the compaction Worker (compaction-worker.ts), and
// the shared control words. A fault point in the Worker must run the store's fault injector on
// the main thread, and in order: the Worker posts a "fault" message and blocks on Atomics.wait
// until the main thread has run the injector and answered in FAULT_REPLY. So an injector that
// kills the process (the crash tests) does so while the Worker stands at that very point, and
// one that throws fails the copy there, as it would on the main thread.

/** Int32 slots of the control SharedArrayBuffer. */
export const STOP = 0;
export const FAULT_REPLY = 1;
/** The store's count of flushed write batches, as the main thread last saw it: the Worker's
 * copy gives way to the store's writes while it grows (slices.ts, WORKER_PACING). */
export const FOREGROUND = 2;
export const CONTROL_SLOTS = 3;
/** FAULT_REPLY values: waiting, the injector returned, the injector threw. */
export const FAULT_PENDING = 0;
export const FAULT_PASSED = 1;
export const FAULT_THROWN = 2;

export interface StartMessage {
  job: CopyJob;
  control: Int32Array;
  /** Whether the store has a fault injector (else fault points cost no round trip). */
  faults: boolean;
}

/** An error as it crosses threads: its message and its errno fields (code drives isDiskFull). */
export interface ErrorDescription {
  message: string;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
  /** The fault injector threw at a fault point: the main thread holds the real error. */
  injected: boolean;
}

export type WorkerMessage =
  /** Posted once, when the Worker's module has loaded. */
  | { type: "ready" }
  | { type: "fault"; point: FaultPoint }
  | { type: "error-report"; message: string }
  | { type: "done"; result: CopyResult }
  | { type: "stopped" }
  | { type: "failed"; error: ErrorDescription };

/** Thrown in the Worker when the main thread's fault injector threw. */
export class InjectedFault extends Error {}

export function describeError(error: unknown): ErrorDescription {
  const fields = (error ?? {}) as { code?: unknown; errno?: unknown; syscall?: unknown; path?: unknown };
  return {
    message: error instanceof Error ? error.message : String(error),
    code: typeof fields.code === "string" ? fields.code : undefined,
    errno: typeof fields.errno === "number" ? fields.errno : undefined,
    syscall: typeof fields.syscall === "string" ? fields.syscall : undefined,
    path: typeof fields.path === "string" ? fields.path : undefined,
    injected: error instanceof InjectedFault,
  };
}

/** The error again, on this side: an Error with the same message and errno fields. */
export function reviveError(description: ErrorDescription): Error {
  const { message, code, errno, syscall, path } = description;
  const error = new Error(message);
  for (const [name, value] of Object.entries({ code, errno, syscall, path })) {
    if (value !== undefined) Object.assign(error, { [name]: value });
  }
  return error;
}
