import { existsSync } from "node:fs";
import { KVStore } from "../index.ts";

export class MissingDataDirError extends Error {
  override name = "MissingDataDirError";
  constructor(readonly dir: string) {
    super(`no data directory at ${dir}; pass --data-dir or set DATA_DIR`);
  }
}

/**
 * Opens the store for one command and always closes it (saving the snapshot, releasing LOCK).
 * Only commands that add data create a missing directory; the others refuse it, so that a mistyped
 * --data-dir reports an error instead of an empty store.
 */
export async function withStore<T>(
  dataDir: string,
  directory: "existing" | "create",
  action: (store: KVStore) => T | Promise<T>,
): Promise<T> {
  if (directory === "existing" && !existsSync(dataDir)) throw new MissingDataDirError(dataDir);
  const store = await KVStore.open(dataDir);
  try {
    return await action(store);
  } finally {
    await store.close();
  }
}
