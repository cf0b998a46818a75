// Crash test: a child does durable writes and reports each acknowledged one; it is killed with
// SIGKILL at random moments, and every acknowledged write must survive with its exact value.
import { describe, expect, it } from "bun:test";
import { join } from "node:path";
import { KVStore, silentLogger } from "../../src/index.ts";
import { versionedValue, versionOf } from "../fixtures/values.ts";
import { tempDir } from "../helpers.ts";

const ROUNDS = 24;
const WRITER = join(import.meta.dir, "../fixtures/crash-writer.ts");

interface Ack {
  version: number;
  length: number;
}

/** Runs one child until SIGKILL and returns the writes it acknowledged. */
async function runAndKill(
  dir: string,
  round: number,
  extraArgs: string[],
): Promise<{ acks: Map<string, Ack>; compactions: number }> {
  const child = Bun.spawn([process.execPath, WRITER, dir, String(round), ...extraArgs], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = child.stdout.getReader();
  let output = "";
  const decoder = new TextDecoder();
  // Wait until the store is open, then let it write for a random while.
  while (!output.includes("ready\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`crash writer exited early with code ${await child.exited}`);
    output += decoder.decode(value, { stream: true });
  }
  // With compactions: wait until one has finished, so that every round has compacted whatever
  // the machine's speed, then kill at a random moment of the ones running after it.
  const compacting = extraArgs.includes("--compact");
  while (compacting && !output.includes("compacted\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`crash writer exited before a compaction with code ${await child.exited}`);
    output += decoder.decode(value, { stream: true });
  }
  await Bun.sleep(compacting ? 60 + Math.random() * 400 : 30 + Math.random() * 200);
  child.kill("SIGKILL");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    output += decoder.decode(value, { stream: true });
  }
  expect(await child.exited).not.toBe(0);
  const acks = new Map<string, Ack>();
  let compactions = 0;
  // A line cut short by the kill has no newline after it: only whole lines count.
  for (const line of output.slice(0, output.lastIndexOf("\n")).split("\n")) {
    const [word, key, version, length] = line.split(" ");
    if (word === "compacted") compactions++;
    if (word !== "ack" || key === undefined) continue;
    const previous = acks.get(key);
    if (previous === undefined || previous.version < Number(version)) {
      acks.set(key, { version: Number(version), length: Number(length) });
    }
  }
  return { acks, compactions };
}

/** Runs the rounds; returns how many compactions the children finished. */
async function crashRounds(extraArgs: string[] = []): Promise<number> {
  const dir = tempDir("kvstore-crash");
  const latest = new Map<string, Ack>();
  let acknowledged = 0;
  let compactions = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const run = await runAndKill(dir, round, extraArgs);
    const acks = run.acks;
    compactions += run.compactions;
    acknowledged += acks.size;
    for (const [key, ack] of acks) latest.set(key, ack);

    const store = await KVStore.open(dir, { logger: silentLogger });
    for (const [key, ack] of latest) {
      const value = store.get(key);
      expect(value).not.toBeNull();
      if (key.startsWith("shared-")) {
        // A later write may have reached the disk without being acknowledged: it may win,
        // but never an older one.
        expect(versionOf(value as Uint8Array)).toBeGreaterThanOrEqual(ack.version);
      } else {
        expect(value).toEqual(versionedValue(ack.version, ack.length));
      }
    }
    await store.set(`after-round-${round}`, "still writable");
    await store.close();
  }
  expect(acknowledged).toBeGreaterThan(ROUNDS * 10);
  return compactions;
}

describe("crash safety", () => {
  it(`keeps every acknowledged write through ${ROUNDS} SIGKILLs`, async () => {
    await crashRounds();
  }, 60_000);

  it(`keeps every acknowledged write through ${ROUNDS} SIGKILLs while compaction runs continuously`, async () => {
    // Every round waits for a compaction to finish before its kill (see runAndKill).
    expect(await crashRounds(["--compact"])).toBeGreaterThanOrEqual(ROUNDS);
  }, 120_000);
});
