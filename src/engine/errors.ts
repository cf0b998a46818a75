// Every error the engine throws on purpose. Callers can branch on the class (or on `code`)
// and show the message as is: each one says what went wrong and what to do about it.

export class KVStoreError extends Error {
  readonly code: string = "KVSTORE_ERROR";
  override name = "KVStoreError";
}

export class InvalidKeyError extends KVStoreError {
  override readonly code: string = "INVALID_KEY";
  override name = "InvalidKeyError";
}

export class KeyTooLargeError extends InvalidKeyError {
  override readonly code = "KEY_TOO_LARGE";
  override name = "KeyTooLargeError";
  constructor(
    readonly byteLength: number,
    readonly maxKeyBytes: number,
  ) {
    super(`key is ${byteLength} bytes of UTF-8; the limit is ${maxKeyBytes} (option maxKeyBytes)`);
  }
}

export class ValueTooLargeError extends KVStoreError {
  override readonly code = "VALUE_TOO_LARGE";
  override name = "ValueTooLargeError";
  constructor(
    readonly byteLength: number,
    readonly maxValueBytes: number,
  ) {
    super(`value is ${byteLength} bytes; the limit is ${maxValueBytes} (option maxValueBytes)`);
  }
}

export class StoreClosedError extends KVStoreError {
  override readonly code = "STORE_CLOSED";
  override name = "StoreClosedError";
  constructor(dir: string) {
    super(`the store at ${dir} is closed; open it again with KVStore.open()`);
  }
}

/** Who holds a locked data directory, as far as its LOCK file tells (pid null: it does not). */
export type LockHolder =
  | { in: "this process" }
  | { in: "another process"; pid: number | null }
  | { in: "another PID namespace"; pid: number };

export class LockedError extends KVStoreError {
  override readonly code = "LOCKED";
  override name = "LockedError";
  readonly holderPid: number | null;
  constructor(
    readonly dir: string,
    readonly holder: LockHolder,
  ) {
    super(lockedMessage(dir, holder));
    this.holderPid = holder.in === "this process" ? process.pid : holder.pid;
  }
}

function lockedMessage(dir: string, holder: LockHolder): string {
  const advice = "stop it or use another data directory";
  switch (holder.in) {
    case "this process":
      return `data directory ${dir} is already open in this process; close the other KVStore first`;
    case "another process":
      return holder.pid === null
        ? `data directory ${dir} is locked by another process; ${advice}`
        : `data directory ${dir} is locked by process ${holder.pid}; ${advice}`;
    case "another PID namespace":
      return `data directory ${dir} is locked by process ${holder.pid} of another PID namespace (another container using the same volume?); ${advice}`;
  }
}

/** The engine cannot run here, e.g. the C library it locks directories with is missing. */
export class UnsupportedPlatformError extends KVStoreError {
  override readonly code = "UNSUPPORTED_PLATFORM";
  override name = "UnsupportedPlatformError";
}

export class CorruptionError extends KVStoreError {
  override readonly code = "CORRUPTION";
  override name = "CorruptionError";
  constructor(
    readonly file: string,
    readonly offset: number,
    detail: string,
  ) {
    super(`corrupt record in ${file} at offset ${offset}: ${detail}; run "kvstore check" for a full report`);
  }
}

export class InvalidOptionError extends KVStoreError {
  override readonly code = "INVALID_OPTION";
  override name = "InvalidOptionError";
}
