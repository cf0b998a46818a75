import { UsageError } from "./usage-error.ts";

/** The command line, split into the command, its arguments and the global flags. */
export interface Invocation {
  command: string | undefined;
  args: string[];
  /** Flags given, by name ("--json"); `--data-dir`, `--help` and `--version` have their own fields. */
  flags: string[];
  dataDir: string | undefined;
  help: boolean;
  version: boolean;
  /**
   * Everything but the command word, untouched, for a command that parses its own flags.
   * Only `serve` does: the server's configuration loader owns --port, --host and the rest.
   */
  rawArgs: string[];
}

const commandsWithOwnFlags = new Set(["serve"]);

export function parseArgs(argv: readonly string[]): Invocation {
  const invocation: Invocation = {
    command: undefined,
    args: [],
    flags: [],
    dataDir: undefined,
    help: false,
    version: false,
    rawArgs: [],
  };
  let optionsEnded = false;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (invocation.command !== undefined && commandsWithOwnFlags.has(invocation.command)) {
      if (token === "--help" || token === "-h") invocation.help = true;
      continue;
    }
    if (optionsEnded || !token.startsWith("-") || token === "-") {
      if (invocation.command === undefined) {
        invocation.command = token;
        invocation.rawArgs = argv.filter((_, index) => index !== i);
      } else invocation.args.push(token);
      continue;
    }
    if (token === "--") optionsEnded = true;
    else if (token === "--help" || token === "-h") invocation.help = true;
    else if (token === "--version" || token === "-V") invocation.version = true;
    else if (token === "--data-dir") {
      const value = argv[++i];
      if (value === undefined) throw new UsageError("--data-dir needs a directory", invocation.command);
      invocation.dataDir = requireDirectory(value, invocation.command);
    } else if (token.startsWith("--data-dir=")) {
      invocation.dataDir = requireDirectory(token.slice("--data-dir=".length), invocation.command);
    } else if (token === "--json") invocation.flags.push(token);
    else {
      throw new UsageError(
        `unknown option ${token} (put -- before an argument that starts with a dash)`,
        invocation.command,
      );
    }
  }
  return invocation;
}

function requireDirectory(value: string, command: string | undefined): string {
  if (value === "") throw new UsageError("--data-dir needs a directory", command);
  return value;
}

/** The data directory: the flag, else DATA_DIR, else ./data. */
export function resolveDataDir(invocation: Invocation, env: Record<string, string | undefined>): string {
  return invocation.dataDir ?? (env.DATA_DIR || "./data");
}
