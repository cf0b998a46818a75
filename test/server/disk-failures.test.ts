// What HTTP clients, load balancers and Prometheus see when the disk fails under the server:
// the engine's failed state and full disk, mapped to statuses that say what to do.
import { describe, expect, it } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { KVStore, silentLogger } from "../../src/index.ts";
import { createApp } from "../../src/server/app.ts";
import { BlobStorage } from "../../src/volume/blob-storage.ts";
import { FaultyFileSystem } from "../fault/faulty-file-system.ts";
import { scratchDir } from "./app-fixture.ts";

async function faultyApp() {
  const dir = scratchDir();
  const fs = new FaultyFileSystem(dir);
  const store = await KVStore.open(dir, {
    logger: silentLogger,
    fileSystem: fs,
    maxSegmentBytes: 64 * 1024,
    reserveBytes: 64 * 1024,
    // The free space these tests play is all there is: no zeros ahead that a compaction frees.
    preallocateBytes: 0,
    autoCompaction: false,
  });
  const app = createApp(new BlobStorage(store, "vol-faults"), {});
  const request = (method: string, path: string, init: RequestInit = {}) =>
    app.handle(new Request(`http://localhost${path}`, { method, ...init }));
  const prometheus = async () =>
    (await request("GET", "/metrics", { headers: { accept: "text/plain" } })).text();
  return { dir, fs, store, request, prometheus, close: () => store.close() };
}

const isSegment = (path: string) => /segment-\d+\.dat$/.test(path);

describe("after a failed fsync", () => {
  it("PUT and DELETE answer 503 with a JSON error naming no server path; GET keeps serving", async () => {
    const { dir, fs, request, close } = await faultyApp();
    expect((await request("PUT", "/blobs/kept", { body: "v1" })).status).toBe(201);
    fs.rule = (call) => (call.op === "datasync" && isSegment(call.path) ? "EIO" : null);
    const put = await request("PUT", "/blobs/kept", { body: "v2" });
    expect(put.status).toBe(503);
    const body = (await put.json()) as { error: string };
    expect(body.error).toContain("storage failed");
    expect(body.error).toContain("EIO");
    expect(body.error).not.toContain(dir);
    fs.rule = null;
    expect((await request("PUT", "/blobs/other", { body: "x" })).status).toBe(503);
    expect((await request("DELETE", "/blobs/kept")).status).toBe(503);
    const get = await request("GET", "/blobs/kept");
    expect(get.status).toBe(200);
    expect(await get.text()).toBe("v1");
    await close();
  });

  it("/health answers 503 with the reason, and /metrics says kvstore_storage_failed 1", async () => {
    const { fs, request, prometheus, close } = await faultyApp();
    expect((await request("GET", "/health")).status).toBe(200);
    expect(await prometheus()).toContain("kvstore_storage_failed 0");
    fs.rule = (call) => (call.op === "datasync" && isSegment(call.path) ? "EIO" : null);
    await request("PUT", "/blobs/k", { body: "v" });
    const health = await request("GET", "/health");
    expect(health.status).toBe(503);
    expect(((await health.json()) as { error: string }).error).toContain("writes are refused");
    expect(await prometheus()).toContain("kvstore_storage_failed 1");
    await close();
  });
});

describe("POST /admin/backup after a failed fsync", () => {
  it("answers 503 with the storage-failed error naming no server path, and leaves nothing", async () => {
    const { dir, fs, request, close } = await faultyApp();
    expect((await request("PUT", "/blobs/kept", { body: "v1" })).status).toBe(201);
    fs.rule = (call) => (call.op === "datasync" && isSegment(call.path) ? "EIO" : null);
    expect((await request("PUT", "/blobs/kept", { body: "v2" })).status).toBe(503);
    fs.rule = null;
    const parent = scratchDir();
    const response = await request("POST", "/admin/backup", {
      body: JSON.stringify({ path: join(parent, "backup") }),
      headers: { "content-type": "application/json" },
    });
    expect(response.status).toBe(503);
    const body = (await response.json()) as { error: string };
    expect(body.error).toContain("storage failed");
    expect(body.error).not.toContain(dir);
    expect(readdirSync(parent)).toEqual([]);
    await close();
  });
});

