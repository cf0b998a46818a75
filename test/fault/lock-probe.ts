// Whether a data directory's kernel lock is free: a test's way to check that a store released it
// (LOCK itself stays on disk; only the flock(2) on it says who holds the directory).
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { tryLockExclusive } from "../../src/engine/flock.ts";

export function directoryLockIsFree(dir: string): boolean {
  const path = join(dir, "LOCK");
  const fd = openSync(path, "r");
  try {
    // A new open file description: refused while any other one, this process's too, holds it.
    return tryLockExclusive(fd, path);
  } finally {
    closeSync(fd);
  }
}
