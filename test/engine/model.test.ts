// Model-based property test: random operation sequences against a plain Map, with segments so
// small that rotation happens every few writes.
import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { KVStore, type KVStoreOptions, silentLogger } from "../../src/index.ts";
import { tempDir } from "../helpers.ts";

type Command =
  | { kind: "set"; key: string; value: Uint8Array }
  | { kind: "delete"; key: string }
  | { kind: "get"; key: string }
  | { kind: "list"; prefix: string; after: string | undefined; limit: number | undefined }
  | { kind: "reopen" };

// A handful of keys, some multi-byte, so that overwrites and deletes hit existing keys often.
const keyArb = fc.constantFrom("a", "b", "c", "a/1", "a/2", "b/ü", "🙂", "long-key-".repeat(8));
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant("set"), key: keyArb, value: fc.uint8Array({ maxLength: 300 }) }),
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
  { weight: 1, arbitrary: fc.constant({ kind: "reopen" as const }) },
);

function expectedList(
  model: Map<string, Uint8Array>,
  prefix: string,
  after?: string,
  limit?: number,
): string[] {
  const keys = [...model.keys()]
    .filter((k) => k.startsWith(prefix) && (after === undefined || k > after))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return limit === undefined ? keys : keys.slice(0, limit);
}

async function checkEqual(store: KVStore, model: Map<string, Uint8Array>): Promise<void> {
  expect(store.listKeys()).toEqual(expectedList(model, ""));
  for (const [key, value] of model) expect(store.get(key)).toEqual(value);
  expect(store.stats().numKeys).toBe(model.size);
}

describe("model-based property", () => {
  it("behaves like a Map through set, delete, get, list, rotation and reopen", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { maxLength: 60 }),
        fc.boolean(),
        async (commands, concurrent) => {
          const dir = tempDir("kvstore-model");
          const options: KVStoreOptions = { maxSegmentBytes: 1024, logger: silentLogger, sync: "never" };
          let store = await KVStore.open(dir, options);
          const model = new Map<string, Uint8Array>();
          const inFlight: Promise<unknown>[] = [];
          try {
            for (const command of commands) {
              switch (command.kind) {
                case "set": {
                  const write = store.set(command.key, command.value);
                  model.set(command.key, command.value);
                  // Either await each write or let several be in flight at once.
                  if (concurrent) inFlight.push(write);
                  else await write;
                  break;
                }
                case "delete": {
                  const existed = model.delete(command.key);
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
                  store = await KVStore.open(dir, options);
                  break;
              }
              await checkEqual(store, model);
            }
            await Promise.all(inFlight.splice(0));
            await store.close();
            store = await KVStore.open(dir, options);
            await checkEqual(store, model);
          } finally {
            await store.close();
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
