import { describe, expect, it } from "bun:test";
import { Counter, Histogram, MetricsRegistry, ObservedMetric } from "../../src/server/metrics/registry.ts";

describe("MetricsRegistry", () => {
  it("renders counters with _total in the 0.0.4 text format, and the family without it in OpenMetrics", () => {
    const registry = new MetricsRegistry();
    const counter = registry.register(new Counter("app_requests", "Requests."));
    counter.inc({ route: "/a" });
    counter.inc({ route: "/a" }, 2);
    counter.inc({ route: "/b" });
    expect(registry.render("prometheus")).toBe(
      "# HELP app_requests_total Requests.\n" +
        "# TYPE app_requests_total counter\n" +
        'app_requests_total{route="/a"} 3\n' +
        'app_requests_total{route="/b"} 1\n',
    );
    expect(registry.render("openmetrics")).toBe(
      "# HELP app_requests Requests.\n" +
        "# TYPE app_requests counter\n" +
        'app_requests_total{route="/a"} 3\n' +
        'app_requests_total{route="/b"} 1\n' +
        "# EOF\n",
    );
  });

  it("renders histograms with cumulative buckets, +Inf, _sum and _count", () => {
    const registry = new MetricsRegistry();
    const histogram = registry.register(new Histogram("app_seconds", "Latency.", [0.1, 1]));
    for (const value of [0.05, 0.5, 0.7, 3]) histogram.observe({ route: "/a" }, value);
    expect(registry.render("prometheus").split("\n").slice(2, -1)).toEqual([
      'app_seconds_bucket{route="/a",le="0.1"} 1',
      'app_seconds_bucket{route="/a",le="1.0"} 3',
      'app_seconds_bucket{route="/a",le="+Inf"} 4',
      'app_seconds_sum{route="/a"} 4.25',
      'app_seconds_count{route="/a"} 4',
    ]);
  });

  it("exposes a counter series taken ahead only once counted, and counts its holders together", () => {
    const registry = new MetricsRegistry();
    const counter = registry.register(new Counter("app_bytes", "Bytes."));
    const one = counter.series({});
    const other = counter.series({});
    expect(registry.render("prometheus")).not.toContain("app_bytes_total 0");
    one.inc(2);
    other.inc(3);
    counter.inc({}, 4);
    expect(registry.render("prometheus").split("\n").slice(2, -1)).toEqual(["app_bytes_total 9"]);
  });

  it("counts a value equal to a bucket's bound in that bucket, through a series held by its caller", () => {
    const registry = new MetricsRegistry();
    const histogram = registry.register(new Histogram("app_seconds", "Latency.", [0.1, 1]));
    const series = histogram.series({ route: "/a" });
    for (const value of [0.1, 1, 1.5]) series.observe(value);
    histogram.observe({ route: "/a" }, 0);
    expect(registry.render("prometheus").split("\n").slice(2, -1)).toEqual([
      'app_seconds_bucket{route="/a",le="0.1"} 2',
      'app_seconds_bucket{route="/a",le="1.0"} 3',
      'app_seconds_bucket{route="/a",le="+Inf"} 4',
      'app_seconds_sum{route="/a"} 2.6',
      'app_seconds_count{route="/a"} 4',
    ]);
  });

  it("reads observed gauges and counters when rendering", () => {
    const registry = new MetricsRegistry();
    let keys = 1;
    registry.register(new ObservedMetric("app_keys", "Keys.", "gauge", () => keys));
    registry.register(new ObservedMetric("app_flushes", "Flushes.", "counter", () => [[{ disk: "a" }, 7]]));
    keys = 5;
    const text = registry.render("prometheus");
    expect(text).toContain("\napp_keys 5\n");
    expect(text).toContain('\napp_flushes_total{disk="a"} 7\n');
  });

  it("escapes label values and help text", () => {
    const registry = new MetricsRegistry();
    registry.register(new Counter("app_odd", "Line one\nback\\slash")).inc({ key: 'a"b\\c\nd' });
    const text = registry.render("prometheus");
    expect(text).toContain("# HELP app_odd_total Line one\\nback\\\\slash\n");
    expect(text).toContain('app_odd_total{key="a\\"b\\\\c\\nd"} 1\n');
  });
});
