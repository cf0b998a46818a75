import type { Completer } from "node:readline";
import type { KVStore } from "../../index.ts";
import { replCommandNames } from "./repl-commands.ts";
import { quoteIfNeeded } from "./tokenize.ts";

const commandsTakingAKey = new Set(["get", "delete"]);
/** Enough to choose from; a terminal cannot show a million keys usefully anyway. */
const maxKeyCompletions = 100;

/** Tab completion: command names first, then existing keys after get and delete. */
export function replCompleter(store: KVStore): Completer {
  return (line) => {
    const words = line.trimStart().split(/\s+/);
    const partial = words[words.length - 1] ?? "";
    if (words.length === 1) {
      return [replCommandNames.filter((name) => name.startsWith(partial)), partial];
    }
    if (words.length === 2 && commandsTakingAKey.has(words[0]?.toLowerCase() ?? "")) {
      const prefix = partial.startsWith('"') ? partial.slice(1) : partial;
      const keys = store.listKeys({ prefix, limit: maxKeyCompletions }).map(quoteIfNeeded);
      return [keys.filter((key) => key.startsWith(partial)), partial];
    }
    return [[], partial];
  };
}
