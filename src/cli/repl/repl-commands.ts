import type { KVStore } from "../../index.ts";
import { formatBackupReport } from "../format-backup.ts";
import { formatStats } from "../format-stats.ts";
import { tokenize } from "./tokenize.ts";

/** One line of REPL input, ready to run. */
export interface ReplStep {
  /** Writes may overlap the writes before them; any other command first waits for those to finish. */
  readonly isWrite: boolean;
  /** The next command waits until this one has finished. */
  readonly holdsLaterCommands: boolean;
  readonly quits: boolean;
  /** Starts the command at once (so it sees every write started before it); resolves to the reply. */
  execute(store: KVStore): Promise<string | undefined>;
}

interface ReplCommand {
  readonly names: readonly string[];
  readonly usage: string;
  readonly description: string;
  readonly minArgs: number;
  readonly maxArgs: number;
  readonly isWrite?: boolean;
  readonly holdsLaterCommands?: boolean;
  readonly quits?: boolean;
  run(store: KVStore, args: string[]): string | undefined | Promise<string | undefined>;
}

const utf8 = new TextDecoder();

const replCommands: readonly ReplCommand[] = [
  {
    names: ["set"],
    usage: "set KEY VALUE",
    description: 'store VALUE under KEY ("double quote" a value with spaces; \\" and \\\\ inside)',
    minArgs: 2,
    maxArgs: 2,
    isWrite: true,
    async run(store, [key = "", value = ""]) {
      await store.set(key, value);
      return "OK";
    },
  },
  {
    names: ["get"],
    usage: "get KEY",
    description: "print the value of KEY, or (nil)",
    minArgs: 1,
    maxArgs: 1,
    run(store, [key = ""]) {
      const value = store.get(key);
      return value === null ? "(nil)" : utf8.decode(value);
    },
  },
  {
    names: ["delete"],
    usage: "delete KEY",
    description: "remove KEY",
    minArgs: 1,
    maxArgs: 1,
    isWrite: true,
    async run(store, [key = ""]) {
      return (await store.delete(key)) ? "Deleted" : "Not found";
    },
  },
  {
    names: ["list"],
    usage: "list [PREFIX]",
    description: "list the keys in order, or those starting with PREFIX",
    minArgs: 0,
    maxArgs: 1,
    run(store, [prefix]) {
      const keys = store.listKeys({ prefix });
      return keys.length === 0 ? "No keys" : keys.map((key) => `  ${key}`).join("\n");
    },
  },
  {
    names: ["stats"],
    usage: "stats",
    description: "show key and segment counts and sizes",
    minArgs: 0,
    maxArgs: 0,
    run: (store) => formatStats(store.stats()),
  },
  {
    names: ["compact"],
    usage: "compact",
    description: "reclaim the space of overwritten and deleted values",
    minArgs: 0,
    maxArgs: 0,
    async run(store) {
      await store.compact();
      return "Compaction finished";
    },
  },
  {
    names: ["backup"],
    usage: "backup DEST",
    description: "copy the store to DEST, a new or empty directory",
    minArgs: 1,
    maxArgs: 1,
    // Its instant comes after it starts: a write typed after it must not slip in.
    holdsLaterCommands: true,
    async run(store, [destination = ""]) {
      return formatBackupReport(await store.backup(destination));
    },
  },
  {
    names: ["help"],
    usage: "help",
    description: "show this help",
    minArgs: 0,
    maxArgs: 0,
    run: () => helpText,
  },
  {
    names: ["quit", "exit"],
    usage: "quit / exit",
    description: "close the store and leave",
    minArgs: 0,
    maxArgs: 0,
    quits: true,
    run: () => undefined,
  },
];

const helpText = [
  "Available commands:",
  ...replCommands.map((command) => `  ${command.usage.padEnd(15)}${command.description}`),
].join("\n");

const commandsByName = new Map(
  replCommands.flatMap((command) => command.names.map((name) => [name, command])),
);

export const replCommandNames: readonly string[] = [...commandsByName.keys()];

function reply(text: string | undefined): ReplStep {
  return { isWrite: false, holdsLaterCommands: false, quits: false, execute: async () => text };
}

function describe(error: unknown): string {
  return `Error: ${error instanceof Error ? error.message : String(error)}`;
}

/** Parses one line; a mistake becomes a one-line "Error: ..." reply, never an exception. */
export function planLine(line: string): ReplStep {
  let words: string[];
  try {
    words = tokenize(line);
  } catch (error) {
    return reply(describe(error));
  }
  const [name, ...args] = words;
  if (name === undefined) return reply(undefined);
  const command = commandsByName.get(name.toLowerCase());
  if (command === undefined) return reply(`Error: unknown command "${name}"; type help for the list`);
  if (args.length < command.minArgs || args.length > command.maxArgs) {
    return reply(`Error: usage: ${command.usage} (type help for details)`);
  }
  return {
    isWrite: command.isWrite ?? false,
    holdsLaterCommands: command.holdsLaterCommands ?? false,
    quits: command.quits ?? false,
    async execute(store) {
      try {
        return await command.run(store, args);
      } catch (error) {
        return describe(error);
      }
    },
  };
}
