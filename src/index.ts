// The kvstore library: `import { KVStore } from "kvstore"`.
export type { BackupReport } from "./engine/backup.ts";
export * from "./engine/errors.ts";
export type { FileSystem, OpenMode } from "./engine/file-system.ts";
export type { FaultInjector, FaultPoint, KVStoreOptions, Logger, SyncMode } from "./engine/options.ts";
export { consoleLogger, FAULT_POINTS, silentLogger } from "./engine/options.ts";
export { RecordCrc, type ValueWithMetadata } from "./engine/record.ts";
export type { CommitOptions, StagedValue } from "./engine/staged-value.ts";
export {
  KVStore,
  type KVStoreStats,
  type ListOptions,
  type Location,
  type OpenValue,
  type SegmentStats,
  type SetOptions,
} from "./engine/store.ts";
export {
  type DamagedRegion,
  type RejectedTail,
  type SegmentReport,
  type SnapshotStatus,
  type VerifyReport,
  verify,
} from "./engine/verify.ts";
