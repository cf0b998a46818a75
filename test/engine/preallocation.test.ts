// Zeros preallocated past the records of the segment being appended to (segment.ts,
// `preallocateBytes`): a durable write lands on bytes already in the file, so its fdatasync does
// not commit a new file size; a sealed or cleanly closed segment is cut to its records; recovery
// reads a zero tail as space, never as damage, and a torn write into the zeros as a torn write.
import { describe, expect, it } from "bun:test";
import { appendFileSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FileSystem, realFileSystem } from "../../src/engine/file-system.ts";
import { segmentFileName } from "../../src/engine/segment.ts";
import { InvalidOptionError, KVStore, silentLogger } from "../../src/index.ts";
import { hostileImages } from "../fixtures/record-images.ts";
import { crashCopy, recordsEnd, tempDir, text } from "../helpers.ts";

const PREALLOCATE = 64 * 1024;
const options = {
  logger: silentLogger,
  autoCompaction: false,
  snapshotEveryBytes: 0,
  preallocateBytes: PREALLOCATE,
};

const fileLength = (dir: string, id = 1) => statSync(join(dir, segmentFileName(id))).size;

describe("preallocated segment space", () => {
  it("runs the active segment's file on with zeros, and writes into them without growing it", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, options);
    await store.set("first", "value");
    const records = recordsEnd(store);
    expect(fileLength(dir)).toBe(records + PREALLOCATE);
    const file = readFileSync(join(dir, segmentFileName(1)));
    expect(file.subarray(records).every((byte) => byte === 0)).toBe(true);
    await store.set("second", "value");
    expect(recordsEnd(store)).toBeGreaterThan(records);
    expect(fileLength(dir)).toBe(records + PREALLOCATE);
    expect(store.stats().totalBytes).toBe(recordsEnd(store));
    await store.close();
  });

  it("cuts a sealed segment, and the active one on a clean close, to their records", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, { ...options, maxSegmentBytes: 4096 });
    for (let i = 0; i < 100; i++) await store.set(`key-${i}`, "x".repeat(100));
    const segments = store.segmentStats();
    expect(segments.length).toBeGreaterThan(2);
    for (const segment of segments.filter((s) => !s.active)) {
      expect(fileLength(dir, segment.id)).toBe(segment.bytes);
    }
    await store.close();
    for (const segment of segments) expect(fileLength(dir, segment.id)).toBe(segment.bytes);
  });

  it("opens a crash copy with every acknowledged write, no damage reported, and writes on into the zeros", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, options);
    for (let i = 0; i < 50; i++) await store.set(`key-${i}`, `value-${i}`);
    const length = fileLength(dir);
    const crashed = crashCopy(dir);
    await store.close();
    const reopened = await KVStore.open(crashed, options);
    expect(reopened.stats()).toMatchObject({ numKeys: 50, corruptRecords: 0, truncatedBytes: 0 });
    for (let i = 0; i < 50; i++) expect(text(reopened.get(`key-${i}`))).toBe(`value-${i}`);
    await reopened.set("after", "the crash");
    expect(fileLength(crashed)).toBe(length);
    await reopened.close();
    const again = await KVStore.open(crashed, options);
    expect(text(again.get("after"))).toBe("the crash");
    expect(again.stats().corruptRecords).toBe(0);
    await again.close();
  });

  it("cuts a torn write whose unwritten bytes are the zeros, never reading the record images in its value", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, { ...options, preallocateBytes: 1024 * 1024 });
    await store.set("victim", "secret");
    await store.set("other", "kept");
    const acknowledged = recordsEnd(store);
    const images = hostileImages();
    await store.set("upload", Buffer.concat([Buffer.alloc(100, 0x41), images, Buffer.alloc(200_000, 0x42)]));
    const uploadEnd = recordsEnd(store);
    const crashed = crashCopy(dir);
    await store.close();
    // The power cut came while the upload was written: its bytes after the first 4 KiB never
    // reached the disk, which still holds the zeros preallocated there.
    const path = join(crashed, segmentFileName(1));
    const bytes = readFileSync(path);
    expect(bytes.length).toBeGreaterThan(uploadEnd);
    bytes.fill(0, acknowledged + 4096, uploadEnd);
    writeFileSync(path, bytes);
    const reopened = await KVStore.open(crashed, options);
    expect(text(reopened.get("victim"))).toBe("secret");
    expect(text(reopened.get("other"))).toBe("kept");
    expect(reopened.has("upload")).toBe(false);
    expect(statSync(path).size).toBe(acknowledged);
    await reopened.close();
  });

  it("cuts the zeros a crash left on a sealed segment, reporting nothing", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, { ...options, maxSegmentBytes: 4096 });
    for (let i = 0; i < 100; i++) await store.set(`key-${i}`, "x".repeat(100));
    await store.close();
    // The cut at the rotation is not fsynced: a crash can bring the zeros back.
    appendFileSync(join(dir, segmentFileName(1)), new Uint8Array(5000));
    const reopened = await KVStore.open(dir, options);
    expect(reopened.stats()).toMatchObject({ numKeys: 100, corruptRecords: 0, truncatedBytes: 0 });
    const first = reopened.segmentStats()[0];
    expect(first?.id).toBe(1);
    expect(fileLength(dir, 1)).toBe(first?.bytes as number);
    await reopened.close();
  });

  it("writes no zeros with preallocateBytes 0, and refuses a negative or fractional size", async () => {
    const dir = tempDir();
    const store = await KVStore.open(dir, { ...options, preallocateBytes: 0 });
    await store.set("k", "v");
    expect(fileLength(dir)).toBe(recordsEnd(store));
    await store.close();
    for (const bad of [-1, 0.5]) {
      await expect(KVStore.open(tempDir(), { ...options, preallocateBytes: bad })).rejects.toBeInstanceOf(
        InvalidOptionError,
      );
    }
  });
});

describe("preallocated segment space and a quota", () => {
  it("takes a quota refusing the zeros (EDQUOT) like a full disk: the records that fit are written", async () => {
    const dir = tempDir();
    // A quota that lets a segment file grow to 8 KiB: the records fit, 64 KiB of zeros do not.
    const quota = 8 * 1024;
    const fileSystem: FileSystem = {
      ...realFileSystem,
      write(fd, bytes, offset, length, position) {
        if (position + length > quota) {
          throw Object.assign(new Error("EDQUOT: disk quota exceeded, write"), { code: "EDQUOT" });
        }
        return realFileSystem.write(fd, bytes, offset, length, position);
      },
    };
    const store = await KVStore.open(dir, { ...options, fileSystem, reserveBytes: 0 });
    await store.set("first", "value");
    await store.set("second", "value");
    expect(text(store.get("first"))).toBe("value");
    expect(store.stats()).toMatchObject({ numKeys: 2, diskFull: false, storageFailure: null });
    await store.close();
    const reopened = await KVStore.open(dir, options);
    expect(text(reopened.get("second"))).toBe("value");
    await reopened.close();
  });
});
