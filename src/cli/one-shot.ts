// The commands for scripts: each opens the store, does one thing, closes it and returns an exit code.
import { ExitCode } from "./exit-code.ts";
import { formatBackupReport } from "./format-backup.ts";
import { formatStats } from "./format-stats.ts";
import { withStore } from "./open-store.ts";
import { printError, writeStdout } from "./output.ts";

function notFound(key: string): ExitCode {
  printError(`key ${JSON.stringify(key)} not found`);
  return ExitCode.failure;
}

export async function getCommand(dataDir: string, key: string): Promise<ExitCode> {
  const value = await withStore(dataDir, "existing", (store) => store.get(key));
  if (value === null) return notFound(key);
  await writeStdout(value);
  return ExitCode.success;
}

export async function setCommand(dataDir: string, key: string, value: string | undefined): Promise<ExitCode> {
  // Read all of stdin before taking the lock, so a slow producer does not hold the directory.
  const bytes = value ?? (await Bun.stdin.bytes());
  await withStore(dataDir, "create", (store) => store.set(key, bytes));
  await writeStdout("OK\n");
  return ExitCode.success;
}

export async function deleteCommand(dataDir: string, key: string): Promise<ExitCode> {
  const existed = await withStore(dataDir, "existing", (store) => store.delete(key));
  if (!existed) return notFound(key);
  await writeStdout("Deleted\n");
  return ExitCode.success;
}

export async function listCommand(dataDir: string, prefix: string | undefined): Promise<ExitCode> {
  const keys = await withStore(dataDir, "existing", (store) => store.listKeys({ prefix }));
  if (keys.length > 0) await writeStdout(`${keys.join("\n")}\n`);
  return ExitCode.success;
}

export async function statsCommand(dataDir: string, json: boolean): Promise<ExitCode> {
  const stats = await withStore(dataDir, "existing", (store) => store.stats());
  await writeStdout(`${json ? JSON.stringify(stats, null, 2) : formatStats(stats)}\n`);
  return ExitCode.success;
}

export async function compactCommand(dataDir: string): Promise<ExitCode> {
  await withStore(dataDir, "existing", (store) => store.compact());
  await writeStdout("Compaction finished\n");
  return ExitCode.success;
}

export async function backupCommand(dataDir: string, destination: string): Promise<ExitCode> {
  const report = await withStore(dataDir, "existing", (store) => store.backup(destination));
  await writeStdout(`${formatBackupReport(report)}\n`);
  return ExitCode.success;
}
