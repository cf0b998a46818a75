// Runs the compiled dist/kvstore as a child process, building it first when it is missing or
// older than the sources. Every CLI test goes through here, so the binary is what gets tested.
import { afterEach, beforeAll, beforeEach } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const projectRoot = join(import.meta.dir, "../..");
export const binaryPath = join(projectRoot, "dist/kvstore");

function newestModification(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestModification(join(path, entry)));
  return newest;
}

export function ensureBinary(): void {
  const sourcesChanged = Math.max(
    newestModification(join(projectRoot, "src")),
    newestModification(join(projectRoot, "package.json")),
  );
  if (existsSync(binaryPath) && statSync(binaryPath).mtimeMs >= sourcesChanged) return;
  const build = Bun.spawnSync([process.execPath, "run", "build"], {
    cwd: projectRoot,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (build.exitCode !== 0) {
    throw new Error(`bun run build failed:\n${build.stdout.toString()}${build.stderr.toString()}`);
  }
}

/** A clean environment: no DATA_DIR, PORT or the like leaking in from the shell running the tests. */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? tmpdir(), ...extra };
}

export interface Result {
  exitCode: number;
  stdout: string;
  stdoutBytes: Uint8Array;
  stderr: string;
}

export async function kvstore(
  args: string[],
  options: {
    stdin?: string | Uint8Array;
    env?: Record<string, string>;
    cwd?: string;
    /** A command to run the binary under, such as unshare. */
    under?: string[];
  } = {},
): Promise<Result> {
  const stdin = typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin;
  const child = Bun.spawn([...(options.under ?? []), binaryPath, ...args], {
    cwd: options.cwd,
    env: childEnv(options.env),
    stdin: stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdoutBytes, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).bytes(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { exitCode, stdout: new TextDecoder().decode(stdoutBytes), stdoutBytes, stderr };
}

/** A fresh directory under the system temp dir; remove it with `removeTempDir`. */
export function makeTempDir(): string {
  return mkdtempSync(join(tmpdir(), "kvstore-cli-"));
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * For a test file: builds the binary once, and gives each test a fresh temp directory and a
 * data directory path inside it, removed after the test.
 */
export function useTempDirs(): { tempDir: string; dataDir: string } {
  const dirs = { tempDir: "", dataDir: "" };
  beforeAll(ensureBinary);
  beforeEach(() => {
    dirs.tempDir = makeTempDir();
    dirs.dataDir = join(dirs.tempDir, "data");
  });
  afterEach(() => removeTempDir(dirs.tempDir));
  return dirs;
}
