// A client's value that holds record images, torn by a power cut while it was written, must not
// change other keys on the next open: the torn record was never acknowledged. In the newest
// segment a record whose lengths run past the end is the torn write, cut whole (scan.ts).
import { expect, it } from "bun:test";
import { readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KVStore, silentLogger, verify } from "../../src/index.ts";
import { hostileImages } from "../fixtures/record-images.ts";
import { crashCopy, recordsEnd, tempDir, text } from "../helpers.ts";

it("a torn record whose value holds record images leaves every other key as it was", async () => {
  const options = { logger: silentLogger, autoCompaction: false, snapshotEveryBytes: 0 };
  const store = await KVStore.open(tempDir(), options);
  await store.set("victim", "secret");
  await store.set("other", "kept");
  const segment = "segment-0000000001.dat";
  const acknowledged = recordsEnd(store);
  const images = hostileImages();
  await store.set("upload", Buffer.concat([Buffer.alloc(100, 0x41), images, Buffer.alloc(200_000, 0x42)]));
  const crashed = crashCopy(store.dir);
  await store.close();
  // The power cut came while the upload was being written: only its first 64 KiB are on disk.
  truncateSync(join(crashed, segment), acknowledged + 65_536);
  const reopened = await KVStore.open(crashed, options);
  expect(text(reopened.get("victim"))).toBe("secret");
  expect(text(reopened.get("other"))).toBe("kept");
  expect(reopened.has("upload")).toBe(false);
  await reopened.close();
});

it("a length that runs past the end of the newest segment is cut as a torn write; in a sealed one it is skipped", async () => {
  const options = { logger: silentLogger, autoCompaction: false, snapshotEveryBytes: 0 };
  const store = await KVStore.open(tempDir(), options);
  await store.set("before", "kept");
  const segment = "segment-0000000001.dat";
  const damagedAt = recordsEnd(store);
  await store.set("damaged", "x".repeat(100));
  await store.set("after", "intact");
  const crashed = crashCopy(store.dir);
  await store.close();
  // The value length's high byte: the record now claims to run far past the end of the file.
  const path = join(crashed, segment);
  const bytes = readFileSync(path);
  bytes[damagedAt + 10] = 0x7f;
  writeFileSync(path, bytes);
  const reopened = await KVStore.open(crashed, options);
  expect(text(reopened.get("before"))).toBe("kept");
  expect(reopened.has("damaged")).toBe(false);
  // Newest segment: taken for a torn write, so what follows it goes too.
  expect(reopened.has("after")).toBe(false);
  expect(statSync(path).size).toBe(damagedAt);
  await reopened.close();
});

for (const [preallocateBytes, newer] of [
  [0, "empty"],
  [1024 * 1024, "empty"],
  [1024 * 1024, "torn"],
] as const) {
  it(`a torn record in the segment a batch filled, before the one it went on in (${newer}), is cut whole too (preallocateBytes ${preallocateBytes})`, async () => {
    const options = {
      logger: silentLogger,
      autoCompaction: false,
      snapshotEveryBytes: 0,
      preallocateBytes,
      maxSegmentBytes: 300_000,
    };
    const store = await KVStore.open(tempDir(), options);
    await store.set("victim", "secret");
    await store.set("other", "kept");
    const acknowledged = recordsEnd(store);
    const images = hostileImages();
    // One batch: the upload fills segment 1, the next write goes on in segment 2.
    await Promise.all([
      store.set("upload", Buffer.concat([Buffer.alloc(100, 0x41), images, Buffer.alloc(200_000, 0x42)])),
      store.set("next", Buffer.alloc(150_000, 0x43)),
    ]);
    expect(store.segmentStats().map((s) => s.id)).toEqual([1, 2]);
    const crashed = crashCopy(store.dir);
    await store.close();
    // The power cut came before the batch's fdatasync: segment 2's name reached the disk but none
    // of its bytes (or its first 4 KiB, then its zeros: a torn record), and of the upload only
    // the first 4 KiB, followed by the file's old end (or the zeros preallocated there, whose cut
    // at the rotation never reached the disk either).
    const first = join(crashed, "segment-0000000001.dat");
    const torn = new Uint8Array(acknowledged + Math.max(preallocateBytes, 4096));
    torn.set(readFileSync(first).subarray(0, acknowledged + 4096));
    writeFileSync(first, torn);
    const second = join(crashed, "segment-0000000002.dat");
    writeFileSync(second, newer === "empty" ? new Uint8Array(0) : readFileSync(second).fill(0, 4096));
    // `kvstore check` reads it as the open will: torn tails, no record images.
    const report = verify(crashed);
    expect(report.damaged).toContainEqual(
      expect.objectContaining({ file: "segment-0000000001.dat", offset: acknowledged, tail: true }),
    );
    expect(report.damaged.every((damage) => damage.tail)).toBe(true);
    expect(report.liveKeys).toBe(2);
    const reopened = await KVStore.open(crashed, options);
    expect(text(reopened.get("victim"))).toBe("secret");
    expect(text(reopened.get("other"))).toBe("kept");
    expect(reopened.has("upload")).toBe(false);
    expect(statSync(first).size).toBe(acknowledged);
    await reopened.close();
  });
}
