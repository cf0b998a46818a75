import { describe, expect, it } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { kvstore, useTempDirs } from "./binary.ts";

const dirs = useTempDirs();
const REPORT = /^Backed up (\d+) keys? \(\d+ segments?, \d+ bytes\) to (.+) in \d+ ms\n$/;

function inStore(...args: string[]): string[] {
  return ["--data-dir", dirs.dataDir, ...args];
}

describe("kvstore backup", () => {
  it("writes a backup that opens and passes check, and prints one line", async () => {
    for (const key of ["a", "b", "c"]) await kvstore(inStore("set", key, `value ${key}`));
    const dest = join(dirs.tempDir, "backup");
    const backup = await kvstore(inStore("backup", dest));
    expect(backup).toMatchObject({ exitCode: 0, stderr: "" });
    expect(backup.stdout).toMatch(REPORT);
    expect(REPORT.exec(backup.stdout)?.slice(1)).toEqual(["3", dest]);
    expect(readdirSync(dest)).not.toContain("LOCK");
    expect((await kvstore(["--data-dir", dest, "check"])).exitCode).toBe(0);
    expect((await kvstore(["--data-dir", dest, "get", "b"])).stdout).toBe("value b");
  });

  it("takes DEST relative to the working directory", async () => {
    await kvstore(inStore("set", "k", "v"));
    const result = await kvstore(inStore("backup", "relative-backup"), { cwd: dirs.tempDir });
    expect(result.exitCode).toBe(0);
    expect(REPORT.exec(result.stdout)?.[2]).toBe(join(dirs.tempDir, "relative-backup"));
    expect(existsSync(join(dirs.tempDir, "relative-backup", "index.snapshot"))).toBe(true);
  });

  it("exits 1 with a message, writing nothing, when DEST is not empty", async () => {
    await kvstore(inStore("set", "k", "v"));
    const dest = join(dirs.tempDir, "full");
    mkdirSync(dest);
    writeFileSync(join(dest, "precious"), "keep me");
    const result = await kvstore(inStore("backup", dest));
    expect(result).toMatchObject({ exitCode: 1, stdout: "" });
    expect(result.stderr).toBe(
      `kvstore: cannot back up to ${dest}: it is not empty; give a new or empty directory\n`,
    );
    expect(readdirSync(dest)).toEqual(["precious"]);
  });

  it("exits 1 for a missing data directory and 2 without DEST", async () => {
    const missing = await kvstore(inStore("backup", join(dirs.tempDir, "backup")));
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain("no data directory");
    expect(existsSync(join(dirs.tempDir, "backup"))).toBe(false);
    const usage = await kvstore(inStore("backup"));
    expect(usage.exitCode).toBe(2);
    expect(usage.stderr).toContain("Usage: kvstore [--data-dir DIR] backup DEST");
  });

  it("is listed in the help", async () => {
    expect((await kvstore(["help"])).stdout).toContain("\n  backup DEST");
  });
});

describe("backup in the REPL", () => {
  it("backs up every write before it, and answers an error as one line", async () => {
    const dest = join(dirs.tempDir, "backup");
    const session = await kvstore(inStore("repl"), {
      stdin: ["set a 1", "set b 2", `backup ${dest}`, "set c 3", `backup ${dest}`, "get c", ""].join("\n"),
    });
    expect(session.exitCode).toBe(0);
    const lines = session.stdout.split("\n");
    expect(lines.slice(0, 2)).toEqual(["OK", "OK"]);
    expect(`${lines[2]}\n`).toMatch(REPORT);
    expect(lines.slice(3)).toEqual([
      "OK",
      `Error: cannot back up to ${dest}: it is not empty; give a new or empty directory`,
      "3",
      "",
    ]);
    expect((await kvstore(["--data-dir", dest, "list"])).stdout).toBe("a\nb\n");
  });
});
