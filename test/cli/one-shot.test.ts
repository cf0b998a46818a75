import { describe, expect, it } from "bun:test";
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import packageJson from "../../package.json" with { type: "json" };
import { binaryPath, childEnv, kvstore, useTempDirs } from "./binary.ts";

const dirs = useTempDirs();

function inStore(...args: string[]): string[] {
  return ["--data-dir", dirs.dataDir, ...args];
}

describe("kvstore set and get", () => {
  it("stores a value given on the command line and writes it back raw, without a newline", async () => {
    const set = await kvstore(inStore("set", "greeting", "hello world"));
    expect(set).toMatchObject({ exitCode: 0, stdout: "OK\n" });
    const get = await kvstore(inStore("get", "greeting"));
    expect(get).toMatchObject({ exitCode: 0, stdout: "hello world" });
  });

  it("reads the value from stdin byte for byte when none is given", async () => {
    const value = new Uint8Array(70_000).map((_, i) => (i * 7919) % 256);
    expect((await kvstore(inStore("set", "blob"), { stdin: value })).exitCode).toBe(0);
    const get = await kvstore(inStore("get", "blob"));
    expect(get.exitCode).toBe(0);
    expect(get.stdoutBytes).toEqual(value);
  });

  it("stops quietly when the reader closes the pipe early (get | head)", async () => {
    const value = new Uint8Array(3_000_000).map((_, i) => i % 251);
    expect((await kvstore(inStore("set", "big"), { stdin: value })).exitCode).toBe(0);
    const child = Bun.spawn([binaryPath, ...inStore("get", "big")], {
      env: childEnv(),
      stdout: "pipe",
      stderr: "pipe",
    });
    // Read a little, then close the pipe, as `head -c 10` does.
    const reader = child.stdout.getReader();
    await reader.read();
    await reader.cancel();
    expect(await child.exited).toBe(0);
    expect(await new Response(child.stderr).text()).toBe("");
  });

  it("takes a value starting with a dash after --", async () => {
    expect((await kvstore(inStore("set", "--", "n", "-5"))).exitCode).toBe(0);
    expect((await kvstore(inStore("get", "n"))).stdout).toBe("-5");
  });

  it("exits 1 with nothing on stdout for a missing key", async () => {
    await kvstore(inStore("set", "present", "1"));
    const get = await kvstore(inStore("get", "absent"));
    expect(get).toMatchObject({ exitCode: 1, stdout: "" });
    expect(get.stderr).toContain('key "absent" not found');
  });

  it("reports an invalid key as a failure, not a crash", async () => {
    const set = await kvstore(inStore("set", "", "value"));
    expect(set.exitCode).toBe(1);
    expect(set.stderr).toStartWith("kvstore: ");
  });
});

describe("kvstore delete", () => {
  it("prints Deleted, and exits 1 once the key is gone", async () => {
    await kvstore(inStore("set", "doomed", "x"));
    expect(await kvstore(inStore("delete", "doomed"))).toMatchObject({ exitCode: 0, stdout: "Deleted\n" });
    expect((await kvstore(inStore("delete", "doomed"))).exitCode).toBe(1);
    expect((await kvstore(inStore("get", "doomed"))).exitCode).toBe(1);
  });
});

describe("kvstore list", () => {
  it("prints every key in order, one a line, or only those with the prefix", async () => {
    for (const key of ["user:2", "config", "user:1"]) await kvstore(inStore("set", key, "v"));
    expect(await kvstore(inStore("list"))).toMatchObject({ exitCode: 0, stdout: "config\nuser:1\nuser:2\n" });
    expect((await kvstore(inStore("list", "user:"))).stdout).toBe("user:1\nuser:2\n");
    expect(await kvstore(inStore("list", "nothing-here"))).toMatchObject({ exitCode: 0, stdout: "" });
  });
});

