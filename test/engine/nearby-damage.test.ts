import { describe, expect, it } from "bun:test";
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeRecord, Op, recordLength } from "../../src/engine/record.ts";
import { scanRecords } from "../../src/engine/scan.ts";
import { segmentFileName } from "../../src/engine/segment.ts";
import { KVStore, silentLogger, verify } from "../../src/index.ts";
import { recordsEnd, seededValue, tempDir, testKey, text } from "../helpers.ts";

const KEYS = 40;
const VALUE_BYTES = 100;
const RECORD = recordLength(testKey(0).length, VALUE_BYTES);
const NEW_SEED = 1000;

/**
 * One byte flipped in a record, by where it lands. Each makes the record fail a different way:
 * a bad magic or op with true lengths, a key length that claims more bytes (bad CRC over the
 * wrong span), a value length past the end of the file, and a bad CRC with a true header.
 */
const DAMAGE = {
  magic: 0,
  op: 2,
  "key length": 3,
  "value length": 10,
  value: 15 + 10 + 50,
  crc: RECORD - 1,
} as const;
type Damage = keyof typeof DAMAGE;
const KINDS = Object.keys(DAMAGE) as Damage[];

/** Which records of a segment of KEYS records to damage: two, with `between` intact records between. */
function placements(between: number): Record<string, [number, number]> {
  return {
    "at the start": [0, between + 1],
    "in the middle": [4, 4 + between + 1],
    "at the end": [KEYS - between - 2, KEYS - 1],
  };
}

function flip(bytes: Uint8Array, offset: number): void {
  bytes[offset] = (bytes[offset] as number) ^ 0x5a;
}

/** KEYS records of RECORD bytes each: key i holds seededValue(i + seed). */
function segmentBytes(seed: number): Buffer {
  const out = Buffer.alloc(KEYS * RECORD);
  for (let i = 0; i < KEYS; i++) {
    const key = testKey(i);
    encodeRecord(out, i * RECORD, Op.Set, key, key.length, seededValue(i + seed, VALUE_BYTES));
  }
  return out;
}

