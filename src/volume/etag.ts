import { closeSync, openSync, readSync } from "node:fs";
import type { ValueLocation } from "../index.ts";

const CHUNK_BYTES = 1024 * 1024;

/** A blob's entity tag: the CRC-32 (IEEE) of its bytes as 8 lowercase hex digits, as in the original API. */
export function etagOf(bytes: Uint8Array): string {
  return formatEtag(Bun.hash.crc32(bytes));
}

/** The entity tag of bytes in a file, read a chunk at a time so a large blob never sits whole in memory. */
export function etagOfFileRange({ path, offset, length }: ValueLocation): string {
  const chunk = new Uint8Array(Math.min(CHUNK_BYTES, length));
  const fd = openSync(path, "r");
  try {
    let crc = 0;
    for (let done = 0; done < length; ) {
      const got = readSync(fd, chunk, 0, Math.min(chunk.length, length - done), offset + done);
      if (got === 0) throw new Error(`${path} ends before the blob does`);
      // Bun's CRC-32 continues from the seed it is given.
      crc = Bun.hash.crc32(chunk.subarray(0, got), crc);
      done += got;
    }
    return formatEtag(crc);
  } finally {
    closeSync(fd);
  }
}

function formatEtag(crc: number): string {
  return crc.toString(16).padStart(8, "0");
}
