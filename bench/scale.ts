// Scale benchmark: for each size, in fresh child processes, resident memory per key after the
// load (bench/memory.ts), then open times with and without index.snapshot and latency during a
// compaction beside an idle baseline (bench/compaction.ts). The figures the index rewrite is
// measured against.
// Usage: bun bench/scale.ts [--keys N[,N...]]   (default 1,000,000; e.g. --keys 1000000,10000000)
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({ options: { keys: { type: "string", default: "1000000" } } });
const sizes = args.keys.split(",").map((size) => Number(size.replaceAll("_", "")));
if (sizes.some((size) => !Number.isInteger(size) || size < 1000)) {
  console.error(`--keys takes whole numbers of at least 1000, comma-separated; got ${args.keys}`);
  process.exit(2);
}

/** Runs one bench script in a child process of its own (a clean heap), its output passed through. */
async function runChild(script: string, keys: number): Promise<void> {
  const child = Bun.spawn([process.execPath, join(import.meta.dir, script), "--keys", String(keys)], {
    stdout: "inherit",
    stderr: "inherit",
  });
  const exitCode = await child.exited;
  if (exitCode !== 0) throw new Error(`bench/${script} --keys ${keys} failed with exit code ${exitCode}`);
}

console.log(`kvstore scale benchmark: ${sizes.map((size) => size.toLocaleString("en-US")).join(", ")} keys`);
console.log(`Bun ${Bun.version}, ${navigator.hardwareConcurrency} cores, ${new Date().toISOString()}`);
for (const keys of sizes) {
  const started = performance.now();
  console.log(`\n## ${keys.toLocaleString("en-US")} keys\n`);
  await runChild("memory.ts", keys);
  console.log();
  await runChild("compaction.ts", keys);
  console.log(
    `\n(${keys.toLocaleString("en-US")} keys took ${((performance.now() - started) / 1000).toFixed(0)} s)`,
  );
}
