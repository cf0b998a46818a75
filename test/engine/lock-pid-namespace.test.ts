// A second container on the same volume: the process holding the directory is in another PID
// namespace, so its pid is absent from our /proc or names an unrelated process of ours (pid 1).
import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { KVStore, LockedError, silentLogger } from "../../src/index.ts";
import { firstLine, spawnHolder } from "../fixtures/lock-holder.ts";
import { IN_NEW_PID_NAMESPACE, pidNamespaceUnavailable } from "../fixtures/pid-namespace.ts";
import { tempDir } from "../helpers.ts";

const open = (dir: string) => KVStore.open(dir, { logger: silentLogger });
const unavailable = pidNamespaceUnavailable("the LOCK tests across PID namespaces");
const TIMEOUT = 60_000;

describe("LOCK across PID namespaces", () => {
  it.skipIf(unavailable !== null)(
    "refuses a process in another PID namespace while this process holds the directory",
    async () => {
      const dir = tempDir();
      const store = await open(dir);
      const child = spawnHolder(dir, IN_NEW_PID_NAMESPACE);
      try {
        expect(await firstLine(child.stdout)).toBe("LockedError");
        expect(await new Response(child.stderr).text()).toContain(`locked by process ${process.pid}`);
      } finally {
        child.stdin.end();
      }
      expect(await child.exited).toBe(3);
      // The refused process left the LOCK as it was: still ours.
      expect(readFileSync(join(dir, "LOCK"), "utf8").split(" ")[0]).toBe(String(process.pid));
      await expect(open(dir)).rejects.toThrow("already open in this process");
      await store.close();
    },
    TIMEOUT,
  );

  it.skipIf(unavailable !== null)(
    "refuses this process while a process in another PID namespace (its pid 1) holds the directory",
    async () => {
      const dir = tempDir();
      const holder = spawnHolder(dir, IN_NEW_PID_NAMESPACE);
      try {
        expect(await firstLine(holder.stdout)).toBe("open");
        const error = await open(dir).catch((e) => e);
        expect(error).toBeInstanceOf(LockedError);
        expect(error.message).toContain("locked by process 1 of another PID namespace");
      } finally {
        holder.stdin.end();
      }
      expect(await holder.exited).toBe(0);
      const store = await open(dir);
      await store.close();
    },
    TIMEOUT,
  );
});
