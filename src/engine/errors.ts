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

/** A value or its metadata that the store cannot hold (not a Uint8Array, metadata too large). */
export class InvalidValueError extends KVStoreError {
  override readonly code = "INVALID_VALUE";
  override name = "InvalidValueError";
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

/** A serialized key index (see src/engine/index/serialization.ts) that is damaged or not one. */
export class DamagedIndexError extends KVStoreError {
  override readonly code = "DAMAGED_INDEX";
  override name = "DamagedIndexError";
  constructor(detail: string) {
    super(`serialized key index is damaged: ${detail}; rebuild the index from the segment files`);
  }
}

export class InvalidOptionError extends KVStoreError {
  override readonly code = "INVALID_OPTION";
  override name = "InvalidOptionError";
}

/**
 * The store stopped accepting writes because the disk failed under it: an fsync reported an
 * error (after which the kernel may have dropped the data and will not say so again), a write
 * failed for another reason than a full disk, or a failed write could not be cut off again.
 * Reads go on serving what is known good; a restart runs recovery.
 */
export class StorageFailedError extends KVStoreError {
  override readonly code = "STORAGE_FAILED";
  override name = "StorageFailedError";
  constructor(
    readonly dir: string,
    readonly operation: string,
    override readonly cause: unknown,
  ) {
    super(
      `the store at ${dir} stopped accepting writes: ${operation} failed (${describeCause(cause)}); ` +
        "reads go on; check the disk, then restart to run recovery",
    );
  }
}

/**
 * A write was refused because the disk (or the user's quota) is full, or a compaction because
 * it would need more free space than there is. Nothing was stored; reads, deletes and
 * compaction keep working (see "Durability and failures" in README.md).
 */
export class DiskFullError extends KVStoreError {
  override readonly code = "DISK_FULL";
  override name = "DiskFullError";
}

/** The errno name and message of a file-system error, for messages. */
export function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** A backup's destination cannot be used (it must be a new or empty directory); nothing was written. */
export class BackupDestinationError extends KVStoreError {
  override readonly code = "BACKUP_DESTINATION";
  override name = "BackupDestinationError";
  constructor(
    readonly destination: string,
    problem: string,
  ) {
    super(`cannot back up to ${destination}: ${problem}`);
  }
}

/**
 * A backup failed part-way (e.g. ENOSPC, EIO). Nothing was left at the destination and the store
 * goes on as before. `reason` names the cause without any path but the destination's; `cause`
 * holds the original error.
 */
export class BackupFailedError extends KVStoreError {
  override readonly code = "BACKUP_FAILED";
  override name = "BackupFailedError";
  constructor(
    readonly destination: string,
    readonly reason: string,
    cause: unknown,
  ) {
    super(`backup to ${destination} failed (${reason}); nothing was left there`, { cause });
  }
}
