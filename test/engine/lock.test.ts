import { describe, expect, it } from "bun:test";
import { existsSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KVStore, LockedError, silentLogger } from "../../src/index.ts";
import { firstLine, spawnHolder } from "../fixtures/lock-holder.ts";
import { tempDir } from "../helpers.ts";

const open = (dir: string) => KVStore.open(dir, { logger: silentLogger });

describe("LOCK", () => {
  it("refuses a second open in the same process and allows it after close", async () => {
    const dir = tempDir();
    const store = await open(dir);
    await expect(open(dir)).rejects.toThrow("already open in this process");
    await store.close();
    expect(existsSync(join(dir, "LOCK"))).toBe(false);
    const again = await open(dir);
    await again.close();
  });

  it("refuses a second open in the same process through another path to the directory", async () => {
    const dir = tempDir();
    const link = join(tempDir(), "link");
    symlinkSync(dir, link);
    const store = await open(dir);
    await expect(open(link)).rejects.toThrow("already open in this process");
    await store.close();
  });

  it("refuses an open while another process holds the directory, naming it", async () => {
    const dir = tempDir();
    const holder = spawnHolder(dir);
    expect(await firstLine(holder.stdout)).toBe("open");
    const error = await open(dir).catch((e) => e);
    expect(error).toBeInstanceOf(LockedError);
    expect(error.message).toContain(`locked by process ${holder.pid}`);
    holder.stdin.end();
    expect(await holder.exited).toBe(0);
    const store = await open(dir);
    await store.close();
  });

  it("makes another process fail cleanly while this one holds the directory", async () => {
    const dir = tempDir();
    const store = await open(dir);
    const child = spawnHolder(dir);
    expect(await firstLine(child.stdout)).toBe("LockedError");
    expect(await child.exited).toBe(3);
    await store.close();
  });

  it("takes over a lock left by a process that died", async () => {
    const dir = tempDir();
    const dead = Bun.spawn([process.execPath, "-e", "0"]);
    await dead.exited;
    writeFileSync(join(dir, "LOCK"), `${dead.pid} 12345\n`);
    const store = await open(dir);
    expect(readFileSync(join(dir, "LOCK"), "utf8").split(" ")[0]).toBe(String(process.pid));
    await store.close();
  });

  it("takes over a lock carrying this process's pid from a previous life (container restart)", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "LOCK"), `${process.pid} 1\n`);
    const store = await open(dir);
    await store.close();
  });

  it("takes over a lock whose pid now belongs to a different process", async () => {
    const dir = tempDir();
    const holder = spawnHolder(tempDir());
    expect(await firstLine(holder.stdout)).toBe("open");
    // Same pid, but a start time that is not this process's: the pid was reused.
    writeFileSync(join(dir, "LOCK"), `${holder.pid} 1\n`);
    const store = await open(dir);
    await store.close();
    holder.stdin.end();
    await holder.exited;
  });
});
