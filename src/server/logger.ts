import type { Logger } from "../index.ts";

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogSink {
  write(line: string): void;
}

const stderrSink: LogSink = { write: (line) => process.stderr.write(line) };

/**
 * A logger for the server and the engine below it: one line per message on stderr,
 * `2025-01-01T00:00:00.000Z warn message`, dropping levels below `level`.
 */
export function createLogger(level: LogLevel, sink: LogSink = stderrSink): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const emit = (messageLevel: LogLevel) =>
    LOG_LEVELS.indexOf(messageLevel) < threshold
      ? () => {}
      : (message: string) => sink.write(`${new Date().toISOString()} ${messageLevel} ${message}\n`);
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

/** An error with its stack and its chain of causes, for logs. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  while (current !== undefined && parts.length < 5) {
    parts.push(
      current instanceof Error ? (current.stack ?? `${current.name}: ${current.message}`) : String(current),
    );
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(" | caused by: ");
}
