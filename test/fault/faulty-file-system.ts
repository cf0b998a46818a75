// A file system for tests that fails any call with any errno, and knows what a power cut would
// leave on disk (the idea of LevelDB's FaultInjectionTestEnv). It passes every call to the real
// file system, and keeps beside it a model of what is durable:
// - a file's bytes are durable as they were at its last successful fdatasync (none before);
// - a name in a directory is durable as it was at the directory's last successful fsync.
// `powerCutImage` writes that durable state into another directory, where a test reopens it.
// `cut` also makes every later call fail, so the store that was running stops there.
import { closeSync, fstatSync, readdirSync, readSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { type FileSystem, type OpenMode, realFileSystem } from "../../src/engine/file-system.ts";

export type FsOp = keyof FileSystem;

export interface FsCall {
  op: FsOp;
  /** The path the call names (for calls on an fd, the path the fd was opened with). */
  path: string;
  /** 1 for the first call through this file system, 2 for the next, ... */
  seq: number;
}

/** Returns the errno name ("EIO", "ENOSPC", ...) to fail `call` with, or null to let it run. */
export type FaultRule = (call: FsCall) => string | null;

interface Inode {
  /** Bytes as of the last successful fdatasync; null if never synced. */
  durable: Uint8Array | null;
  /** The call that made `durable`: a background fdatasync that ends after a later one began
   * must not put back older bytes. */
  durableSeq?: number;
}

/** A rule that fails the calls `match` accepts with `errno`, `times` times (Infinity: for good). */
export function failing(errno: string, match: (op: string, path: string) => boolean, times = 1): FaultRule {
  let left = times;
  return (call) => {
    if (left === 0 || !match(call.op, call.path)) return null;
    left--;
    return errno;
  };
}

export function injectedError(errno: string, call: FsCall): Error {
  return Object.assign(new Error(`${errno}: injected fault, ${call.op} '${call.path}'`), {
    code: errno,
    syscall: call.op,
  });
}

export class FaultyFileSystem implements FileSystem {
  /** Calls made so far. */
  calls = 0;
  /** Which calls fail; null: none. */
  rule: FaultRule | null = null;
  /** What `freeBytes` answers, to play a full disk; null: the real figure. */
  freeSpace: number | null = null;
  /** Every call made, oldest first (for finding the Nth call of an operation). */
  readonly log: FsCall[] = [];
  private cutDone = false;
  private readonly fdPaths = new Map<number, string>();
  private readonly fdInodes = new Map<number, Inode>();
  private readonly names = new Map<string, Inode>();
  private readonly durableNames = new Map<string, Inode>();

  /** Starts tracking `dir`: whatever is in it now counts as durable. */
  constructor(readonly dir: string) {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const inode: Inode = { durable: realFileSystem.readWhole(path) };
      this.names.set(path, inode);
      this.durableNames.set(path, inode);
    }
  }

  /** Makes every call from the `seq`th on fail with EIO, as if the machine had lost power there. */
  cutPowerAt(seq: number): void {
    const previous = this.rule;
    this.rule = (call) => {
      if (call.seq >= seq) {
        this.cutDone = true;
        return "EIO";
      }
      return previous?.(call) ?? null;
    };
  }

  /** Whether the power cut set with `cutPowerAt` has happened. */
  get powerWasCut(): boolean {
    return this.cutDone;
  }

  /** Writes into `into` (an empty directory) the files a power cut now would leave. */
  powerCutImage(into: string): void {
    for (const [path, inode] of this.durableNames) {
      if (dirname(path) !== this.dir) continue;
      writeFileSync(join(into, basename(path)), inode.durable ?? new Uint8Array());
    }
  }

  open(path: string, mode: OpenMode): number {
    this.check("open", path);
    const fd = realFileSystem.open(path, mode);
    let inode = this.names.get(path);
    if (inode === undefined || mode === "create") {
      inode = { durable: null };
      this.names.set(path, inode);
    }
    this.fdPaths.set(fd, path);
    this.fdInodes.set(fd, inode);
    return fd;
  }

  close(fd: number): void {
    this.check("close", this.pathOf(fd));
    this.fdPaths.delete(fd);
    this.fdInodes.delete(fd);
    realFileSystem.close(fd);
  }

  write(fd: number, bytes: Uint8Array, offset: number, length: number, position: number): number {
    this.check("write", this.pathOf(fd));
    return realFileSystem.write(fd, bytes, offset, length, position);
  }

  read(fd: number, bytes: Uint8Array, offset: number, length: number, position: number): number {
    this.check("read", this.pathOf(fd));
    return realFileSystem.read(fd, bytes, offset, length, position);
  }

  datasync(fd: number): void {
    this.check("datasync", this.pathOf(fd));
    const seq = this.calls;
    realFileSystem.datasync(fd);
    this.noteSynced(fd, this.contents(fd), seq);
  }

  async datasyncInBackground(fd: number): Promise<void> {
    this.check("datasyncInBackground", this.pathOf(fd));
    const seq = this.calls;
    // fdatasync makes durable what was written before it was called. Bytes written while it
    // runs (compaction goes on writing its output meanwhile) may or may not be: count them as not.
    const bytes = this.contents(fd);
    await realFileSystem.datasyncInBackground(fd);
    this.noteSynced(fd, bytes, seq);
  }

  truncate(fd: number, length: number): void {
    this.check("truncate", this.pathOf(fd));
    realFileSystem.truncate(fd, length);
  }

  size(path: string): number {
    this.check("size", path);
    return realFileSystem.size(path);
  }

  rename(from: string, to: string): void {
    this.check("rename", from);
    realFileSystem.rename(from, to);
    const inode = this.names.get(from) ?? { durable: null };
    this.names.delete(from);
    this.names.set(to, inode);
  }

  remove(path: string): void {
    this.check("remove", path);
    realFileSystem.remove(path);
    this.names.delete(path);
  }

  link(from: string, to: string): void {
    this.check("link", from);
    realFileSystem.link(from, to);
    this.names.set(to, this.names.get(from) ?? { durable: null });
  }

  list(dir: string): string[] {
    this.check("list", dir);
    return realFileSystem.list(dir);
  }

  makeDirectory(dir: string): void {
    this.check("makeDirectory", dir);
    realFileSystem.makeDirectory(dir);
  }

  syncDirectory(dir: string): void {
    this.check("syncDirectory", dir);
    realFileSystem.syncDirectory(dir);
    for (const path of [...this.durableNames.keys()])
      if (dirname(path) === dir) this.durableNames.delete(path);
    for (const [path, inode] of this.names) if (dirname(path) === dir) this.durableNames.set(path, inode);
  }

  readWhole(path: string): Buffer | null {
    this.check("readWhole", path);
    return realFileSystem.readWhole(path);
  }

  map(path: string): Uint8Array {
    this.check("map", path);
    return realFileSystem.map(path);
  }

  freeBytes(dir: string): number {
    this.check("freeBytes", dir);
    return this.freeSpace ?? realFileSystem.freeBytes(dir);
  }

  /** Closes every fd the store left open (after a cut, its close() cannot). */
  closeAll(): void {
    for (const fd of this.fdPaths.keys()) closeSync(fd);
    this.fdPaths.clear();
    this.fdInodes.clear();
  }

  private check(op: FsOp, path: string): void {
    const call: FsCall = { op, path, seq: ++this.calls };
    this.log.push(call);
    const errno = this.rule?.(call) ?? null;
    if (errno !== null) throw injectedError(errno, call);
  }

  private pathOf(fd: number): string {
    return this.fdPaths.get(fd) ?? `fd ${fd}`;
  }

  /** The file behind `fd` is on disk as `bytes`, synced by call `seq`. */
  private noteSynced(fd: number, bytes: Uint8Array, seq: number): void {
    const inode = this.fdInodes.get(fd);
    if (inode === undefined || (inode.durableSeq ?? 0) > seq) return;
    inode.durable = bytes;
    inode.durableSeq = seq;
  }

  /** The bytes of the file behind `fd` now. */
  private contents(fd: number): Uint8Array {
    const size = fstatSync(fd).size;
    const bytes = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const got = readSync(fd, bytes, done, size - done, done);
      if (got === 0) break;
      done += got;
    }
    return bytes.subarray(0, done);
  }
}
