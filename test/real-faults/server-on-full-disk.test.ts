// The server binary on a real disk that fills up: a 20 MiB tmpfs as its data directory, with a
// 1 MiB space reserve and 1 MiB segments so that compaction can free space on it.
import { afterEach, beforeAll, beforeEach, expect, it } from "bun:test";
import { rmSync, statfsSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "../cli/binary.ts";
import { versionedValue } from "../fixtures/values.ts";
import { readBack } from "./http-load.ts";
import { describeWithTool } from "./required-tool.ts";
import { killLeftoverServers, type ServedBinary, serveBinary } from "./served-binary.ts";
import { fillToTheLastByte, mountTmpfs, type Tmpfs, tmpfsUnavailable } from "./tmpfs.ts";
import { WriteLedger } from "./write-ledger.ts";

const flags = ["--reserve-mb", "1", "--segment-mb", "1"];
const VALUE_BYTES = 100 * 1024;
const TIMEOUT_MS = 120_000;

describeWithTool("the server on a real full disk (a 20 MiB tmpfs)", tmpfsUnavailable(), () => {
  let disk: Tmpfs;
  let dataDir: string;
  let ledger: WriteLedger;
  let version = 0;
  beforeAll(ensureBinary);
  beforeEach(() => {
    disk = mountTmpfs(20);
    dataDir = join(disk.dir, "data");
    ledger = new WriteLedger();
  });
  afterEach(async () => {
    // A server still running would keep the tmpfs busy.
    await killLeftoverServers();
    disk.unmount();
  });

  /** PUTs a new 100 KB value under `key`; returns the status. */
  async function put(server: ServedBinary, key: string): Promise<number> {
    const value = versionedValue(++version, VALUE_BYTES);
    const sentAt = ledger.tick();
    const response = await fetch(`${server.origin}/blobs/${key}`, { method: "PUT", body: value });
    await response.arrayBuffer();
    ledger.recordPut(key, value, response.status, sentAt);
    return response.status;
  }

  async function remove(server: ServedBinary, key: string): Promise<number> {
    const sentAt = ledger.tick();
    const response = await fetch(`${server.origin}/blobs/${key}`, { method: "DELETE" });
    ledger.recordDelete(key, response.status, sentAt);
    return response.status;
  }

  /** PUTs values under new keys until the disk is full; returns the keys stored, oldest first. */
  async function fillUntilFull(server: ServedBinary, prefix: string): Promise<string[]> {
    const stored: string[] = [];
    for (let i = 0; ; i++) {
      const key = `${prefix}-${String(i).padStart(4, "0")}`;
      const status = await put(server, key);
      if (status === 507) return stored;
      expect(status).toBe(201);
      stored.push(key);
      if (i > 1000) throw new Error("20 MiB took more than 1000 values of 100 KB and never filled");
    }
  }

  async function expectAllAcknowledged(server: ServedBinary): Promise<void> {
    expect(ledger.problems).toEqual([]);
    expect(await readBack(server.origin, ledger)).toEqual([]);
  }

  async function prometheus(server: ServedBinary): Promise<string> {
    return (await fetch(`${server.origin}/metrics`, { headers: { accept: "text/plain" } })).text();
  }

  it(
    "answers 507 when full; reads, deletes and /health go on; compaction frees space; restarts full",
    async () => {
      let server = await serveBinary(dataDir, flags);
      const first = await fillUntilFull(server, "first");
      expect(first.length).toBeGreaterThan(100);
      await expectAllAcknowledged(server);
      // A full disk is not a failed one.
      expect((await fetch(`${server.origin}/health`)).status).toBe(200);
      expect(await prometheus(server)).toContain("kvstore_disk_full 1");
      expect(await put(server, "refused")).toBe(507);

      // Deletes write small tombstones into the space the reserve gave up; they free nothing yet.
      const deleted = first.slice(0, Math.floor(first.length / 2));
      for (const key of deleted) expect(await remove(server, key)).toBe(204);
      expect(await put(server, "still-refused")).toBe(507);

      const compaction = await fetch(`${server.origin}/admin/compact`, { method: "POST" });
      const report = (await compaction.json()) as { total_bytes_before: number; total_bytes_after: number };
      expect(compaction.status).toBe(200);
      // Only the oldest segments that fit the space left are rewritten; the one where the deleted
      // keys end also holds live ones.
      const reclaimed = report.total_bytes_before - report.total_bytes_after;
      expect(reclaimed).toBeGreaterThan((deleted.length * VALUE_BYTES) / 2);
      await expectAllAcknowledged(server);

      // Writes resume once the space is back: the compacted files are deleted a second after the
      // compaction (a reader may still be opening one), and their blocks are free once the
      // process has unmapped them too, which happens when the garbage collector frees the maps.
      await eventually(async () => (await put(server, "resumed")) === 201);
      expect(await prometheus(server)).toContain("kvstore_disk_full 0");

      // Full again, then restarted on the full disk: cleanly, and after a kill.
      expect((await fillUntilFull(server, "second")).length).toBeGreaterThan(0);
      expect(await server.stop("SIGTERM")).toEqual({ code: 0, signal: null });
      server = await serveBinary(dataDir, flags);
      await expectAllAcknowledged(server);
      // Open made the reserve again out of the space it had given up; the next value that finds
      // no room gives it up again, for deletes.
      await fillUntilFull(server, "third");
      expect(await remove(server, first[first.length - 1] as string)).toBe(204);
      expect(await server.stop("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
      server = await serveBinary(dataDir, flags);
      await expectAllAcknowledged(server);
      expect((await fetch(`${server.origin}/health`)).status).toBe(200);
      expect(await server.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    },
    TIMEOUT_MS,
  );

  it(
    "starts on a disk that another file filled to the last byte, serves it, and writes once there is room",
    async () => {
      let server = await serveBinary(dataDir, flags);
      for (let i = 0; i < 10; i++) expect(await put(server, `kept-${i}`)).toBe(201);
      expect(await server.stop("SIGTERM")).toEqual({ code: 0, signal: null });

      const filler = join(disk.dir, "filler");
      fillToTheLastByte(filler);
      expect(statfsSync(disk.dir).bavail).toBe(0);
      server = await serveBinary(dataDir, flags);
      await expectAllAcknowledged(server);
      expect((await fetch(`${server.origin}/health`)).status).toBe(200);
      expect((await fetch(`${server.origin}/admin/snapshot`, { method: "POST" })).status).toBe(507);
      expect(await put(server, "refused")).toBe(507);
      expect(await remove(server, "kept-0")).toBe(204);

      rmSync(filler);
      expect(await put(server, "after-room")).toBe(201);
      await expectAllAcknowledged(server);
      expect(await server.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    },
    TIMEOUT_MS,
  );
});

/** Tries `attempt` until it succeeds; fails after a deadline long enough for a loaded machine. */
async function eventually(attempt: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await attempt())) {
    if (Date.now() > deadline) throw new Error(`still failing after 60 s: ${attempt.toString()}`);
    await Bun.sleep(50);
  }
}
