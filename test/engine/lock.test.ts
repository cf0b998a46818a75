import { describe, expect, it } from "bun:test";
import { readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KVStore, LockedError, silentLogger, verify } from "../../src/index.ts";
import { firstLine, spawnHolder } from "../fixtures/lock-holder.ts";
import { tempDir } from "../helpers.ts";

const open = (dir: string) => KVStore.open(dir, { logger: silentLogger });
const TIMEOUT = 60_000;

/** Sets or clears a file attribute (chattr); false where chattr, the file system or the kernel refuses. */
function chattr(flag: "+a" | "-a", path: string): boolean {
  try {
    return Bun.spawnSync(["chattr", flag, path], { stderr: "ignore" }).exitCode === 0;
  } catch {
    return false; // no chattr on the PATH
  }
}

const appendOnlyUnavailable = (() => {
  const probe = tempDir("kvstore-chattr-probe");
  const works = chattr("+a", probe) && chattr("-a", probe);
  if (!works)
    console.warn("SKIPPING the append-only directory LOCK test: chattr +a is not available or not permitted");
  return !works;
})();

/** The process's open file descriptors, from /proc. */
function openFileDescriptors(): number {
  return readdirSync("/proc/self/fd").length;
}

describe("LOCK", () => {
  it("refuses a second open in the same process and allows it after close", async () => {
    const dir = tempDir();
    const store = await open(dir);
    await expect(open(dir)).rejects.toThrow("already open in this process");
    await store.close();
    // LOCK stays (deleting it could split the lock between two inodes), naming no one.
    expect(readFileSync(join(dir, "LOCK"), "utf8")).toBe("");
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

  it("opens despite a LOCK naming a process that died (a crash, or an older kvstore)", async () => {
    const dir = tempDir();
    const dead = Bun.spawn([process.execPath, "-e", "0"]);
    await dead.exited;
    writeFileSync(join(dir, "LOCK"), `${dead.pid} 12345\n`);
    const store = await open(dir);
    expect(readFileSync(join(dir, "LOCK"), "utf8").split(" ")[0]).toBe(String(process.pid));
    await store.close();
  });

  it("opens despite a LOCK naming this process's pid from a previous life (container restart)", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "LOCK"), `${process.pid} 1\n`);
    const store = await open(dir);
    await store.close();
  });

  it("opens despite a LOCK naming a live process that does not hold its kernel lock", async () => {
    const dir = tempDir();
    const holder = spawnHolder(tempDir());
    expect(await firstLine(holder.stdout)).toBe("open");
    // A live pid (reused, or of an older kvstore that only wrote the file): the kernel lock is free.
    writeFileSync(join(dir, "LOCK"), `${holder.pid} 1\n`);
    const store = await open(dir);
    await store.close();
    holder.stdin.end();
    await holder.exited;
  });

  it(
    "stays locked while the holder lives, whatever pid the LOCK file names",
    async () => {
      const dir = tempDir();
      const holder = spawnHolder(dir);
      try {
        expect(await firstLine(holder.stdout)).toBe("open");
        const dead = Bun.spawn([process.execPath, "-e", "0"]);
        await dead.exited;
        for (const forged of [`${dead.pid} 12345\n`, `${process.pid} 1\n`, `1 1\n`, ""]) {
          writeFileSync(join(dir, "LOCK"), forged);
          const error = await open(dir).catch((e) => e);
          expect(error).toBeInstanceOf(LockedError);
        }
      } finally {
        holder.stdin.end();
      }
      expect(await holder.exited).toBe(0);
    },
    TIMEOUT,
  );

  it(
    "is free as soon as its holder is killed",
    async () => {
      const dir = tempDir();
      const holder = spawnHolder(dir);
      expect(await firstLine(holder.stdout)).toBe("open");
      holder.kill("SIGKILL");
      await holder.exited;
      const store = await open(dir);
      await store.close();
    },
    TIMEOUT,
  );

  it(
    "lets exactly one of several processes opening at once have the directory",
    async () => {
      for (let round = 0; round < 5; round++) {
        const dir = tempDir();
        const racers = Array.from({ length: 4 }, () => spawnHolder(dir));
        const said = await Promise.all(racers.map((racer) => firstLine(racer.stdout)));
        for (const racer of racers) racer.stdin.end();
        await Promise.all(racers.map((racer) => racer.exited));
        expect(said.sort()).toEqual(["LockedError", "LockedError", "LockedError", "open"]);
      }
    },
    TIMEOUT,
  );

  it("leaks no file descriptor when it refuses an open", async () => {
    const dir = tempDir();
    const store = await open(dir);
    const before = openFileDescriptors();
    for (let i = 0; i < 20; i++) await expect(open(dir)).rejects.toThrow(LockedError);
    expect(openFileDescriptors()).toBe(before);
    await store.close();
  });

  it.skipIf(appendOnlyUnavailable)(
    "is not left open in this process by a directory that refused to let a file go",
    async () => {
      // In an append-only directory (chattr +a) files can be created but not unlinked or renamed.
      const dir = tempDir();
      chattr("+a", dir);
      try {
        const first = await open(dir).catch((e) => e);
        if (first instanceof KVStore) await first.close();
      } finally {
        chattr("-a", dir);
      }
      const store = await open(dir);
      await store.close();
    },
    TIMEOUT,
  );

  it("removes the temp files an older kvstore could leave while taking the lock", async () => {
    const dir = tempDir();
    // A full disk left LOCK.<pid>.tmp empty; a crash during a takeover left LOCK.<pid>.stale.
    writeFileSync(join(dir, "LOCK.4242.tmp"), "");
    writeFileSync(join(dir, "LOCK.4243.stale"), "4243 1\n");
    expect(verify(dir).leftovers.sort()).toEqual(["LOCK.4242.tmp", "LOCK.4243.stale"]);
    const store = await open(dir);
    expect(readdirSync(dir).filter((name) => name.startsWith("LOCK"))).toEqual(["LOCK"]);
    await store.close();
  });
});
