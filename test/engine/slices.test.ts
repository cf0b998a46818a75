import { describe, expect, it } from "bun:test";
import {
  BACKGROUND_SHARE,
  FOREGROUND_MEMORY_NANOS,
  PACED_SLICE_NANOS,
  restAfter,
  SLICE_NANOS,
  SlicePacer,
  sliceBudget,
} from "../../src/engine/slices.ts";

describe("pacing background slices beside foreground work", () => {
  it("rests so that background work keeps its share while foreground work was seen lately", () => {
    // A slice of 200 µs with a fifth of the time rests 800 µs; with half, as long as it ran.
    expect(restAfter(200_000, 0, 0.2)).toBeCloseTo(800_000);
    expect(restAfter(1_000_000, FOREGROUND_MEMORY_NANOS, 0.5)).toBeCloseTo(1_000_000);
    const slice = 300_000;
    const rest = restAfter(slice, 5_000_000, BACKGROUND_SHARE);
    expect(slice / (slice + rest)).toBeCloseTo(BACKGROUND_SHARE);
  });

  it("does not rest once foreground work is older than the memory, nor when none was ever seen", () => {
    expect(restAfter(200_000, FOREGROUND_MEMORY_NANOS + 1, 0.2)).toBe(0);
    expect(restAfter(200_000, Number.POSITIVE_INFINITY, 0.2)).toBe(0);
  });

  it("shortens slices while foreground work was seen lately, and gives full slices otherwise", () => {
    expect(sliceBudget(0)).toBe(PACED_SLICE_NANOS);
    expect(sliceBudget(FOREGROUND_MEMORY_NANOS)).toBe(PACED_SLICE_NANOS);
    expect(sliceBudget(FOREGROUND_MEMORY_NANOS + 1)).toBe(SLICE_NANOS);
    expect(sliceBudget(Number.POSITIVE_INFINITY)).toBe(SLICE_NANOS);
    expect(PACED_SLICE_NANOS).toBeLessThan(SLICE_NANOS);
  });

  it("ends its rest while foreground work goes on at every turn, and runs the step before the slice", async () => {
    let count = 0;
    let stop = false;
    // Foreground work on every turn, for as long as the pacer is used.
    const foreground = () => {
      count++;
      if (!stop) setImmediate(foreground);
    };
    foreground();
    const pacer = new SlicePacer(() => count);
    const order: string[] = [];
    for (let slice = 0; slice < 5; slice++) {
      await pacer.yield(() => order.push(`before ${slice}`));
      order.push(`slice ${slice}`);
    }
    stop = true;
    expect(order).toEqual([0, 1, 2, 3, 4].flatMap((slice) => [`before ${slice}`, `slice ${slice}`]));
  });
});