describe("kvstore stats", () => {
  it("prints the statistics block of the original REPL", async () => {
    await kvstore(inStore("set", "a", "1"));
    const stats = await kvstore(inStore("stats"));
    expect(stats.exitCode).toBe(0);
    expect(stats.stdout).toStartWith("Store Statistics:\n  Keys: 1\n  Segments: 1\n  Total size: 0.00 MB\n");
  });

  it("prints machine-readable figures with --json", async () => {
    await kvstore(inStore("set", "a", "1"));
    await kvstore(inStore("set", "b", "2"));
    const stats = await kvstore(inStore("stats", "--json"));
    expect(stats.exitCode).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject({ numKeys: 2, numSegments: 1, corruptRecords: 0 });
  });
});

describe("kvstore compact", () => {
  it("prints Compaction finished and keeps every live value", async () => {
    for (let i = 0; i < 3; i++) await kvstore(inStore("set", "key", `version ${i}`));
    await kvstore(inStore("set", "other", "kept"));
    expect(await kvstore(inStore("compact"))).toMatchObject({
      exitCode: 0,
      stdout: "Compaction finished\n",
      stderr: "",
    });
    // The live records were copied (by the compaction Worker, an entry point embedded in the
    // binary) into a new segment, and the old one deleted.
    const segments = readdirSync(dirs.dataDir).filter((name) => name.startsWith("segment-"));
    expect(segments).not.toContain("segment-0000000001.dat");
    expect(segments.filter((name) => name.endsWith(".compacting"))).toEqual([]);
    expect((await kvstore(inStore("get", "key"))).stdout).toBe("version 2");
    expect((await kvstore(inStore("get", "other"))).stdout).toBe("kept");
  });
});

describe("kvstore check", () => {
  async function storeOfThreeRecords(): Promise<string> {
    for (const key of ["a", "b", "c"]) await kvstore(inStore("set", key, "1111"));
    return join(dirs.dataDir, "segment-0000000001.dat");
  }

  it("reports a sound store and exits 0", async () => {
    await storeOfThreeRecords();
    const check = await kvstore(inStore("check"));
    expect(check.exitCode).toBe(0);
    expect(check.stdout).toContain("segment-0000000001.dat: 3 records");
    expect(check.stdout).toEndWith("\nOK\n");
  });

  it("names the file and offset of a damaged record and exits 1", async () => {
    const segment = await storeOfThreeRecords();
    // Records here are 20 bytes (11 of header, 1 of key, 4 of value, 4 of CRC): flip a byte
    // in the value of the second one.
    const bytes = readFileSync(segment);
    bytes[20 + 12] = (bytes[20 + 12] as number) ^ 0xff;
    writeFileSync(segment, bytes);

    const check = await kvstore(inStore("check"));
    expect(check.exitCode).toBe(1);
    expect(check.stdout).toContain("DAMAGED segment-0000000001.dat at offset 20");
    expect(check.stdout).toContain("CORRUPT: 1 damaged region");

    const json = await kvstore(inStore("check", "--json"));
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      damaged: [{ file: "segment-0000000001.dat", offset: 20 }],
    });
  });

  it("reports a torn tail and exits 1", async () => {
    const segment = await storeOfThreeRecords();
    appendFileSync(segment, new Uint8Array([0xf0, 0xf1, 1, 9]));
    const check = await kvstore(inStore("check"));
    expect(check.exitCode).toBe(1);
    expect(check.stdout).toContain("DAMAGED segment-0000000001.dat at offset 60, 4 bytes");
  });

  it("exits 1 when a segment is shorter than index.snapshot covered", async () => {
    const segment = await storeOfThreeRecords();
    // Each set closed the store, saving a snapshot that covers all 60 bytes; drop record "c".
    writeFileSync(segment, readFileSync(segment).subarray(0, 40));
    const check = await kvstore(inStore("check"));
    expect(check.exitCode).toBe(1);
    expect(check.stdout).toContain(
      "DAMAGED segment-0000000001.dat at offset 40, 20 bytes: index.snapshot covered 60 bytes, the file has 40",
    );
    expect(check.stdout).toEndWith("CORRUPT: 1 damaged region\n");
  });

  it("runs beside a process that holds the data directory", async () => {
    await storeOfThreeRecords();
    const holder = Bun.spawn([binaryPath, ...inStore("repl")], {
      env: childEnv(),
      stdin: "pipe",
      stdout: "pipe",
    });
    holder.stdin.write("get a\n");
    holder.stdin.flush();
    await holder.stdout.getReader().read();
    expect((await kvstore(inStore("check"))).exitCode).toBe(0);
    holder.stdin.end();
    await holder.exited;
  });
});

