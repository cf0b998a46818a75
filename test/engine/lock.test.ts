import { describe, expect, it } from "bun:test";
import { existsSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KVStore, LockedError, silentLogger } from "../../src/index.ts";
import { tempDir } from "../helpers.ts";

const HOLDER = join(import.meta.dir, "../fixtures/hold-lock.ts");
const open = (dir: string) => KVStore.open(dir, { logger: silentLogger });

function spawnHolder(dir: string) {
  return Bun.spawn([process.execPath, HOLDER, dir], { stdin: "pipe", stdout: "pipe" });
}

async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    text += decoder.decode(chunk);
    if (text.includes("\n")) break;
  }
  return text.trim();
}

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

  async function deadPid(): Promise<number> {
    const dead = Bun.spawn([process.execPath, "-e", "0"]);
    await dead.exited;
    return dead.pid;
  }

  it("takes over a lock left by a process that died", async () => {
    const dir = tempDir();
    symlinkSync(`${await deadPid()} 12345`, join(dir, "LOCK"));
    const store = await open(dir);
    expect(readlinkSync(join(dir, "LOCK")).split(" ")[0]).toBe(String(process.pid));
    await store.close();
  });

  it("takes over a LOCK file (not a symbolic link) left by kvstore 0.1", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "LOCK"), `${await deadPid()} 12345\n`);
    const store = await open(dir);
    expect(readlinkSync(join(dir, "LOCK")).split(" ")[0]).toBe(String(process.pid));
    await store.close();
  });

  it("takes over a lock carrying this process's pid from a previous life (container restart)", async () => {
    const dir = tempDir();
    symlinkSync(`${process.pid} 1`, join(dir, "LOCK"));
    const store = await open(dir);
    await store.close();
  });

  it("takes over a lock whose pid now belongs to a different process", async () => {
    const dir = tempDir();
    const holder = spawnHolder(tempDir());
    expect(await firstLine(holder.stdout)).toBe("open");
    // Same pid, but a start time that is not this process's: the pid was reused.
    symlinkSync(`${holder.pid} 1`, join(dir, "LOCK"));
    const store = await open(dir);
    await store.close();
    holder.stdin.end();
    await holder.exited;
  });
});
