// Helpers shared by the test files: temp directories, loggers that record, keys and values.
import { afterAll, onTestFinished } from "bun:test";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "../src/index.ts";

/**
 * A fresh empty directory, removed after the current test, or after the test file when made
 * outside a test. (A top-level afterEach here would serve only the first test file that
 * imports this module: bun test loads it once per run.)
 */
export function tempDir(prefix = "kvstore-test"): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    onTestFinished(remove);
  } catch {
    afterAll(remove);
  }
  return dir;
}

/** A logger that keeps every line, for asserting what recovery reported. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (message: string) => lines.push(`${level}: ${message}`);
  return { lines, debug: keep("debug"), info: keep("info"), warn: keep("warn"), error: keep("error") };
}

export function testKey(i: number): string {
  return `key-${String(i).padStart(6, "0")}`;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

export function text(value: Uint8Array | null): string | null {
  return value === null ? null : decoder.decode(value);
}

export { seededValue } from "./fixtures/values.ts";

/** Every key and value of an open store, for comparing two recovery paths. */
export function dump(store: {
  listKeys(): string[];
  get(key: string): Uint8Array | null;
}): Map<string, string> {
  const all = new Map<string, string>();
  for (const key of store.listKeys()) all.set(key, Buffer.from(store.get(key) ?? []).toString("hex"));
  return all;
}

/** Every key's value and metadata, hex (null: none), for comparing a store before and after. */
export function dumpWithMetadata(store: {
  listKeys(): string[];
  get(key: string): Uint8Array | null;
  getMetadata(key: string): Uint8Array | null;
}): Map<string, [string, string | null]> {
  const all = new Map<string, [string, string | null]>();
  for (const key of store.listKeys()) {
    const metadata = store.getMetadata(key);
    all.set(key, [
      Buffer.from(store.get(key) ?? []).toString("hex"),
      metadata === null ? null : Buffer.from(metadata).toString("hex"),
    ]);
  }
  return all;
}

/**
 * A copy of a store's directory taken while it is open: what a crash at this moment would
 * leave (every acknowledged write is in the kernel, so in the copy).
 */
export function crashCopy(dir: string): string {
  const copy = tempDir("kvstore-crash-copy");
  // The copied LOCK names this live process, but no one holds its kernel lock: as after a crash.
  cpSync(dir, copy, { recursive: true });
  return copy;
}

/**
 * Where the records of `store`'s active segment end, while it is open: its file runs on past
 * them with preallocated zeros, so the file's length is not the place of the next record.
 */
export function recordsEnd(store: { segmentStats(): { bytes: number; active: boolean }[] }): number {
  const active = store.segmentStats().find((segment) => segment.active);
  if (active === undefined) throw new Error("no active segment");
  return active.bytes;
}
