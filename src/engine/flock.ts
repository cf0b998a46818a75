// flock(2) from the C library through bun:ffi: neither node:fs nor Bun offers an advisory lock.
//
// Only Linux with glibc (libc.so.6) is supported, the platform kvstore is built and tested for.
// Elsewhere opening a store fails with UnsupportedPlatformError rather than running without the
// lock: without it two processes can write one directory and corrupt it, which a store that
// refuses to open never does.
import { dlopen, FFIType, type Pointer, read } from "bun:ffi";
import { constants } from "node:os";
import { UnsupportedPlatformError } from "./errors.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;

function loadLibC() {
  return dlopen("libc.so.6", {
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    // errno is thread-local in glibc; this returns its address for the calling thread.
    __errno_location: { args: [], returns: FFIType.ptr },
  }).symbols;
}

let libc: ReturnType<typeof loadLibC> | null = null;

function libC(): ReturnType<typeof loadLibC> {
  if (libc !== null) return libc;
  try {
    libc = loadLibC();
  } catch (error) {
    throw new UnsupportedPlatformError(
      `kvstore locks its data directory with flock(2) from libc.so.6 (Linux with glibc), which could not be loaded here (${(error as Error).message})`,
    );
  }
  return libc;
}

/**
 * Takes an exclusive flock(2) on the open file `fd` without waiting. True if this open file
 * description now holds it; false if another one holds it, in any process (this one included).
 */
export function tryLockExclusive(fd: number, path: string): boolean {
  const c = libC();
  if (c.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  // Read errno at once: nothing has run since the failed call that could have changed it.
  const errno = read.i32(c.__errno_location() as Pointer, 0);
  if (errno === constants.errno.EWOULDBLOCK) return false;
  const code = Object.entries(constants.errno).find(([, value]) => value === errno)?.[0] ?? `errno ${errno}`;
  throw Object.assign(
    new Error(
      `${code}: cannot lock ${path} with flock(2); the data directory needs a file system with advisory locks`,
    ),
    { code, errno: -errno, syscall: "flock", path },
  );
}
