import type { BlobStorage } from "../../volume/blob-storage.ts";
import {
  Counter,
  type CounterSeries,
  Histogram,
  type HistogramSeries,
  MetricsRegistry,
  ObservedMetric,
} from "./registry.ts";

const LATENCY_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

interface AnsweredSeries {
  count: CounterSeries;
  latency: HistogramSeries;
}

/** Everything /metrics exposes in the Prometheus formats. */
export class ServerMetrics {
  readonly registry = new MetricsRegistry();
  readonly requests = this.registry.register(
    new Counter("kvstore_http_requests", "HTTP requests answered, by method, route and status."),
  );
  readonly latency = this.registry.register(
    new Histogram(
      "kvstore_http_request_duration_seconds",
      "Time from receiving a request until its handler answered (a large body may still be streaming), by method and route.",
      LATENCY_BUCKETS_SECONDS,
    ),
  );
  readonly blobBytesReceived = this.registry.register(
    new Counter("kvstore_blob_received_bytes", "Bytes of blobs received in PUT and POST bodies."),
  );
  readonly blobBytesSent = this.registry.register(
    new Counter("kvstore_blob_sent_bytes", "Bytes of blobs sent in GET responses."),
  );

  /** The series of each method, route and status answered so far: no label string per request. */
  private readonly answeredSeries = new Map<string, Map<string, Map<number, AnsweredSeries>>>();

  /** Counts one answered request and its time to answer. */
  answered(method: string, route: string, status: number, seconds: number): void {
    let byRoute = this.answeredSeries.get(method);
    if (byRoute === undefined) {
      byRoute = new Map();
      this.answeredSeries.set(method, byRoute);
    }
    let byStatus = byRoute.get(route);
    if (byStatus === undefined) {
      byStatus = new Map();
      byRoute.set(route, byStatus);
    }
    let series = byStatus.get(status);
    if (series === undefined) {
      series = {
        count: this.requests.series({ method, route, status: String(status) }),
        latency: this.latency.series({ method, route }),
      };
      byStatus.set(status, series);
    }
    series.count.inc();
    series.latency.observe(seconds);
  }

  constructor(storage: BlobStorage, uptimeSeconds: () => number) {
    const gauge = (name: string, help: string, read: () => number) =>
      this.registry.register(new ObservedMetric(name, help, "gauge", read));
    const counter = (name: string, help: string, read: () => number) =>
      this.registry.register(new ObservedMetric(name, help, "counter", read));
    gauge("kvstore_keys", "Keys in the store.", () => storage.stats().numKeys);
    gauge("kvstore_segments", "Segment files, the active one included.", () => storage.stats().numSegments);
    gauge("kvstore_disk_bytes", "Bytes of all segment files.", () => storage.stats().totalBytes);
    gauge("kvstore_live_bytes", "Bytes of the records the index points to.", () => storage.stats().liveBytes);
    gauge("kvstore_dead_bytes", "Bytes that compaction could reclaim.", () => storage.stats().deadBytes);
    gauge(
      "kvstore_active_segment_id",
      "Id of the segment being appended to.",
      () => storage.stats().activeSegmentId,
    );
    gauge("kvstore_corrupt_records", "Damaged records found when the store was opened.", () => {
      return storage.stats().corruptRecords;
    });
    counter("kvstore_compactions", "Compactions finished.", () => storage.stats().compactions);
    counter("kvstore_compaction_failures", "Compactions that failed (their inputs stayed in use).", () => {
      return storage.stats().compactionFailures;
    });
    gauge(
      "kvstore_storage_failed",
      "1 once a disk failure stopped the store's writes (restart to recover).",
      () => (storage.stats().storageFailure === null ? 0 : 1),
    );
    gauge("kvstore_disk_full", "1 while new values are refused because the disk is full.", () =>
      storage.stats().diskFull ? 1 : 0,
    );
    counter("kvstore_compaction_reclaimed_bytes", "Bytes of segment files that compactions freed.", () => {
      return storage.stats().bytesReclaimed;
    });
    gauge("kvstore_compacting", "1 while a compaction runs.", () => (storage.stats().compacting ? 1 : 0));
    gauge("kvstore_last_compaction_seconds", "Duration of the last compaction.", () => {
      return storage.stats().lastCompactionMs / 1000;
    });
    counter("kvstore_snapshots_saved", "Index snapshots saved since the store opened.", () => {
      return storage.stats().snapshotsSaved;
    });
    counter("kvstore_fsyncs", "fsync calls made by the engine.", () => storage.stats().fsyncs);
    counter("kvstore_group_commits", "Group commits: batches of writes flushed together.", () => {
      return storage.stats().groupCommits;
    });
    gauge("kvstore_uptime_seconds", "Seconds since the server started.", uptimeSeconds);
    gauge("process_resident_memory_bytes", "Resident memory of the server process.", () =>
      process.memoryUsage.rss(),
    );
    this.registry.register(
      new ObservedMetric("kvstore_info", "The volume this server holds.", "gauge", () => [
        [{ volume_id: storage.volumeId }, 1],
      ]),
    );
  }
}
