import { describe, expect, it } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KVStore, silentLogger, verify } from "../../src/index.ts";
import { recordingLogger } from "../helpers.ts";
import { openTestApp, scratchDir } from "./app-fixture.ts";

const json = (body: unknown): RequestInit => ({
  body: JSON.stringify(body),
  headers: { "content-type": "application/json" },
});

describe("POST /admin/backup", () => {
  it("answers 200 with the report once the backup, without later writes, is in place", async () => {
    const { request } = await openTestApp({ store: { maxSegmentBytes: 1024, autoCompaction: false } });
    for (let i = 0; i < 40; i++) await request("PUT", `/blobs/blob-${i}`, { body: `blob ${i} `.repeat(10) });
    const path = join(scratchDir(), "backup");

    const response = await request("POST", "/admin/backup", json({ path }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      path,
      keys: 40,
      segments: expect.any(Number),
      bytes: expect.any(Number),
      duration_ms: expect.any(Number),
    });
    await request("PUT", "/blobs/later", { body: "not in the backup" });

    expect(verify(path)).toMatchObject({ ok: true, liveKeys: 40, snapshot: { status: "ok" } });
    const backup = await KVStore.open(path, { logger: silentLogger });
    expect(backup.has("later")).toBe(false);
    expect(new TextDecoder().decode(backup.get("blob-7") ?? new Uint8Array())).toBe("blob 7 ".repeat(10));
    await backup.close();
  });

  it("reads the body as JSON whatever its Content-Type, as curl -d sends it", async () => {
    const { request } = await openTestApp();
    const path = join(scratchDir(), "backup");
    const response = await request("POST", "/admin/backup", {
      body: JSON.stringify({ path }),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(response.status).toBe(200);
    expect(existsSync(join(path, "index.snapshot"))).toBe(true);
  });

  it("answers 400 for a missing, empty, relative or unusable path, and writes nothing", async () => {
    const { request } = await openTestApp();
    const parent = scratchDir();
    mkdirSync(join(parent, "full"));
    writeFileSync(join(parent, "full", "precious"), "keep me");
    writeFileSync(join(parent, "file"), "a file");
    const cases: [RequestInit, string][] = [
      [{}, "could not be parsed"],
      [{ body: "not json" }, "could not be parsed"],
      [json({}), "path must be a non-empty string"],
      [json({ path: "" }), "path must be a non-empty string"],
      [json({ path: 42 }), "path must be a non-empty string"],
      [json({ path: "relative/backup" }), "path must be absolute"],
      [json({ path: join(parent, "full") }), "it is not empty"],
      [json({ path: join(parent, "file") }), "it exists and is not a directory"],
      [json({ path: join(parent, "missing", "backup") }), "its parent directory does not exist"],
      [json({ path: `${parent}/nul\0byte` }), "the path contains a NUL byte"],
    ];
    for (const [init, message] of cases) {
      const response = await request("POST", "/admin/backup", init);
      const body = (await response.json()) as { error: string };
      expect({ init, status: response.status, message: body.error.includes(message) }).toEqual({
        init,
        status: 400,
        message: true,
      });
    }
    expect(readdirSync(parent).sort()).toEqual(["file", "full"]);
    expect(readdirSync(join(parent, "full"))).toEqual(["precious"]);
  });

  it("answers 500 naming only the client's path when the disk fails, leaves nothing and goes on serving", async () => {
    const logger = recordingLogger();
    let failing = true;
    const { request, dir } = await openTestApp({
      logger,
      store: {
        faultInjector: (point) => {
          if (failing && point === "backup:write") {
            throw Object.assign(new Error(`ENOSPC: no space left on device, write '${dir}'`), {
              code: "ENOSPC",
              errno: -28,
              syscall: "write",
            });
          }
        },
      },
    });
    await request("PUT", "/blobs/a", { body: "1" });
    const parent = scratchDir();
    const path = join(parent, "backup");

    const response = await request("POST", "/admin/backup", json({ path }));
    expect(response.status).toBe(500);
    const { error } = (await response.json()) as { error: string };
    expect(error).toContain(path);
    expect(error).toContain("ENOSPC");
    expect(error).not.toContain(dir);
    expect(error).not.toContain(".backup-");
    expect(readdirSync(parent)).toEqual([]);
    // The server's log has the whole story.
    expect(logger.lines.some((line) => line.startsWith("error: POST") && line.includes(dir))).toBe(true);

    expect((await request("PUT", "/blobs/b", { body: "2" })).status).toBe(201);
    failing = false;
    expect((await request("POST", "/admin/backup", json({ path }))).status).toBe(200);
    expect(verify(path)).toMatchObject({ ok: true, liveKeys: 2 });
  });
});
