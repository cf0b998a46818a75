// Background work (compaction, snapshots) runs in slices between event-loop turns, so that
// reads and writes wait at most one slice. While the store serves writes, the slices
// are also paced: short, and spaced so that background work takes a bounded share of the thread.

/** The longest a slice of background work may run before it lets other work in. */
export const SLICE_NANOS = 1_000_000;
/** The slice while foreground work is seen: a request that arrives meanwhile waits this long. */
export const PACED_SLICE_NANOS = 200_000;
/** The share of the main thread that background slices may take while foreground work is seen. */
export const BACKGROUND_SHARE = 0.2;
/** After the last foreground work seen, how long background work stays paced. */
export const FOREGROUND_MEMORY_NANOS = 20_000_000;

/** Resolves on a later turn of the event loop (a macrotask), after all pending microtasks. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * How long work that took `workNanos` should rest so that it has `share` of the time, when
 * foreground work was last seen `foregroundAgoNanos` ago: none once that is longer ago than
 * FOREGROUND_MEMORY_NANOS, so that background work alone runs at full speed.
 */
export function restAfter(workNanos: number, foregroundAgoNanos: number, share: number): number {
  if (foregroundAgoNanos > FOREGROUND_MEMORY_NANOS) return 0;
  return (workNanos * (1 - share)) / share;
}

/** The budget of a slice when foreground work was last seen `foregroundAgoNanos` ago. */
export function sliceBudget(foregroundAgoNanos: number): number {
  return foregroundAgoNanos > FOREGROUND_MEMORY_NANOS ? SLICE_NANOS : PACED_SLICE_NANOS;
}

/**
 * Paces the slices of one piece of background work. `foregroundCount` is a count that grows
 * with foreground work (the store's flushed write batches); null for a thread that serves no
 * foreground work (the compaction Worker), where slices are never paced. A long turn of the
 * event loop is no sign of foreground work: the garbage collector's work between turns, which
 * the slices' own allocations cause, made idle turns of 50 µs to 2 ms, and paced a compaction
 * without any foreground work to a fifth of its speed. So reads alone do not pace the slices;
 * they wait at most one SLICE_NANOS slice.
 *
 *   while (...) { ...; if (pacer.due()) await pacer.yield(); }
 */
export class SlicePacer {
  private sliceStart = Bun.nanoseconds();
  private budget = SLICE_NANOS;
  private lastCount: number;
  private foregroundAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly foregroundCount: (() => number) | null) {
    this.lastCount = foregroundCount?.() ?? 0;
  }

  /** Whether this slice has used its budget. */
  due(): boolean {
    return Bun.nanoseconds() - this.sliceStart > this.budget;
  }

  /**
   * Ends the slice: yields one turn, and while foreground work is seen, more turns until the
   * slice is BACKGROUND_SHARE of the time since it began (turns rather than a timer: a timer
   * rounds to a millisecond, longer than the rest of a short slice). `beforeSlice` runs just
   * before the next slice, outside its time: it is foreground work done for the slice (flushing
   * the open write batch, whose fdatasync took most of a short slice when counted in it).
   */
  async yield(beforeSlice: () => void = () => {}): Promise<void> {
    const sliceEnd = Bun.nanoseconds();
    const rest = (now: number) =>
      restAfter(sliceEnd - this.sliceStart, now - this.foregroundAt, BACKGROUND_SHARE);
    let now: number;
    do {
      await nextTurn();
      now = Bun.nanoseconds();
      if (this.foregroundCount === null) break;
      const count = this.foregroundCount();
      if (count !== this.lastCount) this.foregroundAt = now;
      this.lastCount = count;
    } while (now - sliceEnd < rest(now));
    beforeSlice();
    this.budget = sliceBudget(now - this.foregroundAt);
    this.sliceStart = Bun.nanoseconds();
  }
}
