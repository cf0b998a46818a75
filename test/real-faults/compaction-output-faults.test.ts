// Real system-call faults, injected with strace, in the writes and fdatasyncs of compaction's
// outputs: on the worker thread (the default) they must fail the compaction exactly as on the
// main thread. The first error is final (never retried), the temp files are deleted, the inputs
// stay in use, and the store goes on working.
import { expect, it } from "bun:test";
import { readdirSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { segmentFileName } from "../../src/engine/segment.ts";
import { KVStore, silentLogger, verify } from "../../src/index.ts";
import { expectedData } from "../fixtures/data-set.ts";
import { tempDir } from "../helpers.ts";
import { describeWithTool } from "./required-tool.ts";
import { type Injection, straceInjecting, straceUnavailable } from "./strace.ts";

const CHILD = join(import.meta.dir, "../fixtures/compact-once.ts");

interface Report {
  error: { message: string; code: string | null } | null;
  compactionFailures: number;
  storageFailed: boolean;
  segmentsBefore: number;
  logged: string[];
}

/** The temp file of every output a compaction of the data set can write. */
const outputTempFiles = (dir: string) =>
  Array.from({ length: 200 }, (_, i) => join(dir, `${segmentFileName(i + 1)}.compacting`));

async function compactUnderStrace(
  dir: string,
  compactionWorker: boolean,
  injection: Injection,
): Promise<Report> {
  const child = Bun.spawn(
    [
      ...straceInjecting([injection], outputTempFiles(dir)),
      process.execPath,
      CHILD,
      dir,
      String(compactionWorker),
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (code !== 0) throw new Error(`the child exited ${code}: ${stderr}`);
  return JSON.parse(stdout) as Report;
}

const cases: { name: string; injection: Injection; code: string }[] = [
  // Once: a retried fdatasync would succeed, so only keeping the first error fails the compaction.
  {
    name: "the first fdatasync of an output fails with EIO",
    injection: { syscall: "fdatasync", errno: "EIO", when: "1" },
    code: "EIO",
  },
  {
    name: "the third pwrite64 to an output fails with ENOSPC",
    injection: { syscall: "pwrite64", errno: "ENOSPC", when: "3" },
    code: "ENOSPC",
  },
];

describeWithTool("compaction output faults injected with strace", straceUnavailable(), () => {
  for (const compactionWorker of [true, false]) {
    for (const { name, injection, code } of cases) {
      it(`${name}: the compaction fails, inputs intact (copy on the ${compactionWorker ? "worker" : "main"} thread)`, async () => {
        // strace matches -P paths against the real paths of open files.
        const dir = realpathSync(tempDir());
        const report = await compactUnderStrace(dir, compactionWorker, injection);
        expect(report.error?.message).toContain(code === "ENOSPC" ? "ran out of disk space" : "EIO");
        expect(report.compactionFailures).toBe(1);
        expect(report.storageFailed).toBe(false);
        expect(report.logged.filter((line) => line.startsWith("compacted"))).toEqual([]);
        expect(readdirSync(dir).filter((name) => name.endsWith(".compacting"))).toEqual([]);
        // The inputs are still there and whole: the data set, and the write made after.
        const store = await KVStore.open(dir, { logger: silentLogger });
        expect(store.stats().numSegments).toBeGreaterThanOrEqual(report.segmentsBefore);
        const expected = new Map([...expectedData(), ["after", new TextEncoder().encode("compaction")]]);
        expect(store.listKeys()).toEqual([...expected.keys()].sort());
        for (const [key, value] of expected) expect(store.get(key)).toEqual(value);
        await store.close();
        expect(verify(dir).damaged).toEqual([]);
      }, 60_000);
    }
  }
});
