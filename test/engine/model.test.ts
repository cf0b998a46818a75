// Model-based property test: random operation sequences against a plain Map, with segments so
// small that rotation (and automatic compaction) happens every few writes. Half the writes carry
// metadata, which must follow its value through all of it.
import { describe, expect, it } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { KVStore, type KVStoreOptions, silentLogger } from "../../src/index.ts";
import { tempDir } from "../helpers.ts";

type Command =
  | { kind: "set"; key: string; value: Uint8Array; metadata: Uint8Array | undefined }
  | { kind: "delete"; key: string }
  | { kind: "get"; key: string }
  | { kind: "list"; prefix: string; after: string | undefined; limit: number | undefined }
  | { kind: "reopen"; snapshot: "keep" | "delete" | "damage" }
  | { kind: "compact"; await: boolean }
  | { kind: "saveSnapshot" };

// A handful of keys, some multi-byte, so that overwrites and deletes hit existing keys often.
// "！" (U+FF01) and "🙂" sort one way in UTF-16 and the other in UTF-8 bytes (the store's order).
const keyArb = fc.constantFrom("a", "b", "c", "a/1", "a/2", "b/ü", "🙂", "！", "long-key-".repeat(8));
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("set"),
      key: keyArb,
      value: fc.uint8Array({ maxLength: 300 }),
      // Half the writes carry metadata (op 3 records), the others none (op 1).
      metadata: fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete"), key: keyArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("get"), key: keyArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("list"),
      prefix: fc.constantFrom("", "a", "a/", "b"),
      after: fc.option(keyArb, { nil: undefined }),
      limit: fc.option(fc.nat(4), { nil: undefined }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("reopen"),
      snapshot: fc.constantFrom("keep", "delete", "damage"),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("compact"), await: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: "saveSnapshot" as const }) },
);

/** What reopen finds of index.snapshot: as close() left it, gone, or with a byte flipped. */
function tamperWithSnapshot(dir: string, how: "keep" | "delete" | "damage"): void {
  const path = join(dir, "index.snapshot");
  if (how === "delete") rmSync(path, { force: true });
  if (how === "damage" && existsSync(path)) {
    const bytes = readFileSync(path);
    const at = bytes.length >> 1;
    bytes[at] = (bytes[at] as number) ^ 0x10;
    writeFileSync(path, bytes);
  }
}

function expectedList(
  model: Map<string, Uint8Array>,
  prefix: string,
  after?: string,
  limit?: number,
): string[] {
  const utf8 = (key: string) => Buffer.from(key, "utf8");
  const keys = [...model.keys()]
    .filter((k) => k.startsWith(prefix) && (after === undefined || Buffer.compare(utf8(k), utf8(after)) > 0))
    .sort((a, b) => Buffer.compare(utf8(a), utf8(b)));
  return limit === undefined ? keys : keys.slice(0, limit);
}

async function checkEqual(
  store: KVStore,
  model: Map<string, Uint8Array>,
  metadataModel: Map<string, Uint8Array>,
): Promise<void> {
  expect(store.listKeys()).toEqual(expectedList(model, ""));
  for (const [key, value] of model) {
    expect(store.get(key)).toEqual(value);
    expect(store.valueLength(key)).toBe(value.length);
    expect(store.getMetadata(key)).toEqual(metadataModel.get(key) ?? null);
    expect(store.getWithMetadata(key)).toEqual({ value, metadata: metadataModel.get(key) ?? null });
  }
  expect(store.stats().numKeys).toBe(model.size);
}

describe("model-based property", () => {
  it("behaves like a Map through writes, rotation, compaction, snapshots and reopen", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { maxLength: 60 }),
        fc.boolean(),
        async (commands, concurrent) => {
          const dir = tempDir("kvstore-model");
          const options: KVStoreOptions = {
            maxSegmentBytes: 1024,
            logger: silentLogger,
            sync: "never",
            compactionThreshold: 3,
            snapshotEveryBytes: 2048,
          };
          let store = await KVStore.open(dir, options);
          const model = new Map<string, Uint8Array>();
          const metadataModel = new Map<string, Uint8Array>();
          const inFlight: Promise<unknown>[] = [];
          try {
            for (const command of commands) {
              switch (command.kind) {
                case "set": {
                  const { metadata } = command;
                  const write = store.set(command.key, command.value, { metadata });
                  model.set(command.key, command.value);
                  if (metadata === undefined) metadataModel.delete(command.key);
                  else metadataModel.set(command.key, metadata);
                  // Either await each write or let several be in flight at once.
                  if (concurrent) inFlight.push(write);
                  else await write;
                  break;
                }
                case "delete": {
                  const existed = model.delete(command.key);
                  metadataModel.delete(command.key);
                  const removal = store.delete(command.key);
                  if (concurrent) inFlight.push(removal);
                  else expect(await removal).toBe(existed);
                  break;
                }
                case "get":
                  expect(store.get(command.key)).toEqual(model.get(command.key) ?? null);
                  break;
                case "list":
                  expect(store.listKeys(command)).toEqual(
                    expectedList(model, command.prefix, command.after, command.limit),
                  );
                  break;
                case "reopen":
                  await Promise.all(inFlight.splice(0));
                  await store.close();
                  tamperWithSnapshot(dir, command.snapshot);
                  store = await KVStore.open(dir, options);
                  break;
                case "compact": {
                  // Either wait for it or let it run beside the commands that follow.
                  const compaction = store.compact();
                  if (command.await) await compaction;
                  else inFlight.push(compaction);
                  break;
                }
                case "saveSnapshot":
                  await store.saveSnapshot();
                  break;
                default:
                  throw new Error(`unhandled command ${JSON.stringify(command satisfies never)}`);
              }
              await checkEqual(store, model, metadataModel);
            }
            await Promise.all(inFlight.splice(0));
            await store.close();
            store = await KVStore.open(dir, options);
            await checkEqual(store, model, metadataModel);
          } finally {
            await store.close();
          }
        },
      ),
      { numRuns: 150 },
    );
  }, 60_000);
});
