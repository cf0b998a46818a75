import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statfsSync,
  statSync,
  writeSync,
} from "node:fs";

// Every file operation of the engine goes through this interface, so that a test can fail any
// call with any errno, or take the image a power cut would leave on disk (see
// test/fault/faulty-file-system.ts). The default is the real file system. Errors are Node's
// errors: an `Error` whose `code` is the errno name ("EIO", "ENOSPC", ...).

/**
 * How a file is opened: "create" makes a new file and fails if the name exists (O_EXCL);
 * "update" opens an existing one to read and write; "read" only to read; "replace" creates or
 * empties one.
 */
export type OpenMode = "create" | "update" | "read" | "replace";

export interface FileSystem {
  open(path: string, mode: OpenMode): number;
  close(fd: number): void;
  /** Writes up to `length` bytes of `bytes` from `offset` at file position `position`; returns how many. */
  write(fd: number, bytes: Uint8Array, offset: number, length: number, position: number): number;
  /** Reads up to `length` bytes into `bytes` at `offset` from file position `position`; returns how many. */
  read(fd: number, bytes: Uint8Array, offset: number, length: number, position: number): number;
  /** fdatasync(2): the file's data and size reach the disk. */
  datasync(fd: number): void;
  /** The same, off the event loop (on the thread pool). */
  datasyncInBackground(fd: number): Promise<void>;
  truncate(fd: number, length: number): void;
  /** Size of the file at `path`. */
  size(path: string): number;
  rename(from: string, to: string): void;
  /** Unlinks `path`; a missing file is not an error. */
  remove(path: string): void;
  /** A second name for a file (hard link); fails with EEXIST if `to` exists, EXDEV across file systems. */
  link(from: string, to: string): void;
  list(dir: string): string[];
  makeDirectory(dir: string): void;
  /** fsync(2) of the directory, so that names created, renamed and removed in it are durable. */
  syncDirectory(dir: string): void;
  /** The whole file, or null if it does not exist. */
  readWhole(path: string): Buffer | null;
  /** A shared read-only memory map of the whole file. */
  map(path: string): Uint8Array;
  /** Bytes free to an unprivileged writer on the file system that holds `dir`. */
  freeBytes(dir: string): number;
}

const OPEN_FLAGS: Record<OpenMode, string> = { create: "wx+", update: "r+", read: "r", replace: "w+" };

export const realFileSystem: FileSystem = {
  open: (path, mode) => openSync(path, OPEN_FLAGS[mode]),
  close: (fd) => closeSync(fd),
  write: (fd, bytes, offset, length, position) => writeSync(fd, bytes, offset, length, position),
  read: (fd, bytes, offset, length, position) => readSync(fd, bytes, offset, length, position),
  datasync: (fd) => fdatasyncSync(fd),
  datasyncInBackground: (fd) =>
    new Promise((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve()))),
  truncate: (fd, length) => ftruncateSync(fd, length),
  size: (path) => statSync(path).size,
  rename: (from, to) => renameSync(from, to),
  remove: (path) => rmSync(path, { force: true }),
  link: (from, to) => linkSync(from, to),
  list: (dir) => readdirSync(dir),
  makeDirectory: (dir) => {
    mkdirSync(dir, { recursive: true });
  },
  syncDirectory: (dir) => {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  },
  readWhole: (path) => {
    try {
      return readFileSync(path);
    } catch (error) {
      if (errorCode(error) === "ENOENT") return null;
      throw error;
    }
  },
  map: (path) => Bun.mmap(path, { shared: true }),
  freeBytes: (dir) => {
    const stats = statfsSync(dir);
    return stats.bavail * stats.bsize;
  },
};

/** The errno name of a file-system error ("EIO", "ENOSPC", ...), or null. */
export function errorCode(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : null;
}

/** Whether `error` says the disk (or the user's quota) is full. */
export function isDiskFull(error: unknown): boolean {
  const code = errorCode(error);
  return code === "ENOSPC" || code === "EDQUOT";
}

/** Writes all of `bytes` at `position`, looping over short writes. */
export function writeAll(fs: FileSystem, fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += fs.write(fd, bytes, done, bytes.length - done, position + done);
}

/** Reads `length` bytes at `offset` of the file at `path`. */
export function readFileRange(fs: FileSystem, path: string, offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  const fd = fs.open(path, "read");
  try {
    let done = 0;
    while (done < length) {
      const got = fs.read(fd, out, done, length - done, offset + done);
      if (got === 0) throw new Error(`unexpected end of ${path} at offset ${offset + done}`);
      done += got;
    }
  } finally {
    fs.close(fd);
  }
  return out;
}
