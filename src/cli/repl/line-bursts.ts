import type { Interface } from "node:readline";

/**
 * Lines from readline, handed out in bursts: every line that has arrived since the last call.
 * The REPL starts a burst's writes without awaiting in between, which is what lets the engine's
 * group commit cover them all with one write(2) and one fsync.
 */
export class LineBursts {
  private lines: string[] = [];
  private ended = false;
  private paused = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly input: Interface,
    /** Stop reading stdin while this many lines wait, so a huge pipe does not fill memory. */
    maxWaiting = 10_000,
  ) {
    input.on("line", (line) => {
      this.lines.push(line);
      if (this.lines.length >= maxWaiting && !this.paused) {
        this.paused = true;
        input.pause();
      }
      this.wake?.();
    });
    input.on("close", () => {
      this.ended = true;
      this.wake?.();
    });
  }

  /** The lines that arrived since the last call, waiting for at least one; null once input has ended. */
  async next(): Promise<string[] | null> {
    while (this.lines.length === 0) {
      if (this.ended) return null;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
    const burst = this.lines;
    this.lines = [];
    if (this.paused && !this.ended) {
      this.paused = false;
      this.input.resume();
    }
    return burst;
  }
}
