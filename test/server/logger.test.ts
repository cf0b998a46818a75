import { describe, expect, it } from "bun:test";
import { createLogger, describeError } from "../../src/server/logger.ts";

function capture(level: Parameters<typeof createLogger>[0]) {
  const lines: string[] = [];
  return { lines, logger: createLogger(level, { write: (line) => lines.push(line) }) };
}

describe("createLogger", () => {
  it("writes one timestamped line per message at or above its level", () => {
    const { lines, logger } = capture("warn");
    logger.debug("hidden");
    logger.info("hidden too");
    logger.warn("careful");
    logger.error("broken");
    expect(lines).toEqual([
      expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z warn careful\n$/),
      expect.stringMatching(/ error broken\n$/),
    ]);
  });

  it("writes everything at debug level", () => {
    const { lines, logger } = capture("debug");
    for (const level of ["debug", "info", "warn", "error"] as const) logger[level](level);
    expect(lines.map((line) => line.split(" ")[1])).toEqual(["debug", "info", "warn", "error"]);
  });
});

describe("describeError", () => {
  it("includes the stack and every cause", () => {
    const error = new Error("outer", { cause: new TypeError("inner") });
    const text = describeError(error);
    expect(text).toContain("Error: outer");
    expect(text).toContain("caused by: TypeError: inner");
    expect(describeError("plain")).toBe("plain");
  });
});
