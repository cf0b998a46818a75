import {
  closeSync,
  constants,
  ftruncateSync,
  openSync,
  readFileSync,
  readlinkSync,
  readSync,
  realpathSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { LockedError, type LockHolder } from "./errors.ts";
import { tryLockExclusive } from "./flock.ts";
import type { Logger } from "./options.ts";

// One process at a time has a data directory open. What keeps others out is an exclusive
// flock(2) on the file LOCK, taken without waiting when the store opens and held until it closes:
//
//   open(LOCK, O_RDWR | O_CREAT) ─ flock(LOCK_EX | LOCK_NB) ─┬─ held: write who we are (best effort)
//                                                            └─ EWOULDBLOCK: LockedError, naming
//                                                               the holder LOCK names, if any
//
// - The kernel decides, not the pid in the file: a process in another PID namespace (a second
//   container on the same volume) is refused although its pid means nothing here, and a holder
//   that dies in any way (kill -9 included) lets the lock go at once. So a LOCK naming a dead
//   process is still locked if its kernel lock is held, and a LOCK left by a crash, or by an older
//   kvstore that only wrote the pid file, is free.
// - LOCK is never deleted: had a process deleted it while another held its lock, a third could
//   create and lock a new LOCK (another inode) beside the holder.
// - Taking the lock writes no data (LOCK is created empty on the first open and stays), so a
//   full disk cannot stop an open; there are no temp files to leave behind.
// - The kernel lock belongs to one open file description, so a second open in this process is
//   refused too; `heldHere` only lets its message say so before LOCK is touched.
//
// Once held, LOCK says who holds it, for the message of a refused process only; it is emptied
// again before the lock is released, so it names a process that is gone only after a crash:
//
//   "<pid> <start time> <PID namespace>\n"    e.g. "4242 1234567 pid:[4026531836]\n"
//
// The start time (clock ticks since boot, /proc/self/stat) and the PID namespace (/proc/self/ns/pid)
// tell this very process, reaching the directory by another path, from a process elsewhere with
// the same pid, such as pid 1 in each of two containers.

const LOCK_FILE = "LOCK";

/** Directories (by real path) this process holds, for the "already open in this process" message. */
const heldHere = new Set<string>();

export interface DirectoryLock {
  release(): void;
}

/** Takes the directory's lock, or throws LockedError naming the holder when LOCK tells it. */
export function acquireLock(dir: string, logger: Logger): DirectoryLock {
  const key = realpathSync(dir);
  if (heldHere.has(key)) throw new LockedError(dir, { in: "this process" });
  const path = join(dir, LOCK_FILE);
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  try {
    if (!tryLockExclusive(fd, path)) throw new LockedError(dir, holderNamedIn(fd));
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  heldHere.add(key);
  writeHolder(fd, path, logger);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      heldHere.delete(key);
      try {
        ftruncateSync(fd, 0);
      } catch {
        // Only a message could suffer: the next holder overwrites LOCK.
      } finally {
        closeSync(fd); // releases the kernel lock
      }
    },
  };
}

interface HolderLine {
  pid: number;
  startTime: number | null;
  pidNamespace: string | null;
}

const thisProcess: HolderLine = {
  pid: process.pid,
  startTime: readStartTime(),
  pidNamespace: readPidNamespace(),
};

/**
 * Records this process in LOCK. Best effort: the lock is held already, and on a full disk LOCK
 * stays empty, so a refused process is not told who holds the directory.
 */
function writeHolder(fd: number, path: string, logger: Logger): void {
  const { pid, startTime, pidNamespace } = thisProcess;
  const line = [pid, startTime ?? 0, ...(pidNamespace === null ? [] : [pidNamespace])].join(" ");
  try {
    ftruncateSync(fd, 0);
    writeSync(fd, `${line}\n`, 0);
  } catch (error) {
    logger.warn(
      `could not write this process's pid to ${path} (${(error as Error).message}); it is locked all the same`,
    );
  }
}

/** Who LOCK says holds the directory; best effort, as its holder wrote it. */
function holderNamedIn(fd: number): LockHolder {
  let named: HolderLine | null = null;
  try {
    const buffer = Buffer.alloc(256);
    named = parseHolder(buffer.toString("utf8", 0, readSync(fd, buffer, 0, buffer.length, 0)));
  } catch {
    // Unreadable: the holder is simply not named.
  }
  if (named === null) return { in: "another process", pid: null };
  if (
    named.pidNamespace !== null &&
    thisProcess.pidNamespace !== null &&
    named.pidNamespace !== thisProcess.pidNamespace
  ) {
    return { in: "another PID namespace", pid: named.pid };
  }
  const sameProcess =
    named.pid === thisProcess.pid &&
    named.startTime !== null &&
    named.startTime === thisProcess.startTime &&
    named.pidNamespace === thisProcess.pidNamespace;
  return sameProcess ? { in: "this process" } : { in: "another process", pid: named.pid };
}

function parseHolder(text: string): HolderLine | null {
  const [pid, startTime, pidNamespace] = text.trim().split(/\s+/);
  if (!/^[1-9][0-9]*$/.test(pid ?? "")) return null;
  return {
    pid: Number(pid),
    startTime: /^[1-9][0-9]*$/.test(startTime ?? "") ? Number(startTime) : null,
    pidNamespace: pidNamespace ?? null,
  };
}

/** Start time of this process in clock ticks since boot (Linux /proc), or null where unknown. */
function readStartTime(): number | null {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    // Fields after the parenthesised command name; the start time is field 22 of the line.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const value = Number(fields[19]);
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

/** The PID namespace of this process, as "pid:[inode]", or null where /proc does not say. */
function readPidNamespace(): string | null {
  try {
    return readlinkSync("/proc/self/ns/pid");
  } catch {
    return null;
  }
}