describe("recovery between nearby damaged records", () => {
  it("keeps every intact record between two damaged ones at any distance, however each is damaged", () => {
    const pristine = segmentBytes(NEW_SEED);
    const failures: string[] = [];
    for (let between = 1; between <= 16; between++) {
      for (const [where, [first, second]] of Object.entries(placements(between))) {
        for (const firstKind of KINDS) {
          for (const secondKind of KINDS) {
            const bytes = Buffer.from(pristine);
            flip(bytes, first * RECORD + DAMAGE[firstKind]);
            flip(bytes, second * RECORD + DAMAGE[secondKind]);
            const kept: number[] = [];
            const reported: string[] = [];
            const { validEnd, tail } = scanRecords(
              bytes,
              (_, offset) => kept.push(offset / RECORD),
              (offset, length) => reported.push(`${offset / RECORD}+${length}`),
            );
            if (tail !== null) reported.push(`${validEnd / RECORD}+${bytes.length - validEnd}`);
            const intact = [...Array(KEYS).keys()].filter((i) => i !== first && i !== second);
            const scenario = `${between} between, ${where}, ${firstKind} then ${secondKind}`;
            if (JSON.stringify(kept) !== JSON.stringify(intact))
              failures.push(`${scenario}: kept records ${kept.join(",")}`);
            if (reported.join(" ") !== `${first}+${RECORD} ${second}+${RECORD}`)
              failures.push(`${scenario}: reported ${reported.join(" ")}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it("keeps the records between a damaged record and where its damaged length points", () => {
    // Records of 128 bytes: one flipped bit adds 128 to a value length, so the damaged record
    // claims to end exactly where a later record (or the segment) does.
    const key = (i: number) => `k-${String(i).padStart(8, "0")}`;
    const record = recordLength(key(0).length, 128 - 15 - key(0).length);
    expect(record).toBe(128);
    for (const [damaged, flip] of [
      [5, 0x80], // claims 256 bytes: the end of record 6
      [17, 0x80], // the last record but one: claims to end where the segment ends
      [3, 0x40 | 0x80], // claims 320 bytes: inside record 5, not at a record's start
    ] as const) {
      const bytes = Buffer.alloc(20 * record);
      for (let i = 0; i < 20; i++)
        encodeRecord(bytes, i * record, Op.Set, key(i), key(i).length, seededValue(i, record - 25));
      bytes[damaged * record + 7] = (bytes[damaged * record + 7] as number) ^ flip;
      const kept: number[] = [];
      const reported: string[] = [];
      scanRecords(
        bytes,
        (_, offset) => kept.push(offset / record),
        (offset, length) => reported.push(`${offset / record}+${length}`),
      );
      const intact = [...Array(20).keys()].filter((i) => i !== damaged);
      expect({ damaged, kept }).toEqual({ damaged, kept: intact });
      expect(reported).toEqual([`${damaged}+${record}`]);
    }
  });

  it("keeps exactly the intact records when single bytes of random records are damaged", () => {
    // Random keys, sizes and tombstones; a quarter of the values hold the image of the record
    // before them. Each damaged record gets one flipped bit, anywhere in it.
    let seed = 42;
    const random = (below: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 8) % below;
    };
    const failures: string[] = [];
    for (let trial = 0; trial < 4000; trial++) {
      const records: Uint8Array[] = [];
      for (let i = 0, count = 2 + random(25); i < count; i++) {
        const key = `t${trial}/${i}`.repeat(1 + random(3));
        const previous = records[records.length - 1];
        const op = random(8) === 0 ? Op.Delete : Op.Set;
        let value: Uint8Array | null = null;
        if (op === Op.Set && previous !== undefined && random(4) === 0)
          value = Buffer.concat([seededValue(i, random(30)), previous, seededValue(-i, random(30))]);
        else if (op === Op.Set) value = seededValue(trial * 100 + i, random(400));
        const bytes = new Uint8Array(recordLength(key.length, value?.length ?? 0));
        encodeRecord(bytes, 0, op, key, key.length, value);
        records.push(bytes);
      }
      const starts = records.map((_, i) => records.slice(0, i).reduce((sum, r) => sum + r.length, 0));
      const segment = Buffer.concat(records);
      const damaged = new Set<number>();
      for (let flips = 1 + random(4); damaged.size < Math.min(flips, records.length); ) {
        const i = random(records.length);
        if (damaged.has(i)) continue;
        damaged.add(i);
        const at = (starts[i] as number) + random((records[i] as Uint8Array).length);
        segment[at] = (segment[at] as number) ^ (1 << random(8));
      }
      const kept: number[] = [];
      scanRecords(
        segment,
        (_, offset) => kept.push(offset),
        () => {},
      );
      const intact = starts.filter((_, i) => !damaged.has(i));
      if (JSON.stringify(kept) !== JSON.stringify(intact))
        failures.push(`trial ${trial}: damaged ${[...damaged]}, kept ${kept.map((k) => starts.indexOf(k))}`);
    }
    expect(failures).toEqual([]);
  });

  it("keeps the newest intact values on open, so older values do not come back", async () => {
    // Segment 1 holds an older value of every key, segment 2 the newer ones, which get damaged.
    const template = tempDir();
    const store = await KVStore.open(template, {
      maxSegmentBytes: KEYS * RECORD,
      autoCompaction: false,
      logger: silentLogger,
    });
    for (let i = 0; i < KEYS; i++) await store.set(testKey(i), seededValue(i, VALUE_BYTES));
    for (let i = 0; i < KEYS; i++) await store.set(testKey(i), seededValue(i + NEW_SEED, VALUE_BYTES));
    await store.close();
    rmSync(join(template, "index.snapshot"));
    expect(readFileSync(join(template, segmentFileName(2))).equals(segmentBytes(NEW_SEED))).toBe(true);

    const failures: string[] = [];
    for (let between = 1; between <= 16; between++) {
      for (const [where, [first, second]] of Object.entries(placements(between))) {
        for (const kind of ["op", "key length", "value"] as const) {
          const dir = tempDir();
          cpSync(template, dir, { recursive: true });
          const path = join(dir, segmentFileName(2));
          const bytes = readFileSync(path);
          flip(bytes, first * RECORD + DAMAGE[kind]);
          flip(bytes, second * RECORD + DAMAGE[kind]);
          writeFileSync(path, bytes);
          const scenario = `${between} between, ${where}, ${kind} damaged`;
          const report = verify(dir);
          const damaged = report.damaged.map((region) => `${region.offset / RECORD}+${region.length}`);
          if (damaged.join(" ") !== `${first}+${RECORD} ${second}+${RECORD}`)
            failures.push(`${scenario}: verify reported ${damaged.join(" ")}`);
          const reopened = await KVStore.open(dir, { autoCompaction: false, logger: silentLogger });
          if (reopened.stats().corruptRecords !== 2)
            failures.push(`${scenario}: ${reopened.stats().corruptRecords} corrupt records`);
          for (let i = 0; i < KEYS; i++) {
            const damagedHere = i === first || i === second;
            const expected = seededValue(damagedHere ? i : i + NEW_SEED, VALUE_BYTES);
            if (!Buffer.from(expected).equals(reopened.get(testKey(i)) ?? new Uint8Array()))
              failures.push(
                `${scenario}: key ${i} does not hold its ${damagedHere ? "older" : "newest"} value`,
              );
          }
          await reopened.close();
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it("applies a tombstone that lies between two damaged records", async () => {
    for (const between of [1, 2, 3]) {
      for (const kind of ["op", "key length", "value"] as const) {
        const dir = tempDir();
        const store = await KVStore.open(dir, { autoCompaction: false, logger: silentLogger });
        const path = join(dir, segmentFileName(1));
        await store.set("victim", "must stay deleted");
        const damagedAt: number[] = [];
        const damageNext = async (i: number) => {
          damagedAt.push(recordsEnd(store));
          await store.set(testKey(i), seededValue(i, VALUE_BYTES));
        };
        await damageNext(0);
        await store.delete("victim");
        for (let i = 1; i < between; i++) await store.set(`filler-${i}`, "intact");
        await damageNext(1);
        await store.set("after", "intact");
        await store.close();
        // A newer segment: in the newest one, a length that runs past the end reads as a torn
        // write and is cut (torn-value.test.ts); damage in a sealed one is skipped.
        const rotating = await KVStore.open(dir, {
          autoCompaction: false,
          logger: silentLogger,
          maxSegmentBytes: 1024,
        });
        await rotating.set("newer", "x".repeat(2000));
        await rotating.close();
        rmSync(join(dir, "index.snapshot"));
        const bytes = readFileSync(path);
        for (const at of damagedAt) flip(bytes, at + DAMAGE[kind]);
        writeFileSync(path, bytes);

        const reopened = await KVStore.open(dir, { logger: silentLogger });
        const scenario = `${between} between, ${kind} damaged`;
        expect([scenario, reopened.has("victim")]).toEqual([scenario, false]);
        expect([scenario, reopened.stats().corruptRecords]).toEqual([scenario, 2]);
        expect([scenario, text(reopened.get("after"))]).toEqual([scenario, "intact"]);
        await reopened.close();
      }
    }
  });
});
