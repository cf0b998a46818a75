// Tests that need something from outside the project (strace, the right to mount a tmpfs) must
// not pass silently where they cannot run. On a developer's machine they are skipped with a
// warning that names what is missing; under CI (CI=true, which .ci/run sets) they fail instead,
// because .ci/run installs what they need.
import { describe, it } from "bun:test";

const underCi = ["true", "1"].includes((process.env.CI ?? "").toLowerCase());

/**
 * `describe(title, body)` when `missing` is null. Otherwise `missing` says what is missing and
 * why: the tests are skipped with a loud warning, or, under CI, replaced by one failing test.
 */
export function describeWithTool(title: string, missing: string | null, body: () => void): void {
  if (missing === null) {
    describe(title, body);
  } else if (underCi) {
    describe(title, () => {
      it("has the tools it needs (CI installs them)", () => {
        throw new Error(`cannot run "${title}" under CI: ${missing}`);
      });
    });
  } else {
    console.warn(`\n!!! SKIPPED "${title}": ${missing}\n!!! (under CI=true this fails)\n`);
    describe.skip(title, body);
  }
}

/** Runs a command to completion; returns null if it succeeded, or what it said if it did not. */
export function failureOf(command: string[]): string | null {
  try {
    const result = Bun.spawnSync(command, { stdout: "pipe", stderr: "pipe" });
    if (result.exitCode === 0) return null;
    const said = `${result.stderr.toString()}${result.stdout.toString()}`.trim();
    return `\`${command.join(" ")}\` exited ${result.exitCode}${said === "" ? "" : `: ${said}`}`;
  } catch (error) {
    return `\`${command.join(" ")}\` could not run: ${error instanceof Error ? error.message : String(error)}`;
  }
}
