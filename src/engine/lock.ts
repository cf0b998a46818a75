import {
  closeSync,
  linkSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { LockedError } from "./errors.ts";

// LOCK holds "<pid> <process start time>\n" of the process that has the directory open.
// The start time (from /proc, where there is one) tells a live holder from a new process that
// was given the same pid after the holder died, as happens to pid 1 in every container.
//
// LOCK is made by writing a temp file and linking it to the name, which fails if the name
// exists: no process ever sees a LOCK without its holder's pid in it.

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
  const mine = `${process.pid} ${startTimeOf(process.pid) ?? 0}\n`;
  const temp = `${path}.${process.pid}.tmp`;
  writeWhole(temp, mine);
  try {
    for (let attempt = 0; !linked(temp, path); attempt++) {
      const found = readText(path);
      if (found === null) continue; // released meanwhile: try again
      const holder = parseHolder(found);
      if ((holder !== null && isAlive(holder)) || attempt >= 3) throw new LockedError(dir, holder?.pid ?? 0);
      takeOverStale(dir, path, found);
    }
  } finally {
    rmSync(temp, { force: true });
  }
  heldHere.add(key);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      heldHere.delete(key);
      if (readText(path) === mine) rmSync(path, { force: true });
    },
  };
}

/**
 * Removes a LOCK whose holder is gone, so that the next link can succeed. Another process may
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
  const moved = readText(aside);
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

/** Links `from` to the name `to`; false if `to` exists. */
function linked(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

function writeWhole(path: string, content: string): void {
  const fd = openSync(path, "w");
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
}

function readText(path: string): string | null {
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
