import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { LockedError } from "./errors.ts";

// LOCK holds "<pid> <process start time>\n" of the process that has the directory open.
// The start time (from /proc, where there is one) tells a live holder from a new process that
// was given the same pid after the holder died, as happens to pid 1 in every container.

const LOCK_FILE = "LOCK";

/** Directories this process holds, so that a second open in the same process fails too. */
const heldHere = new Set<string>();

export interface DirectoryLock {
  release(): void;
}

/**
 * Takes the directory's LOCK, or throws LockedError naming the live holder.
 * A lock left by a process that is gone is taken over.
 */
export function acquireLock(dir: string): DirectoryLock {
  const key = resolve(dir);
  const path = join(dir, LOCK_FILE);
  const mine = `${process.pid} ${startTimeOf(process.pid) ?? 0}\n`;
  if (heldHere.has(key)) throw new LockedError(dir, process.pid);

  if (!createExclusive(path, mine)) {
    const holder = readHolder(path);
    if (holder !== null && isAlive(holder)) throw new LockedError(dir, holder.pid);
    // The holder is gone: replace its lock atomically, then check that no other process
    // taking over the same stale lock at the same moment replaced ours.
    const temp = `${path}.${process.pid}.tmp`;
    writeWhole(temp, mine, "w");
    renameSync(temp, path);
    if (readFileSync(path, "utf8") !== mine) throw new LockedError(dir, readHolder(path)?.pid ?? 0);
  }
  heldHere.add(key);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      heldHere.delete(key);
      try {
        if (readFileSync(path, "utf8") === mine) rmSync(path);
      } catch {
        // Already gone: nothing to release.
      }
    },
  };
}

interface Holder {
  pid: number;
  startTime: number;
}

function createExclusive(path: string, content: string): boolean {
  try {
    writeWhole(path, content, "wx");
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

function writeWhole(path: string, content: string, flags: string): void {
  const fd = openSync(path, flags);
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
}

function readHolder(path: string): Holder | null {
  try {
    const [pid, startTime] = readFileSync(path, "utf8").trim().split(/\s+/).map(Number);
    if (!Number.isInteger(pid) || (pid ?? 0) <= 0) return null;
    return { pid: pid as number, startTime: startTime ?? 0 };
  } catch {
    return null;
  }
}

function isAlive(holder: Holder): boolean {
  // Same pid as ours but not held here: a previous life of this pid (a restarted container).
  if (holder.pid === process.pid) return false;
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
