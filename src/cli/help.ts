import { type CommandSpec, commands } from "./commands.ts";
import { version } from "./version.ts";

const usageColumn = Math.max(...commands.map((spec) => spec.usage.length)) + 2;

export function generalHelp(): string {
  const commandLines = commands.map((spec) => `  ${spec.usage.padEnd(usageColumn)}${spec.summary}`);
  return `kvstore ${version}: a Bitcask-style key-value and blob store

Usage: kvstore [--data-dir DIR] COMMAND [ARGS]

Commands:
${commandLines.join("\n")}

Global options:
  ${"--data-dir DIR".padEnd(usageColumn)}data directory (env DATA_DIR, default ./data)
  ${"-h, --help".padEnd(usageColumn)}show help; after a command, that command's
  ${"-V, --version".padEnd(usageColumn)}print the version

Exit status: 0 success, 1 not found or failure, 2 usage error.
`;
}

export function commandHelp(spec: CommandSpec): string {
  const details = spec.details ? `\n${spec.details}\n` : "";
  return `Usage: kvstore [--data-dir DIR] ${spec.usage}

${capitalize(spec.summary)}.
${details}`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
