import { describe, expect, it } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { recordingLogger } from "../helpers.ts";
import { everyByteValue, openTestApp } from "./app-fixture.ts";

const MiB = 1024 * 1024;

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("GET /health", () => {
  it("answers status, volume_id, keys, segments, total_mb and uptime_secs", async () => {
    const clock = manualClock();
    const { request, store } = await openTestApp({ volumeId: "vol-health", now: clock.now });
    await request("PUT", "/blobs/a", { body: "1" });
    await request("PUT", "/blobs/b", { body: "22" });
    clock.advance(61_500);
    for (const path of ["/health", "/"]) {
      const response = await request("GET", path);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        status: "healthy",
        volume_id: "vol-health",
        keys: 2,
        segments: 1,
        total_mb: store.stats().totalBytes / MiB,
        uptime_secs: 61,
      });
    }
  });
});

describe("GET /metrics", () => {
  it("answers JSON with the original API's fields by default", async () => {
    const clock = manualClock();
    const { request, store } = await openTestApp({ volumeId: "vol-m", now: clock.now });
    await request("PUT", "/blobs/a", { body: "x".repeat(100) });
    await request("PUT", "/blobs/b", { body: "y".repeat(300) });
    clock.advance(5_000);
    const stats = store.stats();
    for (const accept of [null, "*/*", "application/json", "text/html,application/xhtml+xml"]) {
      const response = await request("GET", "/metrics", { headers: accept === null ? {} : { accept } });
      expect(response.headers.get("content-type")).toContain("application/json");
      expect(await response.json()).toEqual({
        total_keys: 2,
        total_segments: 1,
        total_bytes: stats.totalBytes,
        total_mb: stats.totalBytes / MiB,
        active_segment_id: stats.activeSegmentId,
        oldest_segment_id: stats.oldestSegmentId,
        volume_id: "vol-m",
        uptime_secs: 5,
        avg_value_size_bytes: stats.liveBytes / 2,
        live_bytes: stats.liveBytes,
        dead_bytes: stats.deadBytes,
        corrupt_records: 0,
        compactions: 0,
      });
    }
  });

  it("answers the Prometheus text exposition to Accept: text/plain", async () => {
    const { request } = await openTestApp();
    await request("PUT", "/blobs/a", { body: "x".repeat(100) });
    await request("GET", "/blobs/a");
    await request("GET", "/blobs/a/with/slashes");
    await request("GET", "/blobs/a", { headers: { range: "bytes=0-9" } });
    await request("GET", "/nowhere");

    const response = await request("GET", "/metrics", { headers: { accept: "text/plain" } });
    expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await response.text();
    const lines = text.split("\n");
    expect(lines).toContain("# TYPE kvstore_http_requests_total counter");
    expect(lines).toContain('kvstore_http_requests_total{method="PUT",route="/blobs/:key",status="201"} 1');
    expect(lines).toContain('kvstore_http_requests_total{method="GET",route="/blobs/:key",status="200"} 1');
    expect(lines).toContain('kvstore_http_requests_total{method="GET",route="/blobs/:key",status="404"} 1');
    expect(lines).toContain('kvstore_http_requests_total{method="GET",route="/blobs/:key",status="206"} 1');
    expect(lines).toContain('kvstore_http_requests_total{method="GET",route="unmatched",status="404"} 1');
    expect(lines).toContain("# TYPE kvstore_http_request_duration_seconds histogram");
    expect(lines).toContain(
      'kvstore_http_request_duration_seconds_count{method="GET",route="/blobs/:key"} 3',
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^kvstore_http_request_duration_seconds_bucket\{method="PUT",route="\/blobs\/:key",le="\+Inf"\} 1$/,
      ),
    );
    expect(lines).toContain("kvstore_blob_received_bytes_total 100");
    expect(lines).toContain("kvstore_blob_sent_bytes_total 110");
    expect(lines).toContain("kvstore_keys 1");
    expect(lines).toContain("kvstore_segments 1");
    expect(lines).toContain('kvstore_info{volume_id="vol-test"} 1');
    expect(text).not.toContain("# EOF");
  });

  it("answers OpenMetrics, ending in # EOF, to Prometheus' own Accept header", async () => {
    const { request } = await openTestApp();
    await request("GET", "/health");
    const accept =
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75," +
      "text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    const response = await request("GET", "/metrics", { headers: { accept } });
    expect(response.headers.get("content-type")).toBe(
      "application/openmetrics-text; version=1.0.0; charset=utf-8",
    );
    const lines = (await response.text()).split("\n");
    expect(lines).toContain("# TYPE kvstore_http_requests counter");
    expect(lines).toContain('kvstore_http_requests_total{method="GET",route="/health",status="200"} 1');
    expect(lines.at(-2)).toBe("# EOF");
  });

  it("has a bucket line for every histogram bound, cumulative", async () => {
    const { request } = await openTestApp();
    await request("GET", "/health");
    await request("GET", "/health");
    const text = await (await request("GET", "/metrics", { headers: { accept: "text/plain" } })).text();
    const buckets = text
      .split("\n")
      .filter((line) =>
        line.startsWith('kvstore_http_request_duration_seconds_bucket{method="GET",route="/health"'),
      )
      .map((line) => Number(line.split(" ").at(-1)));
    expect(buckets.length).toBe(15);
    expect(buckets.at(-1)).toBe(2);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
  });
});

