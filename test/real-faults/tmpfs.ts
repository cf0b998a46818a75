// A small tmpfs: a real file system that fills up, for the full-disk tests. Mounting one needs
// root (or CAP_SYS_ADMIN); `tmpfsUnavailable()` says why it cannot be had here.
import { closeSync, mkdtempSync, openSync, rmdirSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { failureOf } from "./required-tool.ts";

export interface Tmpfs {
  /** Where it is mounted. */
  readonly dir: string;
  /** Unmounts it (every process must have closed its files there) and removes the mount point. */
  unmount(): void;
}

export function mountTmpfs(megabytes: number): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), "kvstore-tmpfs-"));
  const failed = failureOf(["mount", "-t", "tmpfs", "-o", `size=${megabytes}m`, "tmpfs", dir]);
  if (failed !== null) {
    rmdirSync(dir);
    throw new Error(failed);
  }
  let mounted = true;
  return {
    dir,
    unmount() {
      if (!mounted) return;
      const failure = failureOf(["umount", dir]);
      if (failure !== null) throw new Error(`${failure} (does a process still use it?)`);
      mounted = false;
      rmdirSync(dir);
    },
  };
}

/** Null if this process can mount a tmpfs, else why not. */
export function tmpfsUnavailable(): string | null {
  try {
    mountTmpfs(1).unmount();
    return null;
  } catch (error) {
    return `cannot mount a tmpfs (it needs root): ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** Writes the file `path` until its file system has not one byte left. */
export function fillToTheLastByte(path: string): void {
  const fd = openSync(path, "w");
  try {
    let size = 0;
    // Big writes first, then ever smaller ones for the last partly used page.
    for (const chunk of [1 << 20, 1 << 14, 1 << 10, 64, 1]) {
      const bytes = new Uint8Array(chunk);
      for (;;) {
        try {
          size += writeSync(fd, bytes, 0, chunk, size);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOSPC") break;
          throw error;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}
