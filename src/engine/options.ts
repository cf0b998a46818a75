import { InvalidOptionError } from "./errors.ts";
import { type FileSystem, realFileSystem } from "./file-system.ts";
import { MAX_METADATA_BYTES, META_LENGTH_BYTES, RECORD_OVERHEAD } from "./record.ts";

/**
 * When a write's promise resolves:
 * - "always": after its record is fsynced (survives power loss);
 * - "interval": after write(2); an fsync runs at most every `syncIntervalMs`;
 * - "never": after write(2); the OS decides when to flush.
 * In every mode a resolved write survives `kill -9` of the process, because it is in the kernel.
 */
export type SyncMode = "always" | "interval" | "never";

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * The points where a test can make the engine fail, as a crash or an I/O error would there:
 * the group commit's write(2) and fsync, the snapshot's temp file, each step of compaction
 * (see compaction.ts for why each is safe to crash after), and a backup's hard link of a segment
 * and each write of a segment it copies (throwing an error with code EXDEV at "backup:link"
 * makes the backup copy the segment, as it does across file systems).
 */
export const FAULT_POINTS = [
  "write",
  "fsync",
  "snapshot:written",
  "compaction:output-written",
  "compaction:output-renamed",
  "compaction:relocated",
  "compaction:input-deleted",
  "backup:link",
  "backup:write",
] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

/** Called at each fault point; throw to fail the operation there. For tests. */
export type FaultInjector = (point: FaultPoint) => void;

export interface KVStoreOptions {
  /** Durability of writes; default "always". */
  sync?: SyncMode;
  /** With sync "interval": the longest time between fsyncs, in ms; default 100. */
  syncIntervalMs?: number;
  /** The active segment is sealed and a new one started past this size; default 64 MiB. */
  maxSegmentBytes?: number;
  /** Largest key in UTF-8 bytes, 1..65,535; default 4 KiB. */
  maxKeyBytes?: number;
  /** Largest value in bytes; default 100 MiB. */
  maxValueBytes?: number;
  /** Compact automatically when there are more sealed segments than this (and at least a
   * segment's worth of dead bytes to reclaim); default 16. */
  compactionThreshold?: number;
  /** Compact automatically when this fraction of the sealed segments' bytes is dead; default 0.5. */
  compactionDeadRatio?: number;
  /** Start compactions on the thresholds above; `compact()` works either way. Default true. */
  autoCompaction?: boolean;
  /** Save index.snapshot in the background after this many bytes of writes; 0: never. Default 64 MiB. */
  snapshotEveryBytes?: number;
  /** Zeros written ahead of the records of the segment being appended to, so that a durable
   * write's fdatasync need not commit a new file size (see segment.ts); 0: none. Default 2 MiB. */
  preallocateBytes?: number;
  /** Size of the ballast file given up when the disk fills, so that deletes and compaction
   * still have room (see disk-space.ts); 0: none. Default 8 MiB. */
  reserveBytes?: number;
  /** Where recovery and corruption reports go; default: warnings and errors on stderr. */
  logger?: Logger;
  /** Test seam: see `FaultInjector`. */
  faultInjector?: FaultInjector | null;
  /** Test seam: every file operation goes through this; default the real file system. */
  fileSystem?: FileSystem;
  /** Run compaction's copy (reading, checking and writing the live records) in a Worker
   * thread, so that it leaves the event loop to reads and writes. Only with the real file
   * system: with another `fileSystem` the copy runs on the main thread. Default true. */
  compactionWorker?: boolean;
}

export type ResolvedOptions = Required<KVStoreOptions>;

export const MiB = 1024 * 1024;
/** Keys are capped at what a u16 can count, so that an index can keep key lengths in 16 bits. */
const KEY_BYTES_HARD_LIMIT = 65_535;
/** Offsets are kept as 32-bit values in the snapshot, so a segment cannot outgrow 4 GiB. */
const SEGMENT_BYTES_HARD_LIMIT = 2 ** 32 - 1;
/**
 * The largest value whose record, with the longest key and the largest metadata block, still
 * fits one segment: its length is a 32-bit value in the index snapshot too.
 */
const VALUE_BYTES_HARD_LIMIT =
  SEGMENT_BYTES_HARD_LIMIT -
  RECORD_OVERHEAD -
  KEY_BYTES_HARD_LIMIT -
  (META_LENGTH_BYTES + MAX_METADATA_BYTES);

export const consoleLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (message) => console.warn(`kvstore: ${message}`),
  error: (message) => console.error(`kvstore: ${message}`),
};

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

const defaults: ResolvedOptions = {
  sync: "always",
  syncIntervalMs: 100,
  maxSegmentBytes: 64 * MiB,
  maxKeyBytes: 4096,
  maxValueBytes: 100 * MiB,
  compactionThreshold: 16,
  compactionDeadRatio: 0.5,
  autoCompaction: true,
  snapshotEveryBytes: 64 * MiB,
  reserveBytes: 8 * MiB,
  preallocateBytes: 2 * MiB,
  logger: consoleLogger,
  faultInjector: null,
  fileSystem: realFileSystem,
  compactionWorker: true,
};

function requireInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(`option ${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

export function resolveOptions(options: KVStoreOptions = {}): ResolvedOptions {
  const resolved: ResolvedOptions = { ...defaults };
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined) (resolved as unknown as Record<string, unknown>)[name] = value;
  }
  if (!["always", "interval", "never"].includes(resolved.sync)) {
    throw new InvalidOptionError(
      `option sync must be "always", "interval" or "never", got ${String(resolved.sync)}`,
    );
  }
  requireInteger("syncIntervalMs", resolved.syncIntervalMs, 1, 3_600_000);
  requireInteger("maxSegmentBytes", resolved.maxSegmentBytes, 1024, SEGMENT_BYTES_HARD_LIMIT);
  requireInteger("maxKeyBytes", resolved.maxKeyBytes, 1, KEY_BYTES_HARD_LIMIT);
  requireInteger("maxValueBytes", resolved.maxValueBytes, 0, VALUE_BYTES_HARD_LIMIT);
  requireInteger("compactionThreshold", resolved.compactionThreshold, 1, 1_000_000);
  if (!(resolved.compactionDeadRatio > 0 && resolved.compactionDeadRatio <= 1)) {
    throw new InvalidOptionError(
      `option compactionDeadRatio must be above 0 and at most 1, got ${resolved.compactionDeadRatio}`,
    );
  }
  requireInteger("snapshotEveryBytes", resolved.snapshotEveryBytes, 0, Number.MAX_SAFE_INTEGER);
  requireInteger("reserveBytes", resolved.reserveBytes, 0, Number.MAX_SAFE_INTEGER);
  requireInteger("preallocateBytes", resolved.preallocateBytes, 0, 1024 * MiB);
  return resolved;
}
