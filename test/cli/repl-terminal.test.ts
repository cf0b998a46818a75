import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { binaryPath, childEnv, kvstore, useTempDirs } from "./binary.ts";
import { openTerminal, scriptAvailable, type Terminal } from "./terminal.ts";

const dirs = useTempDirs();

async function openRepl(): Promise<Terminal> {
  const terminal = openTerminal([binaryPath, "--data-dir", dirs.dataDir, "repl"], childEnv());
  await terminal.waitFor("kvstore (type help for instructions)");
  await terminal.waitFor("> ");
  return terminal;
}

async function run(terminal: Terminal, line: string, reply: string): Promise<void> {
  terminal.type(`${line}\r`);
  await terminal.waitFor(`\r\n${reply}\r\n`);
  await terminal.waitFor("> ");
}

describe.skipIf(!scriptAvailable)("kvstore repl in a terminal", () => {
  it("prompts, completes keys after get, keeps history and closes cleanly on Ctrl+D", async () => {
    const terminal = await openRepl();
    await run(terminal, "set apple 1", "OK");
    await run(terminal, "set apricot 2", "OK");
    terminal.type("get apr");
    await terminal.waitFor("get apr");
    terminal.type("\t");
    await terminal.waitFor("icot");
    terminal.type("\r");
    await terminal.waitFor("\r\n2\r\n");
    terminal.type("\x04");
    expect(await terminal.exited()).toBe(0);
    expect(readFileSync(join(dirs.dataDir, ".repl_history"), "utf8")).toBe(
      "set apple 1\nset apricot 2\nget apricot\n",
    );
    expect((await kvstore(["--data-dir", dirs.dataDir, "get", "apple"])).stdout).toBe("1");
  });

  it("completes command names and recalls history with the up arrow", async () => {
    await kvstore(["--data-dir", dirs.dataDir, "repl"], { stdin: "set k remembered\n" });
    const first = await openRepl();
    await run(first, "get k", "remembered");
    first.type("\x04");
    expect(await first.exited()).toBe(0);

    const second = await openRepl();
    second.type("\x1b[A");
    await second.waitFor("get k");
    second.type("\r");
    await second.waitFor("\r\nremembered\r\n");
    second.type("sta");
    await second.waitFor("sta");
    second.type("\t");
    await second.waitFor("ts");
    second.type("\r");
    await second.waitFor("Store Statistics:");
    second.type("\x04");
    expect(await second.exited()).toBe(0);
  });

  it("closes the store cleanly on Ctrl+C", async () => {
    const terminal = await openRepl();
    await run(terminal, "set before-interrupt kept", "OK");
    terminal.type("\x03");
    expect(await terminal.exited()).toBe(0);
    expect((await kvstore(["--data-dir", dirs.dataDir, "get", "before-interrupt"])).stdout).toBe("kept");
  });
});
