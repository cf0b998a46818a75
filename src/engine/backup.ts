import {
  linkSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { open } from "node:fs/promises";
import { basename, dirname, join, resolve, sep } from "node:path";
import { getSystemErrorMessage } from "node:util";
import { BackupDestinationError, BackupFailedError, StorageFailedError } from "./errors.ts";
import { realFileSystem } from "./file-system.ts";
import type { FaultInjector, Logger } from "./options.ts";
import { segmentFileName } from "./segment.ts";
import { type EncodedSnapshot, writeSnapshotFile } from "./snapshot.ts";

// A hot backup: the store as it was at one instant, as a directory that opens as a store.
//
// The instant is the start of an index capture (`EncodedSnapshot`): every write made before it
// is flushed and fsynced there, and the length of each segment then is what the backup holds.
// - Sealed segments never change again, so they are hard-linked (copied when the destination is
//   on another file system, or when the file is longer than the store thinks, e.g. after a
//   write whose cut-back failed, so the link never carries bytes past the covered length).
// - The active segment keeps growing: exactly its length at the instant is copied.
// - index.snapshot is the capture itself, so it names exactly these files and lengths: open
//   loads it and replays nothing, and `kvstore check` finds it "ok".
// No LOCK is copied. The store keeps compaction, which deletes sealed segments, away for as long
// as a backup runs (see `KVStore.backup`).
//
// Crash safety: everything is written into a temp directory beside the destination
// (`.NAME.backup-XXXXXX`); each file and then that directory are fsynced before it is renamed
// to the destination, and the parent is fsynced after. A crash before the rename leaves only the
// temp directory (the destination absent, or still the empty directory it was); after it, the
// destination is whole. So no crash leaves a destination that looks complete and is not.

/** What a backup wrote, and where. */
export interface BackupReport {
  /** The destination, as an absolute path. */
  path: string;
  /** Keys in the backup. */
  keys: number;
  /** Segment files in the backup. */
  segments: number;
  /** Bytes of every file in the backup, index.snapshot included. */
  bytes: number;
  durationMs: number;
}

/** What a backup needs from the store it copies. */
export interface BackupSource {
  dir: string;
  logger: Logger;
  faults: FaultInjector | null;
  /** Flushes and fsyncs every write, then encodes the index as it is at that instant. */
  captureIndex(): Promise<EncodedSnapshot>;
}

const COPY_CHUNK_BYTES = 1024 * 1024;
/** link(2) errors that mean "copy instead": another file system, too many links, no links. */
const LINK_UNAVAILABLE = new Set(["EXDEV", "EMLINK", "EPERM"]);

/**
 * Writes a backup of `source` to `destination` (relative to the working directory, or absolute),
 * which must not exist or be an empty directory whose parent exists.
 */
export async function writeBackup(source: BackupSource, destination: string): Promise<BackupReport> {
  const started = performance.now();
  let temp: string | null = null;
  try {
    const target = checkDestination(destination, source.dir);
    const capture = await source.captureIndex();
    temp = mkdtempSync(join(dirname(target), `.${basename(target)}.backup-`));
    const bytes = await writeFiles(source, capture, temp);
    moveIntoPlace(temp, target, destination, source.logger);
    const segments = capture.segments.length;
    return { path: target, keys: capture.keys, segments, bytes, durationMs: performance.now() - started };
  } catch (error) {
    if (error instanceof BackupDestinationError || error instanceof BackupFailedError) throw error;
    if (temp !== null) removeQuietly(temp, source.logger);
    // The store's failed state (its capture could not fsync): callers know that error, and its
    // message names the data directory, which a BackupFailedError's reason must not.
    if (error instanceof StorageFailedError) throw error;
    throw new BackupFailedError(destination, causeWithoutPaths(error), error);
  }
}

/** Writes every file of the backup into `dir` and fsyncs it; returns their bytes. */
async function writeFiles(source: BackupSource, capture: EncodedSnapshot, dir: string): Promise<number> {
  let bytes = 0;
  const newest = capture.segments.length - 1;
  for (const [i, segment] of capture.segments.entries()) {
    const name = segmentFileName(segment.id);
    // The newest segment is the active one (ids only grow): it is still being appended to.
    const sealed = i < newest;
    await placeSegment(join(source.dir, name), join(dir, name), segment.coveredLength, sealed, source.faults);
    bytes += segment.coveredLength;
  }
  // Written last: its fsync of `dir` makes every name in it durable.
  await writeSnapshotFile(realFileSystem, dir, capture.pieces, source.faults);
  return capture.pieces.reduce((sum, piece) => sum + piece.length, bytes);
}

/** The absolute destination, or BackupDestinationError saying why it cannot be used. */
function checkDestination(destination: string, storeDir: string): string {
  const refuse = (problem: string) => new BackupDestinationError(destination, problem);
  if (destination === "") throw refuse("no path given");
  if (destination.includes("\0")) throw refuse("the path contains a NUL byte");
  const target = resolve(destination);
  const parent = dirname(target);
  if (!isDirectory(parent)) throw refuse("its parent directory does not exist");
  const inside = realpathSync(parent) + sep;
  const store = realpathSync(storeDir);
  if (inside === `${store}${sep}` || inside.startsWith(`${store}${sep}`)) {
    throw refuse("it is inside the store's data directory");
  }
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return target;
    throw error;
  }
  if (!stat.isDirectory()) throw refuse("it exists and is not a directory");
  if (readdirSync(target).length > 0) throw refuse("it is not empty; give a new or empty directory");
  // The backup is built beside the destination and renamed onto it, which cannot cross into
  // another file system: a mount point (the root of a backup disk, say) would get nothing.
  if (stat.dev !== statSync(parent).dev) throw refuse("it is a mount point; give a new directory inside it");
  return target;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Puts the first `length` bytes of a segment at `to`: a hard link for a sealed segment whose file
 * is exactly that long, a copy otherwise. Either way the file at `to` ends fsynced.
 */
async function placeSegment(
  from: string,
  to: string,
  length: number,
  sealed: boolean,
  faults: FaultInjector | null,
): Promise<void> {
  if (sealed && statSync(from).size === length && linked(from, to, faults)) {
    // The store fsynced the data before the capture; this makes the new link's inode durable.
    await syncFile(to);
  } else {
    await copyPrefix(from, to, length, faults);
  }
}

/** Hard-links `from` to `to`; false if this file system cannot, so the file must be copied. */
function linked(from: string, to: string, faults: FaultInjector | null): boolean {
  try {
    faults?.("backup:link");
    linkSync(from, to);
    return true;
  } catch (error) {
    if (LINK_UNAVAILABLE.has((error as NodeJS.ErrnoException).code ?? "")) return false;
    throw error;
  }
}

/** Copies the first `length` bytes of `from` to a new file `to`, a chunk at a time, and fsyncs it. */
async function copyPrefix(from: string, to: string, length: number, faults: FaultInjector | null) {
  const source = await open(from, "r");
  try {
    const target = await open(to, "wx");
    try {
      const chunk = Buffer.allocUnsafe(Math.min(COPY_CHUNK_BYTES, length));
      for (let done = 0; done < length; ) {
        const { bytesRead } = await source.read(chunk, 0, Math.min(chunk.length, length - done), done);
        if (bytesRead === 0) throw new Error(`${basename(from)} ends at byte ${done}, short of ${length}`);
        faults?.("backup:write");
        for (let written = 0; written < bytesRead; ) {
          const result = await target.write(chunk, written, bytesRead - written, done + written);
          written += result.bytesWritten;
        }
        done += bytesRead;
      }
      await target.datasync();
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Renames the finished temp directory to the destination and fsyncs the parent. The destination
 * may have been filled or created meanwhile: then the rename fails and nothing is replaced. If
 * the parent's fsync fails the backup may not survive a crash, so it is removed and reported.
 */
function moveIntoPlace(temp: string, target: string, destination: string, logger: Logger): void {
  try {
    renameSync(temp, target);
  } catch (error) {
    removeQuietly(temp, logger);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOTEMPTY" || code === "EEXIST" || code === "ENOTDIR") {
      throw new BackupDestinationError(destination, "it was created or filled while the backup ran");
    }
    throw new BackupFailedError(destination, causeWithoutPaths(error), error);
  }
  try {
    realFileSystem.syncDirectory(dirname(target));
  } catch (error) {
    removeQuietly(target, logger);
    throw new BackupFailedError(destination, causeWithoutPaths(error), error);
  }
}

function removeQuietly(path: string, logger: Logger): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch (error) {
    logger.error(`could not remove the unfinished backup ${path}: ${String(error)}`);
  }
}

/**
 * The cause of a failure in words that name no path: system errors carry the paths of the data
 * directory and the temp directory in their message, which a server must not hand to clients.
 */
function causeWithoutPaths(error: unknown): string {
  const { code, errno, syscall } = error as NodeJS.ErrnoException;
  if (typeof code === "string" && typeof errno === "number") {
    return `${code}: ${getSystemErrorMessage(errno)}${syscall === undefined ? "" : `, in ${syscall}`}`;
  }
  return error instanceof Error ? error.message : String(error);
}
