// GET /admin/stats: the engine's figures plus every segment's live and dead bytes.
import { describe, expect, it } from "bun:test";
import { loopbackPolicy } from "../../src/server/security/guard.ts";
import { AccessTokens } from "../../src/server/security/tokens.ts";
import { openTestApp } from "./app-fixture.ts";

interface Segment {
  id: number;
  bytes: number;
  liveBytes: number;
  active: boolean;
}

describe("GET /admin/stats", () => {
  it("answers store.stats() and segments whose figures add up to it", async () => {
    // No background compaction: it would rewrite the segments this test lays out.
    const { request, store } = await openTestApp({
      volumeId: "vol-stats",
      store: { maxSegmentBytes: 1024, autoCompaction: false },
    });
    for (let i = 0; i < 12; i++) await request("PUT", `/blobs/k${i % 4}`, { body: "x".repeat(300) });
    const response = await request("GET", "/admin/stats");
    expect(response.status).toBe(200);
    const body = (await response.json()) as { volume_id: string; stats: unknown; segments: Segment[] };
    expect(body.volume_id).toBe("vol-stats");
    expect(body.stats).toEqual(store.stats());
    const { segments } = body;
    expect(segments.length).toBe(store.stats().numSegments);
    expect(segments.length).toBeGreaterThan(1);
    expect(segments.map((s) => s.id)).toEqual(segments.map((s) => s.id).toSorted((a, b) => a - b));
    expect(segments.filter((s) => s.active).map((s) => s.id)).toEqual([store.stats().activeSegmentId]);
    expect(segments.reduce((sum, s) => sum + s.bytes, 0)).toBe(store.stats().totalBytes);
    expect(segments.reduce((sum, s) => sum + s.liveBytes, 0)).toBe(store.stats().liveBytes);
    // The first segments hold only overwritten values.
    expect(segments[0]?.liveBytes).toBe(0);
  });

  it("needs the admin role", async () => {
    const tokens = new AccessTokens([
      { role: "write", token: "writer-token" },
      { role: "admin", token: "admin-token" },
    ]);
    const { request } = await openTestApp({ security: { ...loopbackPolicy, tokens } });
    const asWriter = await request("GET", "/admin/stats", {
      headers: { authorization: "Bearer writer-token" },
    });
    expect(asWriter.status).toBe(403);
    const asAdmin = await request("GET", "/admin/stats", {
      headers: { authorization: "Bearer admin-token" },
    });
    expect(asAdmin.status).toBe(200);
  });
});
