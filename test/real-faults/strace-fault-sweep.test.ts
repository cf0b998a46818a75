// Disk faults injected with strace into the real system calls of the compiled server while
// concurrent clients load it. Every case checks that the process survives (every request is
// answered, SIGTERM exits 0), that reads stay right throughout, and that after a restart without
// faults every acknowledged write is there and no refused one is; then what the clients,
// /health and /metrics were told, which depends on the fault (each case's `outcome`).
//
// `when` counts calls after start-up: on a fresh data directory the server makes no fdatasync,
// pwrite64, ftruncate or unlink on a segment file before it listens, and one fsync (of the
// directory, at open). Each outcome also checks that the fault landed during the load. The
// writes and fdatasyncs of compaction outputs run on the compaction Worker's thread.
import { afterEach, beforeAll, beforeEach, expect, it } from "bun:test";
import { existsSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { segmentFileName } from "../../src/engine/segment.ts";
import { ensureBinary, makeTempDir, removeTempDir } from "../cli/binary.ts";
import { type AdminOutcome, defaultLoad, readBack, runLoad } from "./http-load.ts";
import { describeWithTool } from "./required-tool.ts";
import { killLeftoverServers, type ServedBinary, serveBinary } from "./served-binary.ts";
import { type Injection, straceInjecting, straceUnavailable } from "./strace.ts";
import { isAcknowledged, isRefused, WriteLedger, type WriteOutcome } from "./write-ledger.ts";

interface Run {
  server: ServedBinary;
  ledger: WriteLedger;
  admin: AdminOutcome[];
  dataDir: string;
}

interface SweepCase {
  name: string;
  injections: Injection[];
  /** Count and fail only the calls on these files (all calls when absent). */
  only?: (dataDir: string) => string[];
  flags?: string[];
  /** What the clients and the operator must have been told. */
  outcome(run: Run): Promise<void>;
}

/**
 * Every segment file a run can reach. The load's segments never fill (64 MiB), so new ones come
 * only from compactions, a few ids apart.
 */
const segmentFiles = (dataDir: string) =>
  Array.from({ length: 64 }, (_, i) => join(dataDir, segmentFileName(i + 1)));

/** The temp files of compaction outputs, which the compaction Worker writes and fdatasyncs. */
const compactionOutputs = (dataDir: string) => segmentFiles(dataDir).map((path) => `${path}.compacting`);

/** Small segments, so that the load starts new ones (each fsyncs the directory). */
const smallSegments = ["--segment-mb", "0.25"];

const TIMEOUT_MS = 120_000;

const cases: SweepCase[] = [
  {
    name: "fdatasync of a segment fails with EIO from the 15th call on",
    injections: [{ syscall: "fdatasync", errno: "EIO", when: "15+" }],
    only: segmentFiles,
    outcome: latches(/fdatasync of \S+segment-\d+\.dat failed \(EIO/),
  },
  {
    // One error is final: Linux reports a lost write-back once, and the next call succeeds.
    name: "fdatasync of a segment fails with EIO once",
    injections: [{ syscall: "fdatasync", errno: "EIO", when: "15" }],
    only: segmentFiles,
    outcome: latches(/fdatasync of \S+segment-\d+\.dat failed \(EIO/),
  },
  {
    // ENOSPC from fsync means written data was dropped (delayed allocation, thin provisioning):
    // a storage failure, not the full disk that a refused write(2) reports.
    name: "fdatasync of a segment fails with ENOSPC once",
    injections: [{ syscall: "fdatasync", errno: "ENOSPC", when: "15" }],
    only: segmentFiles,
    outcome: latches(/fdatasync of \S+segment-\d+\.dat failed \(ENOSPC/),
  },
  {
    // The refused batch stays in the file: only the note left for recovery keeps it out. Every
    // ftruncate fails: a sealed segment's preallocated zeros are cut with one too (a failure
    // there leaves them for recovery), so the cut of the batch is not the first.
    name: "fdatasync of a segment fails with EIO, then cutting the refused batch off fails too",
    injections: [
      { syscall: "fdatasync", errno: "EIO", when: "15" },
      { syscall: "ftruncate", errno: "EIO", when: "1+" },
    ],
    only: segmentFiles,
    outcome: async (run) => {
      await latches(/fdatasync of \S+segment-\d+\.dat failed \(EIO/)(run);
      expect(run.server.log()).toMatch(
        /rejected records at segment-\d+\.dat from offset \d+ will be cut off/,
      );
    },
  },
  {
    name: "pwrite64 to a segment fails with EIO once",
    injections: [{ syscall: "pwrite64", errno: "EIO", when: "15" }],
    only: segmentFiles,
    outcome: latches(/write to \S+segment-\d+\.dat failed \(EIO/),
  },
  {
    name: "pwrite64 to a segment fails with ENOSPC three times, then the disk has room again",
    injections: [{ syscall: "pwrite64", errno: "ENOSPC", when: "15..17" }],
    only: segmentFiles,
    outcome: refusesWritesThenRecovers(507),
  },
  {
    name: "fsync of the data directory fails with EIO from the 5th call on",
    injections: [{ syscall: "fsync", errno: "EIO", when: "5+" }],
    only: (dataDir) => [dataDir],
    flags: smallSegments,
    outcome: latches(/fsync of the directory \S+ failed \(EIO|removing the outputs of a failed compaction/),
  },
  {
    // Made by the load's second new segment, or by a compaction's second output. strace counts
    // per thread: the compaction Worker's first open of the file (to read it as an input of a
    // later compaction) fails too, and fails that compaction.
    name: "openat of a new segment file fails with EMFILE once",
    injections: [{ syscall: "openat", errno: "EMFILE", when: "1" }],
    only: (dataDir) => [join(dataDir, segmentFileName(3))],
    flags: smallSegments,
    outcome: async (run) => {
      const failedInWorker = run.server
        .log()
        .match(/compaction failed: Error: EMFILE[^\n]*segment-0000000003\.dat'/g);
      expect(failedInWorker?.length ?? 0).toBeLessThanOrEqual(1);
      // The compaction the Worker's failure fails may be an automatic one, which no request
      // waits for (the server compacts on its own as the load leaves dead bytes).
      const refused =
        run.ledger.writes.filter(isRefused).length +
        run.admin.filter((request) => request.status !== 200).length;
      expect(refused).toBeGreaterThanOrEqual(1);
      expect(refused).toBeLessThanOrEqual(1 + (failedInWorker?.length ?? 0));
      await refusesRequestsThenRecovers(500, refused)(run);
    },
  },
  {
    // A snapshot is only a hint for a faster open; a compaction saves one when it finishes.
    name: "openat of index.snapshot.tmp fails with EMFILE every time",
    injections: [{ syscall: "openat", errno: "EMFILE", when: "1+" }],
    only: (dataDir) => [join(dataDir, "index.snapshot.tmp")],
    outcome: failsAdminOnly({ compact: 200, snapshot: 500 }),
  },
  {
    // On the compaction Worker's thread: the error fails every compaction, not the store.
    name: "fdatasync of a compaction output fails with EIO every time",
    injections: [{ syscall: "fdatasync", errno: "EIO", when: "1+" }],
    only: compactionOutputs,
    outcome: failsAdminOnly({ compact: 500, snapshot: 200 }),
  },
  {
    name: "pwrite64 to a compaction output fails with ENOSPC every time",
    injections: [{ syscall: "pwrite64", errno: "ENOSPC", when: "1+" }],
    only: compactionOutputs,
    outcome: failsAdminOnly({ compact: 507, snapshot: 200 }),
  },
  {
    name: "rename fails with EIO every time (compaction outputs, snapshots)",
    injections: [{ syscall: "rename", errno: "EIO", when: "1+" }],
    outcome: failsAdminOnly({ compact: 500, snapshot: 500 }),
  },
  {
    // The first compaction's inputs cannot be deleted; until they are, no compaction may drop
    // the tombstones they hold.
    name: "unlink of a segment file fails with EIO every time",
    injections: [{ syscall: "unlink", errno: "EIO", when: "1+" }],
    only: segmentFiles,
    outcome: async (run) => {
      const compactions = run.admin.filter((request) => request.path === "/admin/compact");
      expect(compactions.map((request) => request.status)).toEqual([
        200,
        ...compactions.slice(1).map(() => 500),
      ]);
      await failsAdminOnly({ compact: [200, 500], snapshot: 200 })(run);
      expect(existsSync(join(run.dataDir, segmentFileName(1)))).toBe(true);
    },
  },
];

describeWithTool("disk faults injected with strace into the server binary", straceUnavailable(), () => {
  let tempDir: string;
  beforeAll(ensureBinary);
  beforeEach(() => {
    tempDir = makeTempDir();
  });
  afterEach(async () => {
    await killLeftoverServers();
    removeTempDir(tempDir);
  });

  for (const sweepCase of cases) {
    it(
      sweepCase.name,
      async () => {
        // strace matches -P paths against the real paths of open files.
        const dataDir = join(realpathSync(tempDir), "data");
        const flags = sweepCase.flags ?? [];
        const wrapper = straceInjecting(sweepCase.injections, sweepCase.only?.(dataDir));
        const server = await serveBinary(dataDir, flags, wrapper);
        const ledger = new WriteLedger();
        const admin = await runLoad(server.origin, defaultLoad, ledger);
        expect(ledger.problems).toEqual([]);
        // Whatever failed, reads go on: every key holds its last acknowledged value.
        expect(await readBack(server.origin, ledger)).toEqual([]);
        await sweepCase.outcome({ server, ledger, admin, dataDir });
        expect(await server.stop("SIGTERM")).toEqual({ code: 0, signal: null });

        const restarted = await serveBinary(dataDir, flags);
        expect(await readBack(restarted.origin, ledger)).toEqual([]);
        expect((await fetch(`${restarted.origin}/health`)).status).toBe(200);
        expect(
          (await fetch(`${restarted.origin}/blobs/after-restart`, { method: "PUT", body: "x" })).status,
        ).toBe(201);
        expect(await restarted.stop("SIGTERM")).toEqual({ code: 0, signal: null });
      },
      TIMEOUT_MS,
    );
  }
});

/** The earliest and the latest refused write, checking that the fault landed during the load. */
function refusals(ledger: WriteLedger): { first: WriteOutcome; last: WriteOutcome; refused: WriteOutcome[] } {
  const refused = ledger.writes.filter(isRefused).sort((a, b) => a.answeredAt - b.answeredAt);
  const first = refused[0];
  const last = refused[refused.length - 1];
  if (first === undefined || last === undefined)
    throw new Error("no write was refused: the fault never landed");
  const acknowledgedBefore = ledger.writes.filter((w) => isAcknowledged(w) && w.answeredAt < first.sentAt);
  expect(acknowledgedBefore.length).toBeGreaterThan(0);
  return { first, last, refused };
}

/**
 * A failed fsync or write latched the store's failed state: the writes of that batch and every
 * write sent after its answer were refused with 503 (nothing was acknowledged that needed the
 * failed call), /health is 503 and /metrics says so, and the log names the failed call.
 */
function latches(reason: RegExp): (run: Run) => Promise<void> {
  return async ({ server, ledger, admin }) => {
    const { first, refused } = refusals(ledger);
    expect(new Set(refused.map((write) => write.status))).toEqual(new Set([503]));
    expect(ledger.writes.filter((write) => write.sentAt > first.answeredAt && isAcknowledged(write))).toEqual(
      [],
    );
    expect(admin.filter((request) => request.sentAt > first.answeredAt && request.status !== 503)).toEqual(
      [],
    );
    expect(admin.filter((request) => request.status !== 200 && request.status !== 503)).toEqual([]);
    const health = await fetch(`${server.origin}/health`);
    expect(health.status).toBe(503);
    expect(await health.text()).toContain("storage failed");
    expect(await prometheus(server)).toContain("kvstore_storage_failed 1");
    expect(server.log()).toMatch(reason);
  };
}

/** Some writes were refused with `status`, and writes sent after the last refusal went through. */
function refusesWritesThenRecovers(status: number): (run: Run) => Promise<void> {
  return async ({ server, ledger, admin }) => {
    const { last, refused } = refusals(ledger);
    expect(new Set(refused.map((write) => write.status))).toEqual(new Set([status]));
    expect(ledger.writes.some((write) => isAcknowledged(write) && write.sentAt > last.answeredAt)).toBe(true);
    expect(admin.filter((request) => request.status !== 200)).toEqual([]);
    await expectHealthy(server);
  };
}

/** Exactly `count` requests (writes, or compactions) failed with `status`; the rest went through. */
function refusesRequestsThenRecovers(status: number, count: number): (run: Run) => Promise<void> {
  return async ({ server, ledger, admin }) => {
    const failed = [...ledger.writes.filter(isRefused), ...admin.filter((request) => request.status !== 200)];
    expect(failed.map((request) => request.status)).toEqual(Array(count).fill(status));
    const failedAt = Math.max(...failed.map((request) => request.answeredAt));
    expect(ledger.writes.some((write) => isAcknowledged(write) && write.sentAt > failedAt)).toBe(true);
    await expectHealthy(server);
  };
}

/** No write was refused; compactions and snapshots were answered with these statuses. */
function failsAdminOnly(statuses: {
  compact: number | number[];
  snapshot: number;
}): (run: Run) => Promise<void> {
  return async ({ server, ledger, admin }) => {
    expect(ledger.writes.filter(isRefused)).toEqual([]);
    const compacts = [statuses.compact].flat();
    for (const path of ["/admin/compact", "/admin/snapshot"] as const) {
      const answered = admin.filter((request) => request.path === path).map((request) => request.status);
      expect(answered.length).toBeGreaterThan(0);
      const allowed = path === "/admin/compact" ? compacts : [statuses.snapshot];
      expect(answered.filter((status) => !allowed.includes(status))).toEqual([]);
    }
    if (!compacts.includes(200)) {
      expect(await prometheus(server)).toMatch(/kvstore_compaction_failures_total [1-9]/);
    }
    await expectHealthy(server);
  };
}

async function expectHealthy(server: ServedBinary): Promise<void> {
  expect((await fetch(`${server.origin}/health`)).status).toBe(200);
  expect(await prometheus(server)).toContain("kvstore_storage_failed 0");
}

async function prometheus(server: ServedBinary): Promise<string> {
  return (await fetch(`${server.origin}/metrics`, { headers: { accept: "text/plain" } })).text();
}
