// Opening a store on a full disk: a small tmpfs filled to the brim, where creating an empty file
// still works (inodes remain) but writing a single byte fails with ENOSPC. Needs root to mount.
import { afterAll, afterEach, describe, expect, it } from "bun:test";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KVStore, LockedError, silentLogger } from "../../src/index.ts";
import { firstLine, spawnHolder } from "../fixtures/lock-holder.ts";
import { text } from "../helpers.ts";

const open = (dir: string) => KVStore.open(dir, { logger: silentLogger });
const TIMEOUT = 60_000;

const disk = mkdtempSync(join(tmpdir(), "kvstore-full-disk-"));

/** Mounts a 256 KiB tmpfs on `disk`; returns why it could not, or null. */
function mountSmallTmpfs(): string | null {
  try {
    const mount = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=256k", "kvstore-full-disk", disk], {
      stderr: "pipe",
    });
    return mount.exitCode === 0 ? null : mount.stderr.toString().trim() || `mount exited ${mount.exitCode}`;
  } catch (error) {
    return (error as Error).message; // no mount on the PATH
  }
}

const unavailable = mountSmallTmpfs();
if (unavailable !== null)
  console.warn(`SKIPPING the full-disk LOCK tests: cannot mount a tmpfs (${unavailable})`);

afterEach(() => {
  for (const name of readdirSync(disk)) rmSync(join(disk, name), { recursive: true, force: true });
});

afterAll(() => {
  // Lazily: the segments' memory maps of closed stores may outlive them until garbage collection.
  if (unavailable === null) Bun.spawnSync(["umount", "--lazy", disk]);
  rmSync(disk, { recursive: true, force: true });
});

/** Writes a filler file until the tmpfs has no byte left, and checks that it has none. */
function fillTheDisk(): void {
  const fd = openSync(join(disk, "filler"), "w");
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  } finally {
    closeSync(fd);
  }
  expect(() => writeFileSync(join(disk, "one-byte"), "x")).toThrow("ENOSPC");
  rmSync(join(disk, "one-byte"));
}

/** A store with one key, whose holder was then killed: it leaves its LOCK behind. */
async function crashedStore(): Promise<string> {
  const dir = join(disk, "store");
  mkdirSync(dir);
  const store = await open(dir);
  await store.set("kept", "before the crash");
  await store.close();
  const holder = spawnHolder(dir);
  expect(await firstLine(holder.stdout)).toBe("open");
  holder.kill("SIGKILL");
  await holder.exited;
  return dir;
}

describe("LOCK on a full disk", () => {
  it.skipIf(unavailable !== null)(
    "opens after a crash that left the LOCK behind, and leaves no other file",
    async () => {
      const dir = await crashedStore();
      const before = readdirSync(dir).sort();
      fillTheDisk();
      const store = await open(dir);
      expect(text(store.get("kept"))).toBe("before the crash");
      expect(readdirSync(dir).sort()).toEqual(before);
      await store.close();
    },
    TIMEOUT,
  );

  it.skipIf(unavailable !== null)(
    "opens after a clean close, and then refuses others without naming a pid it could not write",
    async () => {
      const dir = join(disk, "store");
      await (await open(dir)).close();
      fillTheDisk();
      const store = await open(dir);
      const other = spawnHolder(dir);
      try {
        expect(await firstLine(other.stdout)).toBe("LockedError");
        expect(await new Response(other.stderr).text()).toContain("locked by another process");
      } finally {
        other.stdin.end();
      }
      expect(await other.exited).toBe(3);
      await store.close();
    },
    TIMEOUT,
  );

  it.skipIf(unavailable !== null)(
    "refuses an open while another process holds the directory, leaving no file behind",
    async () => {
      const dir = await crashedStore();
      const holder = spawnHolder(dir);
      try {
        expect(await firstLine(holder.stdout)).toBe("open");
        fillTheDisk();
        const before = readdirSync(dir).sort();
        const error = await open(dir).catch((e) => e);
        expect(error).toBeInstanceOf(LockedError);
        expect(readdirSync(dir).sort()).toEqual(before);
      } finally {
        holder.stdin.end();
      }
      expect(await holder.exited).toBe(0);
    },
    TIMEOUT,
  );
});
