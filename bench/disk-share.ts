// What this machine's disk gives a durable writer while a bulk writer shares it: a foreground
// loop appends a 130-byte record and fdatasyncs it (what kvstore's sync "always" write does),
// alone, then beside a child process that writes 1 MiB blocks with an fdatasync after each
// (what compaction's copy does), flat out and with rests of 1x and 3x each block's time (the
// duty cycle of compaction's Worker while the store writes, src/engine/slices.ts).
// Usage: bun bench/disk-share.ts            (the child: bun bench/disk-share.ts --bulk DIR FACTOR)
import { closeSync, fdatasyncSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./harness.ts";

const FOREGROUND_MS = 3000;
const BLOCK = 1024 * 1024;
/** The bulk writer wraps around in its file, not to fill the disk. */
const BULK_FILE_BYTES = 256 * BLOCK;

if (process.argv[2] === "--bulk") {
  await bulkWriter(process.argv[3] as string, Number(process.argv[4]));
} else {
  await main();
}

async function main(): Promise<void> {
  const temp = tempDir("kv-disk-share");
  try {
    console.log(`Disk shared by a durable writer and a bulk writer, ${new Date().toISOString()}\n`);
    console.log("| bulk writer beside it | foreground fdatasyncs/s | p50 µs | p99 µs | bulk MB/s |");
    console.log("|---|---:|---:|---:|---:|");
    const alone = foreground(temp.path);
    console.log(`| none | ${alone.perSecond} | ${alone.p50} | ${alone.p99} | |`);
    for (const factor of [0, 1, 3]) {
      const child = Bun.spawn([process.execPath, import.meta.path, "--bulk", temp.path, String(factor)], {
        stdout: "pipe",
        stderr: "inherit",
      });
      await Bun.sleep(500); // the bulk writer under way
      const shared = foreground(temp.path);
      child.kill("SIGTERM");
      await child.exited;
      const bulk = (await new Response(child.stdout).text()).trim();
      const name = factor === 0 ? "flat out" : `resting ${factor}x each block's time`;
      console.log(`| ${name} | ${shared.perSecond} | ${shared.p50} | ${shared.p99} | ${bulk} |`);
    }
  } finally {
    temp.remove();
  }
}

function foreground(dir: string): { perSecond: number; p50: number; p99: number } {
  const fd = openSync(join(dir, "foreground"), "w");
  const record = new Uint8Array(130).fill(1);
  const latencies: number[] = [];
  let position = 0;
  const start = performance.now();
  try {
    while (performance.now() - start < FOREGROUND_MS) {
      const t = performance.now();
      writeSync(fd, record, 0, record.length, position);
      position += record.length;
      fdatasyncSync(fd);
      latencies.push((performance.now() - t) * 1000);
    }
  } finally {
    closeSync(fd);
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.floor(latencies.length * q)] as number);
  return { perSecond: Math.round(latencies.length / (FOREGROUND_MS / 1000)), p50: at(0.5), p99: at(0.99) };
}

/** Writes blocks until SIGTERM, then prints its MB/s. */
async function bulkWriter(dir: string, restFactor: number): Promise<void> {
  const fd = openSync(join(dir, "bulk"), "w");
  const block = new Uint8Array(BLOCK).fill(7);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  let stop = false;
  process.on("SIGTERM", () => {
    stop = true;
  });
  let written = 0;
  const start = performance.now();
  while (!stop) {
    const t = performance.now();
    writeSync(fd, block, 0, BLOCK, written % BULK_FILE_BYTES);
    fdatasyncSync(fd);
    written += BLOCK;
    if (restFactor > 0) Atomics.wait(sleeper, 0, 0, (performance.now() - t) * restFactor);
    // Lets the SIGTERM handler run.
    if ((written / BLOCK) % 16 === 0) await Bun.sleep(0);
  }
  closeSync(fd);
  console.log(((written / 1e6 / (performance.now() - start)) * 1000).toFixed(0));
}
