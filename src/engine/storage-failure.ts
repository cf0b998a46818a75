import { StorageFailedError } from "./errors.ts";
import type { Logger } from "./options.ts";

/**
 * The store's failed state, latched by the first disk failure that leaves the files in doubt:
 * a failed fsync or fdatasync (Linux reports a write-back error once; a second call returns 0
 * although the data may be gone, so the first error is final), a write error other than a
 * full disk, or a rejected batch that could not be cut off again. From then on every write is
 * refused with the same `StorageFailedError`; reads go on. Only a restart, which runs recovery
 * over what is really on disk, clears it.
 */
export class StorageFailure {
  private latched: StorageFailedError | null = null;

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  /** The error that latched the failed state, or null while the store is healthy. */
  get error(): StorageFailedError | null {
    return this.latched;
  }

  /** Latches the failed state (the first failure is the one reported) and returns its error. */
  latch(operation: string, cause: unknown): StorageFailedError {
    if (this.latched === null) {
      this.latched = new StorageFailedError(this.dir, operation, cause);
      this.logger.error(this.latched.message);
    }
    return this.latched;
  }

  assertWritable(): void {
    if (this.latched !== null) throw this.latched;
  }
}
