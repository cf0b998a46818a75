// Every examples/*.ts runs here, so that none of them rots as the API changes.
import { afterEach, beforeEach, describe, expect, it } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { childEnv, makeTempDir, projectRoot, removeTempDir } from "./binary.ts";

const examples = readdirSync(join(projectRoot, "examples")).filter((name) => name.endsWith(".ts"));

let tempDir: string;

beforeEach(() => {
  tempDir = makeTempDir();
});
afterEach(() => removeTempDir(tempDir));

describe("examples", () => {
  it("has the examples the README promises", () => {
    expect(examples).toEqual(
      expect.arrayContaining([
        "basic-usage.ts",
        "blob-volume.ts",
        "compaction.ts",
        "large-dataset.ts",
        "persistence.ts",
      ]),
    );
  });

  it.each(examples)(
    "%s runs to completion in a data directory given on the command line",
    async (example) => {
      const dataDir = join(tempDir, "data");
      const run = Bun.spawn([process.execPath, join("examples", example), dataDir], {
        cwd: projectRoot,
        env: childEnv(),
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout, stderr, exitCode] = await Promise.all([
        new Response(run.stdout).text(),
        new Response(run.stderr).text(),
        run.exited,
      ]);
      expect({ exitCode, stderr }).toEqual({ exitCode: 0, stderr: "" });
      expect(stdout).not.toBe("");
    },
  );

  it("removes the temporary directory it made when given none", async () => {
    const run = Bun.spawn([process.execPath, join("examples", "basic-usage.ts")], {
      cwd: projectRoot,
      env: childEnv({ TMPDIR: tempDir }),
      stdout: "ignore",
      stderr: "pipe",
    });
    expect(await run.exited).toBe(0);
    expect(readdirSync(tempDir)).toEqual([]);
  });
});
