// The engine on a real file system with not one byte free (a tmpfs filled by a plain file): it
// must still open, so that its data can be read and deleted.
import { afterEach, beforeEach, expect, it } from "bun:test";
import { statfsSync } from "node:fs";
import { join } from "node:path";
import { DiskFullError, KVStore, type KVStoreOptions, silentLogger } from "../../src/index.ts";
import { describeWithTool } from "./required-tool.ts";
import { fillToTheLastByte, mountTmpfs, type Tmpfs, tmpfsUnavailable } from "./tmpfs.ts";

const HOLDER = join(import.meta.dir, "../fixtures/hold-lock.ts");
const options: KVStoreOptions = { logger: silentLogger, reserveBytes: 256 * 1024 };

describeWithTool("a store on a disk full to the last byte", tmpfsUnavailable(), () => {
  let disk: Tmpfs;
  let dir: string;
  const opened: KVStore[] = [];
  beforeEach(() => {
    disk = mountTmpfs(4);
    dir = join(disk.dir, "data");
  });
  afterEach(async () => {
    // A store left open by a failed test would keep the tmpfs busy.
    for (const store of opened.splice(0)) await store.close();
    Bun.gc(true);
    disk.unmount();
  });

  async function open(): Promise<KVStore> {
    const store = await KVStore.open(dir, options);
    opened.push(store);
    return store;
  }

  async function fillAndReopen(): Promise<KVStore> {
    fillToTheLastByte(join(disk.dir, "filler"));
    expect(statfsSync(disk.dir).bavail).toBe(0);
    return open();
  }

  it("opens, reads, refuses new values and deletes with the space of its reserve", async () => {
    const store = await open();
    await store.set("kept", "value");
    await store.close();

    const full = await fillAndReopen();
    expect(new TextDecoder().decode(full.get("kept") ?? new Uint8Array())).toBe("value");
    // Larger than what is left of the segment's last page, which needs no new block.
    await expect(full.set("new", new Uint8Array(64 * 1024))).rejects.toBeInstanceOf(DiskFullError);
    expect(await full.delete("kept")).toBe(true);
    await full.close();
  });

  it("opens when the process that held it was killed, taking over its LOCK", async () => {
    const holder = Bun.spawn([process.execPath, HOLDER, dir], { stdin: "pipe", stdout: "pipe" });
    const said = await holder.stdout.getReader().read();
    expect(new TextDecoder().decode(said.value)).toBe("open\n");
    holder.kill("SIGKILL");
    await holder.exited;

    const full = await fillAndReopen();
    expect(full.has("anything")).toBe(false);
    await full.close();
  });
});