describe("the data directory", () => {
  it("is ./data by default, DATA_DIR when set, and --data-dir above both", async () => {
    await kvstore(["set", "where", "default"], { cwd: dirs.tempDir });
    expect(existsSync(join(dirs.tempDir, "data"))).toBe(true);
    const fromEnv = join(dirs.tempDir, "env-dir");
    await kvstore(["set", "where", "env"], { env: { DATA_DIR: fromEnv } });
    const fromFlag = join(dirs.tempDir, "flag-dir");
    await kvstore(["--data-dir", fromFlag, "set", "where", "flag"], { env: { DATA_DIR: fromEnv } });
    expect((await kvstore(["get", "where"], { cwd: dirs.tempDir })).stdout).toBe("default");
    expect((await kvstore(["get", "where"], { env: { DATA_DIR: fromEnv } })).stdout).toBe("env");
    expect((await kvstore([`--data-dir=${fromFlag}`, "get", "where"])).stdout).toBe("flag");
  });

  it("is not created by commands that only read it", async () => {
    for (const command of [["get", "k"], ["list"], ["stats"], ["delete", "k"], ["check"], ["compact"]]) {
      const result = await kvstore(inStore(...command));
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(`no data directory at ${dirs.dataDir}`);
    }
    expect(existsSync(dirs.dataDir)).toBe(false);
  });

  it("cannot be opened while another process holds it", async () => {
    const holder = Bun.spawn([binaryPath, ...inStore("repl")], {
      env: childEnv(),
      stdin: "pipe",
      stdout: "pipe",
    });
    holder.stdin.write("set held yes\n");
    holder.stdin.flush();
    const reader = holder.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("OK\n");
    const blocked = await kvstore(inStore("get", "held"));
    expect(blocked.exitCode).toBe(1);
    expect(blocked.stderr).toContain(`locked by process ${holder.pid}`);
    holder.stdin.end();
    expect(await holder.exited).toBe(0);
    expect((await kvstore(inStore("get", "held"))).stdout).toBe("yes");
  });
});

describe("usage", () => {
  it.each([
    ["no command", []],
    ["an unknown command", ["frobnicate"]],
    ["a missing argument", ["get"]],
    ["too many arguments", ["set", "k", "v", "extra"]],
    ["an unknown option", ["list", "--verbose"]],
    ["an option of another command", ["get", "k", "--json"]],
    ["--data-dir without a directory", ["list", "--data-dir"]],
    ["help for an unknown command", ["help", "frobnicate"]],
  ])("exits 2 and prints the usage for %s", async (_, args) => {
    const result = await kvstore(args, { cwd: dirs.tempDir });
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toStartWith("kvstore: ");
    expect(result.stderr).toContain("Usage: kvstore");
  });

  it("prints the general help for --help and help, exit 0", async () => {
    for (const args of [["--help"], ["-h"], ["help"]]) {
      const result = await kvstore(args);
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain("Usage: kvstore [--data-dir DIR] COMMAND [ARGS]");
      for (const command of ["serve", "repl", "get", "set", "delete", "list", "stats", "compact", "check"]) {
        expect(result.stdout).toContain(`\n  ${command}`);
      }
    }
  });

  it("prints a command's help for help COMMAND and COMMAND --help", async () => {
    const viaHelp = await kvstore(["help", "set"]);
    const viaFlag = await kvstore(["set", "--help"]);
    expect(viaHelp).toMatchObject({ exitCode: 0, stdout: viaFlag.stdout });
    expect(viaHelp.stdout).toStartWith("Usage: kvstore [--data-dir DIR] set KEY [VALUE]\n");
  });

  it("prints the package version", async () => {
    for (const args of [["--version"], ["-V"], ["version"]]) {
      expect(await kvstore(args)).toMatchObject({ exitCode: 0, stdout: `kvstore ${packageJson.version}\n` });
    }
  });
});
