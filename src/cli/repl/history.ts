import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const historySize = 1000;

export function historyFile(dataDir: string): string {
  return join(dataDir, ".repl_history");
}

/** Past lines, newest first as readline wants them; none if the file is missing. */
export function loadHistory(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter(Boolean).slice(-historySize).reverse();
}

/** Rewrites the file from readline's list, which it already keeps bounded and newest first. */
export function saveHistory(file: string, newestFirst: readonly string[]): void {
  writeFileSync(file, `${newestFirst.toReversed().join("\n")}\n`);
}