describe("POST /admin/compact", () => {
  it("compacts now and answers what it did; every blob reads back the same", async () => {
    const { request } = await openTestApp({
      streamFromFileBytes: 1024,
      store: { maxSegmentBytes: 1024, autoCompaction: false },
    });
    const large = everyByteValue(8);
    await request("PUT", "/blobs/large", { body: large });
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 10; i++)
        await request("PUT", `/blobs/small-${i}`, { body: `round ${round} blob ${i}` });
    }
    const etagBefore = (await request("HEAD", "/blobs/large")).headers.get("etag");

    const response = await request("POST", "/admin/compact");
    expect(response.status).toBe(200);
    const report = (await response.json()) as Record<string, number | string>;
    expect(report).toEqual({
      status: "compacted",
      duration_ms: expect.any(Number),
      segments_before: expect.any(Number),
      segments_after: expect.any(Number),
      total_bytes_before: expect.any(Number),
      total_bytes_after: expect.any(Number),
    });
    expect(report.segments_after).toBeLessThan(report.segments_before as number);
    expect(report.total_bytes_after).toBeLessThan(report.total_bytes_before as number);

    for (let i = 0; i < 10; i++)
      expect(await (await request("GET", `/blobs/small-${i}`)).text()).toBe(`round 19 blob ${i}`);
    const reread = await request("GET", "/blobs/large");
    expect(reread.headers.get("etag")).toBe(etagBefore);
    const rereadBytes: Uint8Array = new Uint8Array(await reread.arrayBuffer());
    expect(rereadBytes).toEqual(large);
    expect(await (await request("GET", "/metrics")).json()).toMatchObject({ compactions: 1 });
  });
});

describe("POST /admin/snapshot", () => {
  it("saves index.snapshot and answers the keys it holds", async () => {
    const { request, dir } = await openTestApp();
    await request("PUT", "/blobs/a", { body: "1" });
    await request("PUT", "/blobs/b", { body: "2" });
    const response = await request("POST", "/admin/snapshot");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "saved", keys: 2, snapshots_saved: expect.any(Number) });
    expect(existsSync(join(dir, "index.snapshot"))).toBe(true);
  });
});

describe("request logging", () => {
  it("writes one debug line per request when asked to", async () => {
    const logger = recordingLogger();
    const { request } = await openTestApp({ logger, logRequests: true });
    await request("GET", "/health");
    await request("GET", "/blobs/missing");
    expect(logger.lines).toEqual([
      expect.stringMatching(/^debug: GET http:\/\/localhost\/health 200 \d+\.\d\dms$/),
      expect.stringMatching(/^debug: GET http:\/\/localhost\/blobs\/missing 404 \d+\.\d\dms$/),
    ]);
  });

  it("writes none by default", async () => {
    const logger = recordingLogger();
    const { request } = await openTestApp({ logger });
    await request("GET", "/health");
    expect(logger.lines).toEqual([]);
  });
});
