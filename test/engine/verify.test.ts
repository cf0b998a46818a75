import { describe, expect, it } from "bun:test";
import {
  appendFileSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { recordLength } from "../../src/engine/record.ts";
import { segmentFileName } from "../../src/engine/segment.ts";
import { KVStore, type KVStoreOptions, silentLogger, verify } from "../../src/index.ts";
import { FaultyFileSystem } from "../fault/faulty-file-system.ts";
import { expectedData, writeDataSet } from "../fixtures/data-set.ts";
import { recordsEnd, tempDir } from "../helpers.ts";

const options: KVStoreOptions = { logger: silentLogger, maxSegmentBytes: 4096, autoCompaction: false };

async function closedDataSet(): Promise<string> {
  const dir = tempDir();
  const store = await KVStore.open(dir, options);
  await writeDataSet(store);
  await store.close();
  return dir;
}

/** Every file of `dir` with its bytes, to show that verify changed nothing. */
function contents(dir: string): Map<string, string> {
  return new Map(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString("hex")]));
}

describe("verify", () => {
  it("reports a healthy store", async () => {
    const dir = await closedDataSet();
    const report = verify(dir);
    expect(report.ok).toBe(true);
    expect(report.liveKeys).toBe(expectedData().size);
    expect(report.damaged).toEqual([]);
    expect(report.snapshot.status).toBe("ok");
    expect(report.records).toBe(report.segments.reduce((n, s) => n + s.records, 0));
    expect(report.totalBytes).toBe(report.liveBytes + report.deadBytes);
    expect(report.deadBytes).toBeGreaterThan(0);
  });

  it("names the file and offset of a damaged record and of a torn tail, changing nothing", async () => {
    const dir = await closedDataSet();
    const first = join(dir, segmentFileName(1));
    const bytes = readFileSync(first);
    bytes[20] = (bytes[20] as number) ^ 0xff;
    writeFileSync(first, bytes);
    appendFileSync(join(dir, segmentFileName(2)), new Uint8Array([0xf0, 0xf1, 1, 9]));
    const before = contents(dir);
    const report = verify(dir);
    expect(report.ok).toBe(false);
    expect(report.damaged).toHaveLength(2);
    expect(report.damaged[0]).toMatchObject({ file: segmentFileName(1), offset: 0, tail: false });
    expect(report.damaged[1]).toMatchObject({ file: segmentFileName(2), length: 4, tail: true });
    expect(contents(dir)).toEqual(before);
  });

  it("reports a damaged snapshot as corrupt and an outdated one as stale", async () => {
    const dir = await closedDataSet();
    const path = join(dir, "index.snapshot");
    const good = readFileSync(path);
    const damaged = Buffer.from(good);
    damaged[12] = (damaged[12] as number) ^ 1;
    writeFileSync(path, damaged);
    expect(verify(dir).snapshot.status).toBe("corrupt");
    expect(verify(dir).ok).toBe(false);

    writeFileSync(path, good);
    const store = await KVStore.open(dir, options);
    await store.compact();
    await store.set("later", "x");
    await store.close();
    writeFileSync(path, good); // the snapshot from before the compaction
    const report = verify(dir);
    expect(report.snapshot.status).toBe("stale");
    expect(report.ok).toBe(true);
  });

  it("reports a segment shorter than index.snapshot covered as lost durable data", async () => {
    // The snapshot covers only fsynced bytes: a segment that no longer has them lost writes
    // that were acknowledged, even when what is left ends on a record boundary.
    const dir = tempDir();
    const store = await KVStore.open(dir, options);
    await store.set("k", "first");
    const lastRecordAt = recordsEnd(store);
    await store.set("k", "second");
    await store.close();
    const segment = join(dir, segmentFileName(1));
    const covered = statSync(segment).size;
    truncateSync(segment, lastRecordAt);

    const report = verify(dir);
    expect(report.ok).toBe(false);
    expect(report.damaged).toEqual([
      {
        file: segmentFileName(1),
        offset: lastRecordAt,
        length: covered - lastRecordAt,
        reason: `index.snapshot covered ${covered} bytes, the file has ${lastRecordAt}`,
        tail: false,
        lost: true,
      },
    ]);
    expect(report.snapshot.status).toBe("ahead");
    expect(report.snapshot.detail).toContain(segmentFileName(1));
  });

  it("reports a covered segment that is gone, and that no compaction can have deleted, as lost durable data", async () => {
    // Compaction deletes the oldest segments, oldest first, and starts one newer than them all:
    // a gone segment with an older one still there, or with none newer, was lost.
    for (const which of ["a middle one", "the newest"]) {
      const dir = await closedDataSet();
      const segments = readdirSync(dir)
        .filter((name) => name.startsWith("segment-"))
        .sort();
      expect(segments.length).toBeGreaterThan(2);
      const file = (which === "the newest" ? segments.at(-1) : segments[1]) as string;
      const covered = statSync(join(dir, file)).size;
      rmSync(join(dir, file));
      const report = verify(dir);
      expect(report.ok).toBe(false);
      expect(report.damaged).toEqual([
        {
          file,
          offset: 0,
          length: covered,
          reason: `index.snapshot covered ${covered} bytes, the file is gone`,
          tail: false,
          lost: true,
        },
      ]);
      expect(report.snapshot.status).toBe("ahead");
    }
  });

  it("counts what the next open serves: records a refused write left behind a rejected-tail note are not", async () => {
    const dir = tempDir();
    const fs = new FaultyFileSystem(dir);
    const store = await KVStore.open(dir, { ...options, fileSystem: fs, snapshotEveryBytes: 0 });
    await store.set("kept", "acknowledged");
    const acknowledged = recordsEnd(store);
    // The fdatasync fails, and so does cutting the refused write off: a note says where to cut.
    fs.rule = (call) =>
      (call.op === "datasync" || call.op === "truncate") && call.path.endsWith(".dat") ? "EIO" : null;
    await expect(store.set("refused", "never acknowledged")).rejects.toThrow("EIO");
    fs.rule = null;
    await store.close();
    const written = statSync(join(dir, segmentFileName(1))).size;
    expect(written).toBeGreaterThan(acknowledged);

    const report = verify(dir);
    expect(report).toMatchObject({ ok: true, records: 1, liveKeys: 1, totalBytes: acknowledged });
    // The refused record, not the zeros preallocated after it (segment.ts).
    expect(report.rejectedTails).toEqual([
      { file: segmentFileName(1), offset: acknowledged, length: recordLength(7, 18) },
    ]);
    const reopened = await KVStore.open(dir, options);
    expect(reopened.listKeys()).toEqual(["kept"]);
    await reopened.close();
    expect(verify(dir)).toMatchObject({ ok: true, records: 1, rejectedTails: [] });
  });

  it("reports temp files left by an interrupted compaction", async () => {
    const dir = await closedDataSet();
    writeFileSync(join(dir, `${segmentFileName(99)}.compacting`), "partial");
    expect(verify(dir).leftovers).toEqual([`${segmentFileName(99)}.compacting`]);
  });

  it("refuses a path that is not a directory", () => {
    expect(() => verify(join(tempDir(), "missing"))).toThrow("is not a directory");
  });
});
