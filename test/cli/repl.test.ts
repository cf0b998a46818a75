import { describe, expect, it } from "bun:test";
import { binaryPath, childEnv, kvstore, useTempDirs } from "./binary.ts";

const dirs = useTempDirs();

/** Pipes the lines into `kvstore repl` and returns what it printed. */
async function repl(...lines: string[]) {
  return kvstore(["--data-dir", dirs.dataDir, "repl"], { stdin: `${lines.join("\n")}\n` });
}

describe("kvstore repl with piped input", () => {
  it("replays the session of the original README, printing only the replies", async () => {
    const session = await repl(
      'set name "Alice"',
      "get name",
      'set age "30"',
      "list",
      "delete name",
      "stats",
      "compact",
      "quit",
    );
    expect(session.exitCode).toBe(0);
    expect(session.stderr).toBe("");
    expect(session.stdout).toBe(
      [
        "OK",
        "Alice",
        "OK",
        "  age",
        "  name",
        "Deleted",
        "Store Statistics:",
        "  Keys: 1",
        "  Segments: 1",
        "  Total size: 0.00 MB",
        "  Reclaimable: 0.00 MB",
        "  Active segment: 1",
        "  Oldest segment: 1",
        "Compaction finished",
        "",
      ].join("\n"),
    );
  });

  it("answers every command in input order, each seeing the writes before it", async () => {
    const session = await repl(
      "set k 1",
      "get k",
      "set k 2",
      "get k",
      "delete k",
      "get k",
      "delete k",
      "list",
    );
    expect(session.stdout).toBe("OK\n1\nOK\n2\nDeleted\n(nil)\nNot found\nNo keys\n");
  });

  it("keeps every write of a long pipelined session", async () => {
    const count = 12_000; // more than the REPL holds in flight, so its back-pressure is exercised too
    const sets = Array.from({ length: count }, (_, i) => `set key${String(i).padStart(5, "0")} value${i}`);
    const session = await repl(...sets, "get key11999", "list key0000");
    const replies = session.stdout.split("\n");
    expect(replies.slice(0, count).every((reply) => reply === "OK")).toBe(true);
    expect(replies.slice(count)).toEqual([
      "value11999",
      ...Array.from({ length: 10 }, (_, i) => `  key0000${i}`),
      "",
    ]);
    expect((await kvstore(["--data-dir", dirs.dataDir, "list"])).stdout.split("\n")).toHaveLength(count + 1);
  });

  it('reads "double quoted" words with spaces, \\" and \\\\', async () => {
    const session = await repl(
      'set quote "she said \\"hi\\" \\\\o/"',
      "get quote",
      'set "key with spaces" "value with spaces"',
      'get "key with spaces"',
      'set empty ""',
      "get empty",
      "GET quote",
    );
    expect(session.stdout).toBe('OK\nshe said "hi" \\o/\nOK\nvalue with spaces\nOK\n\nshe said "hi" \\o/\n');
  });

  it("answers mistakes with one line each and carries on", async () => {
    const session = await repl(
      "frobnicate",
      "get",
      "set k hello world",
      'set k "unterminated',
      "",
      "help",
      "set k ok",
      "get k",
    );
    const lines = session.stdout.split("\n");
    expect(lines.slice(0, 4)).toEqual([
      'Error: unknown command "frobnicate"; type help for the list',
      "Error: usage: get KEY (type help for details)",
      "Error: usage: set KEY VALUE (type help for details)",
      'Error: unterminated quote: close the value with "',
    ]);
    expect(lines[4]).toBe("Available commands:");
    expect(lines.slice(-3)).toEqual(["OK", "ok", ""]);
    expect(session.exitCode).toBe(0);
  });

  it("stops reading at quit or exit", async () => {
    expect((await repl("set a 1", "quit", "set b 2")).stdout).toBe("OK\n");
    expect((await repl("exit", "set b 2")).stdout).toBe("");
    expect((await kvstore(["--data-dir", dirs.dataDir, "list"])).stdout).toBe("a\n");
  });

  it("keeps the data for the next session and for one-shot commands", async () => {
    await repl("set lasting yes", "set gone soon", "delete gone");
    expect((await repl("get lasting", "get gone")).stdout).toBe("yes\n(nil)\n");
    expect((await kvstore(["--data-dir", dirs.dataDir, "get", "lasting"])).stdout).toBe("yes");
  });

  it("closes the store cleanly on SIGTERM while waiting for input", async () => {
    const child = Bun.spawn([binaryPath, "--data-dir", dirs.dataDir, "repl"], {
      env: childEnv(),
      stdin: "pipe",
      stdout: "pipe",
    });
    child.stdin.write("set before-signal kept\n");
    child.stdin.flush();
    const reply = await child.stdout.getReader().read();
    expect(new TextDecoder().decode(reply.value)).toBe("OK\n");
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    expect((await kvstore(["--data-dir", dirs.dataDir, "get", "before-signal"])).stdout).toBe("kept");
  });
});