describe("full disk", () => {
  it("PUT answers 507 with a JSON error, nothing is stored, DELETE and GET keep working", async () => {
    const { fs, request, prometheus, close } = await faultyApp();
    await request("PUT", "/blobs/a", { body: "1" });
    fs.rule = (call) => (call.op === "write" && isSegment(call.path) ? "ENOSPC" : null);
    const put = await request("PUT", "/blobs/b", { body: "2" });
    expect(put.status).toBe(507);
    expect(((await put.json()) as { error: string }).error).toContain("full");
    expect((await request("GET", "/blobs/b")).status).toBe(404);
    expect(await prometheus()).toContain("kvstore_disk_full 1");
    fs.rule = null;
    fs.freeSpace = 10;
    expect((await request("PUT", "/blobs/b", { body: "2" })).status).toBe(507);
    expect((await request("DELETE", "/blobs/a")).status).toBe(204);
    expect((await request("GET", "/health")).status).toBe(200);
    await close();
  });
});

describe("POST /admin/snapshot on a full disk", () => {
  it("answers 507 with a JSON error naming no server path; the old snapshot stays", async () => {
    const { dir, fs, request, close } = await faultyApp();
    await request("PUT", "/blobs/a", { body: "1" });
    expect((await request("POST", "/admin/snapshot")).status).toBe(200);
    fs.rule = (call) => (call.op === "write" && call.path.endsWith("index.snapshot.tmp") ? "ENOSPC" : null);
    const response = await request("POST", "/admin/snapshot");
    expect(response.status).toBe(507);
    const body = (await response.json()) as { error: string };
    expect(body.error).toContain("full");
    expect(body.error).not.toContain(dir);
    expect(existsSync(join(dir, "index.snapshot"))).toBe(true);
    fs.rule = null;
    expect((await request("GET", "/health")).status).toBe(200);
    expect((await request("POST", "/admin/snapshot")).status).toBe(200);
    await close();
  });
});

describe("POST /admin/compact under faults", () => {
  it("answers 500 with a clear JSON error when an output's fdatasync fails, and counts the failure", async () => {
    const { dir, fs, request, prometheus, close } = await faultyApp();
    for (let i = 0; i < 20; i++) await request("PUT", `/blobs/k${i % 5}`, { body: `value ${i}` });
    fs.rule = (call) =>
      call.op === "datasyncInBackground" && call.path.endsWith(".compacting") ? "EIO" : null;
    const response = await request("POST", "/admin/compact");
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: string };
    expect(body.error).toContain("compaction failed (EIO)");
    expect(body.error).not.toContain(dir);
    expect(await prometheus()).toContain("kvstore_compaction_failures_total 1");
    fs.rule = null;
    expect((await request("PUT", "/blobs/after", { body: "ok" })).status).toBe(201);
    expect(await (await request("GET", "/blobs/k4")).text()).toBe("value 19");
    await close();
  });

  it("answers 500 naming no server path when the last compaction's inputs could not be deleted", async () => {
    const { dir, fs, request, close } = await faultyApp();
    for (let i = 0; i < 20; i++) await request("PUT", `/blobs/k${i % 5}`, { body: `value ${i}` });
    fs.rule = (call) => (call.op === "remove" && isSegment(call.path) ? "EIO" : null);
    expect((await request("POST", "/admin/compact")).status).toBe(200);
    const response = await request("POST", "/admin/compact");
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: string };
    expect(body.error).toContain("compaction failed");
    expect(body.error).not.toContain(dir);
    fs.rule = null;
    await close();
  });

  it("answers 507 saying how much space it needs when not even the oldest segment fits", async () => {
    const { fs, request, close } = await faultyApp();
    await request("PUT", "/blobs/a", { body: "1" });
    fs.freeSpace = 100;
    const response = await request("POST", "/admin/compact");
    expect(response.status).toBe(507);
    expect(((await response.json()) as { error: string }).error).toMatch(/needs about \d+ bytes free/);
    await close();
  });
});

describe("other file errors", () => {
  it("answer 500 naming the errno, not the server's file", async () => {
    const { dir, fs, request, close } = await faultyApp();
    fs.rule = (call) => (call.op === "open" && isSegment(call.path) ? "EMFILE" : null);
    let response: Response | null = null;
    // 64 KiB segments: the third of these needs a new segment file.
    for (let i = 0; i < 10 && response === null; i++) {
      const put = await request("PUT", `/blobs/k${i}`, { body: "x".repeat(30_000) });
      if (put.status !== 201) response = put;
    }
    expect(response?.status).toBe(500);
    const body = (await response?.json()) as { error: string };
    expect(body.error).toContain("EMFILE");
    expect(body.error).not.toContain(dir);
    fs.rule = null;
    expect((await request("PUT", "/blobs/after", { body: "ok" })).status).toBe(201);
    await close();
  });
});
