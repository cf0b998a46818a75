import { createInterface, type Interface } from "node:readline";
import { KVStore } from "../../index.ts";
import { ExitCode } from "../exit-code.ts";
import { replCompleter } from "./completion.ts";
import { historyFile, historySize, loadHistory, saveHistory } from "./history.ts";
import { LineBursts } from "./line-bursts.ts";
import { OrderedReplies } from "./ordered-replies.ts";
import { planLine } from "./repl-commands.ts";

const banner = "kvstore (type help for instructions)";

function openTerminal(store: KVStore, dataDir: string): Interface {
  const file = historyFile(dataDir);
  const terminal = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: true,
    prompt: "> ",
    history: loadHistory(file),
    historySize,
    removeHistoryDuplicates: true,
    completer: replCompleter(store),
  });
  terminal.on("history", (lines: string[]) => saveHistory(file, lines));
  return terminal;
}

/** Piped input: no prompt and no echo, so stdout holds nothing but the replies. */
function openPipe(): Interface {
  return createInterface({ input: process.stdin, terminal: false, crlfDelay: Number.POSITIVE_INFINITY });
}

/** Runs the interactive shell until quit, end of input, Ctrl+C or SIGTERM; always closes the store. */
export async function runRepl(dataDir: string): Promise<ExitCode> {
  const store = await KVStore.open(dataDir);
  const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  const input = interactive ? openTerminal(store, dataDir) : openPipe();
  const replies = new OrderedReplies((reply) => process.stdout.write(`${reply}\n`));
  // Closing the input ends the loop below, which then flushes the writes and closes the store.
  // Ctrl+C in a terminal reaches readline as a key; SIGINT or SIGTERM from elsewhere as a signal.
  let stopping = false;
  const stop = () => {
    stopping = true;
    input.close();
  };
  input.on("SIGINT", stop);
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const bursts = new LineBursts(input);
  try {
    if (interactive) {
      process.stdout.write(`${banner}\n`);
      input.prompt();
    }
    let quitCommand = false;
    while (!quitCommand && !stopping) {
      const burst = await bursts.next();
      if (burst === null) break;
      for (const line of burst) {
        const step = planLine(line);
        if (!step.isWrite || replies.isFull) await replies.drain();
        if (stopping) break;
        replies.add(step.execute(store));
        if (step.holdsLaterCommands) await replies.drain();
        quitCommand = step.quits;
        if (quitCommand) break;
      }
      if (interactive && !quitCommand) {
        await replies.drain();
        input.prompt();
      }
    }
    await replies.drain();
    // After Ctrl+C or Ctrl+D the cursor still sits after the prompt; leave the shell a clean line.
    if (interactive && !quitCommand) process.stdout.write("\n");
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    input.close();
    await store.close();
  }
  return ExitCode.success;
}
