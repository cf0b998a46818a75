import { describe, expect, it } from "bun:test";
import {
  copyValue,
  copyValueAndMetadata,
  encodeRecord,
  Op,
  parseRecord,
  RECORD_OVERHEAD,
  RecordCrc,
  recordLength,
} from "../../src/engine/record.ts";
import { bytes, seededValue } from "../helpers.ts";

function encode(op: Op, key: string, value: Uint8Array | null): Uint8Array {
  const keyBytes = Buffer.byteLength(key);
  const out = new Uint8Array(recordLength(keyBytes, value?.length ?? 0));
  encodeRecord(out, 0, op, key, keyBytes, value);
  return out;
}

describe("record codec", () => {
  it("round-trips a SET record with the documented layout", () => {
    const record = encode(Op.Set, "key", bytes("value"));
    expect(record.length).toBe(RECORD_OVERHEAD + 3 + 5);
    expect([...record.subarray(0, 11)]).toEqual([0xf0, 0xf1, 1, 3, 0, 0, 0, 5, 0, 0, 0]);
    const crc = Buffer.from(record).readUInt32LE(record.length - 4);
    expect(crc).toBe(Bun.hash.crc32(record.subarray(0, record.length - 4)));
    const parsed = parseRecord(record, 0, record.length);
    if (typeof parsed === "string") throw new Error(parsed);
    expect(parsed.op).toBe(Op.Set);
    expect(Buffer.from(record.subarray(parsed.keyStart, parsed.keyStart + parsed.keyBytes)).toString()).toBe(
      "key",
    );
    expect(
      Buffer.from(record.subarray(parsed.valueStart, parsed.valueStart + parsed.valueBytes)).toString(),
    ).toBe("value");
  });

  it("round-trips multi-byte UTF-8 keys, binary values and DELETE records", () => {
    const value = seededValue(7, 1000);
    for (const [op, key, val] of [
      [Op.Set, "clé/日本語/🙂", value],
      [Op.Set, "empty-value", new Uint8Array(0)],
      [Op.Delete, "gone", null],
    ] as const) {
      const record = encode(op, key, val);
      const parsed = parseRecord(record, 0, record.length);
      if (typeof parsed === "string") throw new Error(parsed);
      expect(parsed.op).toBe(op);
      expect(
        Buffer.from(record.subarray(parsed.keyStart, parsed.keyStart + parsed.keyBytes)).toString(),
      ).toBe(key);
      expect(record.subarray(parsed.valueStart, parsed.valueStart + parsed.valueBytes)).toEqual(
        val ?? new Uint8Array(0),
      );
    }
  });

  it("parses a record in the middle of a larger buffer", () => {
    const a = encode(Op.Set, "a", bytes("1"));
    const b = encode(Op.Set, "bb", bytes("22"));
    const both = new Uint8Array(a.length + b.length);
    both.set(a);
    both.set(b, a.length);
    const parsed = parseRecord(both, a.length, both.length);
    if (typeof parsed === "string") throw new Error(parsed);
    expect(parsed.keyStart).toBe(a.length + 11);
    expect(parsed.length).toBe(b.length);
  });

  it("detects a flipped bit anywhere in the record", () => {
    const record = encode(Op.Set, "key", bytes("some value"));
    for (let i = 0; i < record.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const damaged = record.slice();
        damaged[i] = (damaged[i] as number) ^ bit;
        expect(parseRecord(damaged, 0, damaged.length)).toBeOneOf([
          "bad-magic",
          "bad-op",
          "bad-crc",
          "truncated",
        ]);
      }
    }
  });

  it("reports a CRC mismatch as bad-crc", () => {
    const record = encode(Op.Set, "key", bytes("value"));
    record[record.length - 1] = (record[record.length - 1] as number) ^ 0xff;
    expect(parseRecord(record, 0, record.length)).toBe("bad-crc");
  });

  it("detects every truncation point of a record", () => {
    const record = encode(Op.Set, "key", bytes("value"));
    for (let cut = 0; cut < record.length; cut++) {
      expect(parseRecord(record.subarray(0, cut), 0, cut)).toBe("truncated");
    }
  });

  it("copies no value out of a record with a flipped bit anywhere, metadata or not", () => {
    // The head's CRC is computed apart from the value's (crc32-range.ts): every byte must count.
    const metadata = bytes("content-type: text/plain");
    const value = seededValue(100, 7);
    const keyBytes = 20;
    for (const withMetadata of [false, true]) {
      const metaBlock = withMetadata ? 2 + metadata.length : 0;
      const record = new Uint8Array(recordLength(keyBytes, value.length, metaBlock));
      const op = withMetadata ? Op.SetWithMetadata : Op.Set;
      encodeRecord(record, 0, op, "k".repeat(keyBytes), keyBytes, value, withMetadata ? metadata : null);
      expect(copyValue(record, 0, record.length)).toEqual(value);
      expect(copyValueAndMetadata(record, 0, record.length)).toEqual({
        value,
        metadata: withMetadata ? metadata : null,
      });
      for (let i = 0; i < record.length; i++) {
        for (const bit of [0x01, 0x80]) {
          const damaged = record.slice();
          damaged[i] = (damaged[i] as number) ^ bit;
          for (const copy of [copyValue, copyValueAndMetadata]) {
            const copied = copy(damaged, 0, damaged.length);
            expect([i, copy.name, typeof copied === "string" ? "refused" : "copied"]).toEqual([
              i,
              copy.name,
              "refused",
            ]);
          }
        }
      }
    }
  });

  it("copies a value out of a record only when the whole record checks out", () => {
    const record = encode(Op.Set, "key", bytes("value"));
    const inBuffer = new Uint8Array(record.length + 10);
    inBuffer.set(record, 10);
    expect(copyValue(inBuffer, 10, record.length)).toEqual(bytes("value"));
    expect(copyValue(inBuffer, 10, record.length - 1)).toBe("bad-op");
    expect(copyValue(encode(Op.Delete, "key", null), 0, 18)).toBe("bad-op");
    inBuffer[26] = (inBuffer[26] as number) ^ 1; // a byte of the value
    expect(copyValue(inBuffer, 10, record.length)).toBe("bad-crc");
    expect(copyValue(inBuffer, 9, record.length)).toBe("bad-magic");
  });

  it("checks a record's CRC fed a piece at a time, in pieces of any size", () => {
    const record = encode(Op.Set, "key", seededValue(5, 3000));
    const crcAt = record.length - RecordCrc.STORED_BYTES;
    const check = (bytes: Uint8Array, cuts: number[]) => {
      const crc = new RecordCrc();
      let from = 0;
      for (const cut of [...cuts, crcAt]) {
        crc.add(bytes.subarray(from, cut));
        from = cut;
      }
      return crc.matches(bytes.subarray(crcAt));
    };
    for (const cuts of [[], [11, 14], [0, 1, 2, 2, 1000], [11, 14, 15, 2999, 3013]]) {
      expect([cuts, check(record, cuts)]).toEqual([cuts, true]);
    }
    for (const at of [0, 2, 5, 12, 1500, crcAt - 1, crcAt, record.length - 1]) {
      const damaged = record.slice();
      damaged[at] = (damaged[at] as number) ^ 0x10;
      expect([at, check(damaged, [11, 14, 1000])]).toEqual([at, false]);
    }
    expect(new RecordCrc().matches(new Uint8Array(3))).toBe(false);
  });

  it("rejects reserved op codes and a DELETE that carries a value", () => {
    const record = encode(Op.Set, "key", bytes("v"));
    record[2] = 4;
    expect(parseRecord(record, 0, record.length)).toBe("bad-op");
    record[2] = Op.Delete;
    expect(parseRecord(record, 0, record.length)).toBe("bad-op");
  });
});
