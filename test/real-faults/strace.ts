// strace as a fault injector: runs a command with chosen system calls failing with an errno,
// the way a sick disk fails them, without the command knowing.
//
// strace counts calls for `when` per system call and per thread. The engine makes its group
// commit writes, fdatasyncs and directory fsyncs on the main thread; compaction writes its
// `*.compacting` outputs on its Worker's thread, and compaction and snapshot fdatasyncs run on
// the thread pool (on `*.compacting` and `index.snapshot.tmp` files).
import { failureOf } from "./required-tool.ts";

export interface Injection {
  /** The system call as strace names it: fdatasync, pwrite64, openat, rename, ... */
  syscall: string;
  errno: string;
  /** strace's `when`: "N" fails the Nth call, "N+" the Nth and every later one, "N..M" those. */
  when: string;
}

/** Null if strace is installed and may trace a child here, else why not. */
export function straceUnavailable(): string | null {
  if (Bun.which("strace") === null) return "strace is not installed (apt-get install strace)";
  const failed = failureOf(["strace", "-f", "-qq", "-o", "/dev/null", "true"]);
  return failed === null ? null : `strace cannot trace here: ${failed}`;
}

/**
 * The command prefix that runs a program under strace with `injections`. With `paths`, only
 * calls that name one of them (or an fd opened on one) are counted and failed: `-P` works for
 * paths that do not exist yet.
 */
export function straceInjecting(injections: Injection[], paths: string[] = []): string[] {
  const syscalls = [...new Set(injections.map((injection) => injection.syscall))];
  return [
    "strace",
    "-f",
    "-qq",
    "-o",
    "/dev/null",
    // Stop the program only at the traced calls, not at every one.
    "--seccomp-bpf",
    "-e",
    `trace=${syscalls.join(",")}`,
    ...paths.flatMap((path) => ["-P", path]),
    ...injections.map(({ syscall, errno, when }) => `--inject=${syscall}:error=${errno}:when=${when}`),
  ];
}
