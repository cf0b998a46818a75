// A small Prometheus registry: counters, histograms and gauges, rendered in the text
// exposition format 0.0.4 or in OpenMetrics 1.0. Small enough to own; no dependency needed.

export type Labels = Readonly<Record<string, string>>;
export type ExpositionFormat = "prometheus" | "openmetrics";

interface Sample {
  suffix: string;
  labels: Labels;
  value: number;
}

interface MetricFamily {
  /** Base name; counters get `_total` appended to their samples. */
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  collect(): Sample[];
}

/** Label names come in the same order on every call for a family, so the values identify a series. */
function labelKey(labels: Labels): string {
  let key = "";
  for (const name in labels) key += `${labels[name]}\u0000`;
  return key;
}

/** One labelled series of a counter, held by a caller that counts it often. */
export interface CounterSeries {
  inc(by?: number): void;
}

export class Counter implements MetricFamily {
  readonly type = "counter";
  private readonly values = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    this.series(labels).inc(by);
  }

  /**
   * The series of `labels`, to count without finding it again each time. It is exposed from its
   * first count on, as with `inc`: a series taken ahead (at startup) is not rendered as a 0.
   */
  series(labels: Labels): CounterSeries {
    const key = labelKey(labels);
    const values = this.values;
    let counted = values.get(key);
    return {
      inc(by = 1) {
        if (counted === undefined) {
          // Another holder of the same series may have counted it first.
          counted = values.get(key) ?? { labels, value: 0 };
          values.set(key, counted);
        }
        counted.value += by;
      },
    };
  }

  collect(): Sample[] {
    return [...this.values.values()].map(({ labels, value }) => ({ suffix: "_total", labels, value }));
  }
}

/** One labelled series of a histogram, held by a caller that observes it often. */
export interface HistogramSeries {
  observe(value: number): void;
}

export class Histogram implements MetricFamily {
  readonly type = "histogram";
  private readonly values = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; count: number }
  >();

  /** `buckets` are the upper bounds, ascending; +Inf is implied. */
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
  ) {}

  observe(labels: Labels, value: number): void {
    this.series(labels).observe(value);
  }

  /** The series of `labels`, to observe without finding it again each time. */
  series(labels: Labels): HistogramSeries {
    const key = labelKey(labels);
    let entry = this.values.get(key);
    if (entry === undefined) {
      entry = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.values.set(key, entry);
    }
    const observed = entry;
    const buckets = this.buckets;
    return {
      observe(value) {
        // Counts are stored per bucket and made cumulative when rendered.
        let bucket = 0;
        while (bucket < buckets.length && value > (buckets[bucket] as number)) bucket++;
        if (bucket < buckets.length) observed.counts[bucket] = (observed.counts[bucket] as number) + 1;
        observed.sum += value;
        observed.count++;
      },
    };
  }

  collect(): Sample[] {
    const samples: Sample[] = [];
    for (const { labels, counts, sum, count } of this.values.values()) {
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += counts[i] ?? 0;
        samples.push({ suffix: "_bucket", labels: { ...labels, le: formatBound(bound) }, value: cumulative });
      });
      samples.push({ suffix: "_bucket", labels: { ...labels, le: "+Inf" }, value: count });
      samples.push({ suffix: "_sum", labels, value: sum });
      samples.push({ suffix: "_count", labels, value: count });
    }
    return samples;
  }
}

/** A value read when the metrics are scraped, such as the number of keys in the store. */
export class ObservedMetric implements MetricFamily {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge",
    private readonly read: () => number | ReadonlyArray<readonly [Labels, number]>,
  ) {}

  collect(): Sample[] {
    const suffix = this.type === "counter" ? "_total" : "";
    const value = this.read();
    if (typeof value === "number") return [{ suffix, labels: {}, value }];
    return value.map(([labels, sampleValue]) => ({ suffix, labels, value: sampleValue }));
  }
}

export class MetricsRegistry {
  private readonly families: MetricFamily[] = [];

  register<T extends MetricFamily>(family: T): T {
    this.families.push(family);
    return family;
  }

  render(format: ExpositionFormat): string {
    const lines: string[] = [];
    for (const family of this.families) {
      // OpenMetrics names a counter family without `_total`; the 0.0.4 text format names it with.
      const familyName =
        family.type === "counter" && format === "prometheus" ? `${family.name}_total` : family.name;
      lines.push(`# HELP ${familyName} ${escapeHelp(family.help)}`);
      lines.push(`# TYPE ${familyName} ${family.type}`);
      for (const sample of family.collect()) {
        lines.push(
          `${family.name}${sample.suffix}${formatLabels(sample.labels)} ${formatNumber(sample.value)}`,
        );
      }
    }
    if (format === "openmetrics") lines.push("# EOF");
    return `${lines.join("\n")}\n`;
  }
}

export const contentTypes: Record<ExpositionFormat, string> = {
  prometheus: "text/plain; version=0.0.4; charset=utf-8",
  openmetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8",
};

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${entries.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(",")}}`;
}

function formatNumber(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return Number.isNaN(value) ? "NaN" : String(value);
}

/** Bucket bounds as floats ("1.0", not "1"), as OpenMetrics asks. */
function formatBound(bound: number): string {
  return Number.isInteger(bound) ? bound.toFixed(1) : String(bound);
}

function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function escapeHelp(help: string): string {
  return help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}
