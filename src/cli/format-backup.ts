import type { BackupReport } from "../index.ts";

/** One line for a finished backup, as `kvstore backup` and the REPL print it. */
export function formatBackupReport(report: BackupReport): string {
  const { path, keys, segments, bytes, durationMs } = report;
  const counted = `${count(keys, "key")} (${count(segments, "segment")}, ${count(bytes, "byte")})`;
  return `Backed up ${counted} to ${path} in ${durationMs.toFixed(0)} ms`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
