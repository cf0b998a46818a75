// Background work (compaction, snapshots) runs in slices between event-loop turns, so that
// reads and writes wait at most one slice. While the store serves writes, the slices
// are also paced: short, and spaced so that background work takes a bounded share of the thread.

/** The longest a slice of background work may run before it lets other work in. */
export const SLICE_NANOS = 1_000_000;
/**
 * How a thread's background slices give way while foreground work is seen: the longest slice,
 * the share of the time the slices may take, and whether the rest between them is spent
 * yielding turns of the event loop (the main thread, where the foreground work runs in those
 * turns) or sleeping (the compaction Worker, whose writes and fdatasyncs share the CPU and disk
 * with the store's: sleeping leaves both to it).
 */
export interface Pacing {
  pacedSliceNanos: number;
  share: number;
  restBy: "turns" | "sleep";
}

/**
 * On the main thread a request that arrives during a slice waits for it: 200 µs at most. With a
 * fifth of the time here and half for the Worker, a client alternating durable writes and reads
 * kept 62-65% of its idle rate during a 1M-key compaction on a quiet machine (the slices' cache
 * misses and garbage cost it more than their own time); with these shares, 78% or more (README,
 * Benchmarks).
 */
export const MAIN_THREAD_PACING: Pacing = { pacedSliceNanos: 200_000, share: 0.15, restBy: "turns" };
/**
 * The Worker's copy: a third of the time. Here (2 cores, virtio disk, bench/disk-share.ts) a
 * writer of 1 MiB blocks with an fdatasync each, running flat out, cut a durable writer's
 * fdatasyncs a second by half or more (2,739 -> 1,284; 3,427 -> 1,417); resting as long as each
 * block took, by a fifth or nothing (2,164; 3,430); three times as long, by 6% (2,563). During
 * the copy phase of a 1M-key compaction a client kept 61% of its idle rate with half the time,
 * 79% with a third (one probe each).
 */
export const WORKER_PACING: Pacing = { pacedSliceNanos: 1_000_000, share: 0.33, restBy: "sleep" };
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
export function sliceBudget(foregroundAgoNanos: number, pacing: Pacing): number {
  return foregroundAgoNanos > FOREGROUND_MEMORY_NANOS ? SLICE_NANOS : pacing.pacedSliceNanos;
}

/**
 * Paces the slices of one piece of background work. `foregroundCount` is a count that grows
 * with foreground work (the store's flushed write batches); null when nothing should pace the
 * slices (they then only let the event loop in). A long turn of the event loop is no sign of foreground work: the garbage collector's work between turns, which
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

  constructor(
    private readonly foregroundCount: (() => number) | null,
    private readonly pacing: Pacing = MAIN_THREAD_PACING,
  ) {
    this.lastCount = foregroundCount?.() ?? 0;
  }

  /** Whether this slice has used its budget. */
  due(): boolean {
    return Bun.nanoseconds() - this.sliceStart > this.budget;
  }

  /**
   * Ends the slice: yields one turn, and while foreground work is seen, rests until the slice
   * is the pacing's share of the time since it began: by more turns on the main thread (a timer
   * rounds to a millisecond, longer than the rest of a short slice), or asleep. `beforeSlice`
   * runs just before the next slice, outside its time: it is foreground work done for the slice
   * (flushing the open write batch, whose fdatasync took most of a short slice when counted in
   * it). `settle`, while paced, waits for the I/O the slice started (a copy's fdatasyncs) before
   * the rest, and counts as the slice's time: resting while that I/O ran left the disk as busy.
   */
  async yield(
    beforeSlice: () => void = () => {},
    settle: (() => Promise<void>) | null = null,
  ): Promise<void> {
    const sliceEnd = Bun.nanoseconds();
    let workNanos = sliceEnd - this.sliceStart;
    let restFrom = sliceEnd;
    let now = await this.turn();
    if (settle !== null && now - this.foregroundAt <= FOREGROUND_MEMORY_NANOS) {
      const settling = Bun.nanoseconds();
      await settle();
      now = Bun.nanoseconds();
      workNanos += now - settling;
      restFrom = now;
    }
    const restLeft = (at: number) =>
      restAfter(workNanos, at - this.foregroundAt, this.pacing.share) - (at - restFrom);
    if (this.pacing.restBy === "sleep") {
      const left = restLeft(now);
      if (left > 0) {
        await Bun.sleep(left / 1e6);
        now = Bun.nanoseconds();
      }
    } else {
      while (restLeft(now) > 0) now = await this.turn();
    }
    beforeSlice();
    this.budget = sliceBudget(now - this.foregroundAt, this.pacing);
    this.sliceStart = Bun.nanoseconds();
  }

  /** Yields one turn; notes whether foreground work was done meanwhile. Returns the time. */
  private async turn(): Promise<number> {
    await nextTurn();
    const now = Bun.nanoseconds();
    if (this.foregroundCount !== null) {
      const count = this.foregroundCount();
      if (count !== this.lastCount) this.foregroundAt = now;
      this.lastCount = count;
    }
    return now;
  }
}
