// Shared pieces of the benchmarks: workloads, latency percentiles and the printed table.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Measurement {
  ops: number;
  seconds: number;
  /** Per-operation latencies in microseconds (may be a sample). */
  latenciesUs: Float64Array;
}

export interface Row {
  name: string;
  kvstore: Measurement;
  baseline?: Measurement;
  baselineName?: string;
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), `${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** 16-byte keys that sort in insertion order. */
export function benchKey(i: number): string {
  return `key-${String(i).padStart(12, "0")}`;
}

export function randomValue(bytes: number): Uint8Array {
  const value = new Uint8Array(bytes);
  crypto.getRandomValues(value);
  return value;
}

/** Runs `op` one at a time for `count` operations or until `maxSeconds` pass. */
export async function sequential(
  count: number,
  maxSeconds: number,
  op: (i: number) => unknown,
): Promise<Measurement> {
  const latencies = new Float64Array(count);
  const start = Bun.nanoseconds();
  const deadline = start + maxSeconds * 1e9;
  let done = 0;
  while (done < count) {
    const t0 = Bun.nanoseconds();
    const result = op(done);
    if (result instanceof Promise) await result;
    const t1 = Bun.nanoseconds();
    latencies[done++] = (t1 - t0) / 1000;
    if (t1 > deadline) break;
  }
  return { ops: done, seconds: (Bun.nanoseconds() - start) / 1e9, latenciesUs: latencies.subarray(0, done) };
}

/** `writers` loops run at once, each awaiting its own operations, sharing `count` operations. */
export async function concurrent(
  count: number,
  writers: number,
  maxSeconds: number,
  op: (i: number) => Promise<unknown> | unknown,
): Promise<Measurement> {
  const latencies = new Float64Array(count);
  const start = Bun.nanoseconds();
  const deadline = start + maxSeconds * 1e9;
  let next = 0;
  let done = 0;
  const loop = async () => {
    while (next < count && Bun.nanoseconds() < deadline) {
      const i = next++;
      const t0 = Bun.nanoseconds();
      await op(i);
      latencies[done++] = (Bun.nanoseconds() - t0) / 1000;
    }
  };
  await Promise.all(Array.from({ length: writers }, loop));
  return { ops: done, seconds: (Bun.nanoseconds() - start) / 1e9, latenciesUs: latencies.subarray(0, done) };
}

/** Issues operations in batches of `batchSize` promises and awaits each batch. */
export async function batched(
  count: number,
  batchSize: number,
  op: (i: number) => Promise<unknown> | unknown,
): Promise<Measurement> {
  const latencies = new Float64Array(Math.ceil(count / batchSize));
  const pending: unknown[] = new Array(batchSize);
  const start = Bun.nanoseconds();
  for (let b = 0; b * batchSize < count; b++) {
    const t0 = Bun.nanoseconds();
    const end = Math.min(count, (b + 1) * batchSize);
    for (let i = b * batchSize; i < end; i++) pending[i - b * batchSize] = op(i);
    await Promise.all(pending);
    // Every operation of a batch waits for the batch: its latency is the batch's.
    latencies[b] = (Bun.nanoseconds() - t0) / 1000;
  }
  return { ops: count, seconds: (Bun.nanoseconds() - start) / 1e9, latenciesUs: latencies };
}

/** Runs `op` `count` times back to back without timing each call (for sub-microsecond ops). */
export function tightLoop(count: number, op: (i: number) => unknown): Measurement {
  const start = Bun.nanoseconds();
  for (let i = 0; i < count; i++) op(i);
  const seconds = (Bun.nanoseconds() - start) / 1e9;
  // Latency of a tight loop: sample every 16th op in a second pass.
  const sample = new Float64Array(Math.ceil(count / 16));
  for (let i = 0, s = 0; i < count; i += 16, s++) {
    const t0 = Bun.nanoseconds();
    op(i);
    sample[s] = (Bun.nanoseconds() - t0) / 1000;
  }
  return { ops: count, seconds, latenciesUs: sample };
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

function summary(m: Measurement): { opsPerSec: number; p50: number; p99: number } {
  const sorted = Float64Array.from(m.latenciesUs).sort();
  return { opsPerSec: m.ops / m.seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

const fmtOps = (n: number) => Math.round(n).toLocaleString("en-US");
const fmtUs = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));

/** Prints rows as a Markdown table, kvstore beside its baseline with the ratio. */
export function printTable(title: string, rows: Row[]): void {
  console.log(`\n### ${title}\n`);
  console.log(
    "| workload | kvstore ops/s | p50 µs | p99 µs | baseline | baseline ops/s | p50 µs | p99 µs | ratio |",
  );
  console.log("|---|---:|---:|---:|---|---:|---:|---:|---:|");
  for (const row of rows) {
    const kv = summary(row.kvstore);
    const base = row.baseline ? summary(row.baseline) : null;
    const cells = [
      row.name,
      fmtOps(kv.opsPerSec),
      fmtUs(kv.p50),
      fmtUs(kv.p99),
      row.baselineName ?? "",
      base ? fmtOps(base.opsPerSec) : "",
      base ? fmtUs(base.p50) : "",
      base ? fmtUs(base.p99) : "",
      base ? `${(kv.opsPerSec / base.opsPerSec).toFixed(2)}x` : "",
    ];
    console.log(`| ${cells.join(" | ")} |`);
  }
}
