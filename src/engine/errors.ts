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

export class LockedError extends KVStoreError {
  override readonly code = "LOCKED";
  override name = "LockedError";
  constructor(
    readonly dir: string,
    readonly holderPid: number,
  ) {
    super(
      holderPid === process.pid
        ? `data directory ${dir} is already open in this process; close the other KVStore first`
        : `data directory ${dir} is locked by process ${holderPid}; stop it or use another data directory`,
    );
  }
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
