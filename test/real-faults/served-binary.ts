// `dist/kvstore serve` in its own process, optionally under a wrapper such as strace, on a
// loopback port the OS picks (read from its "listening on" log line), stopped with real signals.
import { readFileSync } from "node:fs";
import { binaryPath, childEnv } from "../cli/binary.ts";
import { readUntilListening } from "../fixtures/listening-log.ts";

export interface Exit {
  code: number | null;
  signal: string | null;
}

export interface ServedBinary {
  readonly origin: string;
  /** The kvstore process itself (under a wrapper, the wrapper's child): signals go here. */
  readonly pid: number;
  /** Everything it logged so far. */
  log(): string;
  /** How the process started (the wrapper, if any: strace exits as its program did) ended. */
  readonly exited: Promise<Exit>;
  /** Sends `signal` to the kvstore process and waits until it has exited. */
  stop(signal: "SIGTERM" | "SIGKILL"): Promise<Exit>;
}

const running = new Set<ServedBinary>();

/** Starts the binary with `flags` on `dataDir`; resolves once it listens. */
export async function serveBinary(
  dataDir: string,
  flags: string[] = [],
  wrapper: string[] = [],
): Promise<ServedBinary> {
  const child = Bun.spawn(
    [...wrapper, binaryPath, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir, ...flags],
    { env: childEnv(), stdin: "ignore", stdout: "ignore", stderr: "pipe" },
  );
  const exited = child.exited.then(
    (): Exit => ({ code: child.exitCode, signal: child.signalCode?.toString() ?? null }),
  );
  const { origin, log } = await readUntilListening(
    child.stderr,
    async () => ` (${JSON.stringify(await exited)})`,
  );
  const pid = wrapper.length === 0 ? child.pid : onlyChildOf(child.pid);
  const server: ServedBinary = {
    origin,
    pid,
    log,
    exited,
    async stop(signal) {
      try {
        process.kill(pid, signal);
      } catch (error) {
        // Already gone: its exit says how.
        if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
      }
      const exit = await exited;
      running.delete(server);
      return exit;
    },
  };
  running.add(server);
  exited.then(() => running.delete(server));
  return server;
}

/** Kills every server a test left running (after a failure), so that its files are closed. */
export async function killLeftoverServers(): Promise<void> {
  for (const server of [...running]) await server.stop("SIGKILL");
}

function onlyChildOf(pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/);
  if (children.length !== 1 || children[0] === "") {
    throw new Error(`expected process ${pid} to have one child, found ${JSON.stringify(children)}`);
  }
  return Number(children[0]);
}
