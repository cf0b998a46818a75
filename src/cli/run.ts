import { parseArgs, resolveDataDir } from "./args.ts";
import { checkCommand } from "./check.ts";
import { findCommand } from "./commands.ts";
import { ExitCode } from "./exit-code.ts";
import { commandHelp, generalHelp } from "./help.ts";
import {
  backupCommand,
  compactCommand,
  deleteCommand,
  getCommand,
  listCommand,
  setCommand,
  statsCommand,
} from "./one-shot.ts";
import { printError, writeStdout } from "./output.ts";
import { runRepl } from "./repl/repl.ts";
import { serveCommand } from "./serve.ts";
import { UsageError } from "./usage-error.ts";
import { version } from "./version.ts";

type Env = Record<string, string | undefined>;

/** Runs one kvstore command line and returns the exit code; errors are reported, not thrown. */
export async function runCli(argv: readonly string[], env: Env): Promise<ExitCode> {
  try {
    return await dispatch(argv, env);
  } catch (error) {
    return report(error);
  }
}

async function dispatch(argv: readonly string[], env: Env): Promise<ExitCode> {
  const invocation = parseArgs(argv);
  if (invocation.version) return printVersion();
  if (invocation.command === undefined) {
    if (invocation.help) return printHelp(undefined);
    throw new UsageError("no command given");
  }
  const spec = findCommand(invocation.command);
  if (spec === undefined) throw new UsageError(`unknown command "${invocation.command}"`);
  if (invocation.help) return printHelp(spec.name);
  for (const flag of invocation.flags) {
    if (!spec.flags.includes(flag)) throw new UsageError(`${spec.name} has no option ${flag}`, spec.name);
  }
  const { args } = invocation;
  if (args.length < spec.minArgs || args.length > spec.maxArgs) {
    throw new UsageError(`wrong number of arguments for ${spec.name}`, spec.name);
  }
  const dataDir = resolveDataDir(invocation, env);
  const json = invocation.flags.includes("--json");
  const [first = "", second] = args;
  switch (spec.name) {
    case "serve":
      return serveCommand(invocation.rawArgs, env);
    case "repl":
      return runRepl(dataDir);
    case "get":
      return getCommand(dataDir, first);
    case "set":
      return setCommand(dataDir, first, second);
    case "delete":
      return deleteCommand(dataDir, first);
    case "list":
      return listCommand(dataDir, args[0]);
    case "stats":
      return statsCommand(dataDir, json);
    case "compact":
      return compactCommand(dataDir);
    case "check":
      return checkCommand(dataDir, json);
    case "backup":
      return backupCommand(dataDir, first);
    case "help":
      return printHelp(args[0]);
    case "version":
      return printVersion();
  }
}

async function printVersion(): Promise<ExitCode> {
  await writeStdout(`kvstore ${version}\n`);
  return ExitCode.success;
}

async function printHelp(commandName: string | undefined): Promise<ExitCode> {
  if (commandName === undefined) {
    await writeStdout(generalHelp());
    return ExitCode.success;
  }
  const spec = findCommand(commandName);
  if (spec === undefined) throw new UsageError(`no help for unknown command "${commandName}"`);
  await writeStdout(commandHelp(spec));
  return ExitCode.success;
}

function report(error: unknown): ExitCode {
  if (error instanceof UsageError) {
    const spec = error.command === undefined ? undefined : findCommand(error.command);
    printError(error.message);
    process.stderr.write(`\n${spec === undefined ? generalHelp() : commandHelp(spec)}`);
    return ExitCode.usage;
  }
  printError(error instanceof Error ? error.message : String(error));
  return ExitCode.failure;
}
