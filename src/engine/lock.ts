import { linkSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { LockedError } from "./errors.ts";

// LOCK is a symbolic link whose target is "<pid> <process start time>" of the process that has
// the directory open. The start time (from /proc, where there is one) tells a live holder from a
// new process that was given the same pid after the holder died, as happens to pid 1 in every
// container.
//
// A symbolic link rather than a file: symlink(2) makes the name and its content in one call that
// fails if the name exists, so no process ever sees a LOCK without its holder in it; and a target
// this short is kept in the inode (ext4, XFS, tmpfs), so taking the lock needs no free block. A
// store must open on a full disk, so that its data can be read and deleted. kvstore 0.1 wrote
// LOCK as a regular file holding the same text; one left by a crash of it is still read.

const LOCK_FILE = "LOCK";

/** Directories (by real path) this process holds, so a second open in the same process fails. */
const heldHere = new Set<string>();

export interface DirectoryLock {
  release(): void;
}

/**
 * Takes the directory's LOCK, or throws LockedError naming the live holder.
 * A lock left by a process that is gone is taken over.
 */
export function acquireLock(dir: string): DirectoryLock {
  const key = realpathSync(dir);
  if (heldHere.has(key)) throw new LockedError(dir, process.pid);
  const path = join(dir, LOCK_FILE);
  const mine = `${process.pid} ${startTimeOf(process.pid) ?? 0}`;
  for (let attempt = 0; !created(path, mine); attempt++) {
    const found = readLock(path);
    if (found === null) continue; // released meanwhile: try again
    const holder = parseHolder(found);
    if ((holder !== null && isAlive(holder)) || attempt >= 3) throw new LockedError(dir, holder?.pid ?? 0);
    takeOverStale(dir, path, found);
  }
  heldHere.add(key);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      heldHere.delete(key);
      if (readLock(path) === mine) rmSync(path, { force: true });
    },
  };
}

/**
 * Removes a LOCK whose holder is gone, so that the next attempt can succeed. Another process may
 * have taken it over an instant before: the lock is moved aside first, and put back if what was
 * moved is not the stale lock this process looked at.
 */
function takeOverStale(dir: string, path: string, stale: string): void {
  const aside = `${path}.${process.pid}.stale`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  const moved = readLock(aside);
  if (moved !== stale) {
    linked(aside, path);
    rmSync(aside, { force: true });
    throw new LockedError(dir, parseHolder(moved ?? "")?.pid ?? 0);
  }
  rmSync(aside, { force: true });
}

interface Holder {
  pid: number;
  startTime: number;
}

/** Makes the LOCK at `path` holding `holder`; false if there is one. */
function created(path: string, holder: string): boolean {
  try {
    symlinkSync(holder, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

/** Links `from` (a LOCK moved aside) to the name `to`; false if `to` exists. */
function linked(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

/** The holder text of the LOCK at `path`, or null if there is none. */
function readLock(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    if (code !== "EINVAL") throw error;
  }
  // Not a symbolic link: a LOCK file written by kvstore 0.1.
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

function parseHolder(text: string): Holder | null {
  const [pid, startTime] = text.trim().split(/\s+/).map(Number);
  if (!Number.isInteger(pid) || (pid ?? 0) <= 0) return null;
  return { pid: pid as number, startTime: startTime ?? 0 };
}

function isAlive(holder: Holder): boolean {
  if (holder.pid === process.pid) {
    // Our own pid: this very process (through another path to the directory) if the start time
    // is ours too; otherwise a previous life of the pid, such as a restarted container.
    return holder.startTime !== 0 && holder.startTime === startTimeOf(process.pid);
  }
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const startTime = startTimeOf(holder.pid);
  return startTime === null || holder.startTime === 0 || startTime === holder.startTime;
}

/** Start time of a process in clock ticks since boot (Linux /proc), or null where unknown. */
function startTimeOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; the start time is field 22 of the line.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const value = Number(fields[19]);
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}
