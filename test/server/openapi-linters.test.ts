// The served OpenAPI document through the two usual linters, each run once: Redocly CLI with its
// recommended ruleset and Spectral with spectral:oas (.spectral.yaml). Neither may report an error.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openTestApp } from "./app-fixture.ts";

const REPO = join(import.meta.dir, "../..");
const bin = (name: string) => join(REPO, "node_modules/.bin", name);
// Redocly CLI would otherwise send telemetry and look for a newer version: no network in tests.
const OFFLINE = { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" };

let lintDir: string;
let documentPath: string;

beforeAll(async () => {
  const { request } = await openTestApp();
  const document = await (await request("GET", "/swagger/json")).json();
  lintDir = mkdtempSync(join(tmpdir(), "kvstore-openapi-lint-"));
  documentPath = join(lintDir, "openapi.json");
  writeFileSync(documentPath, JSON.stringify(document, null, 2));
});

afterAll(() => {
  if (lintDir !== undefined) rmSync(lintDir, { recursive: true, force: true });
});

function run(command: string[]): { exitCode: number; stdout: string; stderr: string } {
  const result = Bun.spawnSync(command, { cwd: REPO, env: OFFLINE, stdout: "pipe", stderr: "pipe" });
  return { exitCode: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

describe("the OpenAPI document at /swagger/json, linted", () => {
  it("has no error for Redocly CLI (recommended ruleset)", () => {
    const { stdout } = run([bin("redocly"), "lint", documentPath, "--extends=recommended", "--format=json"]);
    const report = JSON.parse(stdout) as { totals: { errors: number }; problems: { severity: string }[] };
    expect(report.problems.filter((problem) => problem.severity === "error")).toEqual([]);
    expect(report.totals.errors).toBe(0);
  }, 120_000);

  it("has no error for Spectral (spectral:oas)", () => {
    const { exitCode, stdout, stderr } = run([
      bin("spectral"),
      "lint",
      documentPath,
      "--ruleset",
      join(REPO, ".spectral.yaml"),
      "--format=json",
      "--quiet",
    ]);
    // Severity 0 is an error; warnings (1) and hints are allowed.
    const errors = (JSON.parse(stdout) as { severity: number }[]).filter((result) => result.severity === 0);
    expect({ errors, stderr }).toEqual({ errors: [], stderr: "" });
    expect(exitCode).toBe(0);
  }, 120_000);
});
