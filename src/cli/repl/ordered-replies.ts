/**
 * Prints replies in the order their commands were read, whatever order their promises settle in.
 * This is what lets the REPL start a write before the previous one is durable (so the engine's
 * group commit covers many with one fsync) while its output stays a diffable transcript.
 */
export class OrderedReplies {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(
    private readonly print: (reply: string) => void,
    /** Bounds memory when commands arrive much faster than their writes become durable. */
    private readonly maxPending = 10_000,
  ) {}

  /** `reply` must not reject: commands turn their failures into "Error: ..." replies. */
  add(reply: Promise<string | undefined>): void {
    this.pending++;
    this.tail = this.tail.then(async () => {
      const text = await reply;
      this.pending--;
      if (text !== undefined) this.print(text);
    });
  }

  get isFull(): boolean {
    return this.pending >= this.maxPending;
  }

  /** Resolves when every reply added so far has been printed. */
  drain(): Promise<void> {
    return this.tail;
  }
}
