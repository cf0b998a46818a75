// The durability model of FaultyFileSystem itself.
import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeAll } from "../../src/engine/file-system.ts";
import { tempDir } from "../helpers.ts";
import { FaultyFileSystem } from "./faulty-file-system.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

function imageOf(fs: FaultyFileSystem, name: string): string {
  const image = tempDir("kvstore-image");
  fs.powerCutImage(image);
  return readFileSync(join(image, name), "utf8");
}

describe("FaultyFileSystem", () => {
  it("keeps what the last fdatasync saw, under names the last directory fsync saw", () => {
    const dir = tempDir();
    const fs = new FaultyFileSystem(dir);
    const path = join(dir, "f");
    const fd = fs.open(path, "create");
    writeAll(fs, fd, bytes("one"), 0);
    fs.datasync(fd);
    fs.syncDirectory(dir);
    writeAll(fs, fd, bytes("two"), 3);
    expect(imageOf(fs, "f")).toBe("one");
    fs.close(fd);
  });

  it("a background fdatasync makes durable only what was written before it was called", async () => {
    const dir = tempDir();
    const fs = new FaultyFileSystem(dir);
    const fd = fs.open(join(dir, "f"), "create");
    fs.syncDirectory(dir);
    writeAll(fs, fd, bytes("before"), 0);
    const syncing = fs.datasyncInBackground(fd);
    writeAll(fs, fd, bytes("+during"), 6);
    await syncing;
    expect(imageOf(fs, "f")).toBe("before");
    fs.close(fd);
  });

  it("a background fdatasync that ends after a later one does not put back older bytes", async () => {
    const dir = tempDir();
    const fs = new FaultyFileSystem(dir);
    const fd = fs.open(join(dir, "f"), "create");
    fs.syncDirectory(dir);
    writeAll(fs, fd, bytes("old"), 0);
    const slow = fs.datasyncInBackground(fd);
    writeAll(fs, fd, bytes("+new"), 3);
    fs.datasync(fd);
    await slow;
    expect(imageOf(fs, "f")).toBe("old+new");
    fs.close(fd);
  });
});
