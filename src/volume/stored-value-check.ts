import { readSync } from "node:fs";
import { CorruptionError, type OpenValue, RecordCrc } from "../index.ts";
import { ETAG_BLOCK_BYTES, EtagHasher } from "./etag.ts";

// A value's record where an OpenValue places it in its segment file (src/engine/record.ts):
//
//   recordOffset                   offset                      offset + length
//   | header | key | metadata block | value ...                   | crc32 |
//   <------------------ the record's crc32 covers ---------------->
//                                   <------ the etag covers ------>
//
// One pass, an etag block (a megabyte) at a time, feeds both: the value is read once and never
// whole in memory.

/**
 * Reads the record of a value from its segment file, checks the record's CRC and returns the
 * value's etag. Throws CorruptionError, which names the file (for the log), when the CRC does
 * not match or the file ends inside the record: then not a byte of the value may be sent.
 */
export function checkStoredValue({ fd, path, recordOffset, offset, length }: OpenValue): string {
  const readExactly = (into: Uint8Array, position: number): Uint8Array => {
    for (let done = 0; done < into.length; ) {
      const got = readSync(fd, into, done, into.length - done, position + done);
      if (got === 0) throw new CorruptionError(path, recordOffset, "the file ends inside the record");
      done += got;
    }
    return into;
  };
  const record = new RecordCrc();
  record.add(readExactly(new Uint8Array(offset - recordOffset), recordOffset));
  const chunk = new Uint8Array(Math.min(ETAG_BLOCK_BYTES, length));
  const etag = new EtagHasher();
  for (let done = 0; done < length; ) {
    const piece = readExactly(chunk.subarray(0, Math.min(chunk.length, length - done)), offset + done);
    record.add(piece);
    etag.add(piece);
    done += piece.length;
  }
  if (!record.matches(readExactly(new Uint8Array(RecordCrc.STORED_BYTES), offset + length))) {
    throw new CorruptionError(path, recordOffset, "bad-crc");
  }
  return etag.etag;
}
