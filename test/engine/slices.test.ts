import { describe, expect, it } from "bun:test";
import {
  FOREGROUND_MEMORY_NANOS,
  MAIN_THREAD_PACING,
  restAfter,
  SLICE_NANOS,
  SlicePacer,
  sliceBudget,
  WORKER_PACING,
} from "../../src/engine/slices.ts";

describe("pacing background slices beside foreground work", () => {
  it("rests so that background work keeps its share while foreground work was seen lately", () => {
    // A slice of 200 µs with a fifth of the time rests 800 µs; with half, as long as it ran.
    expect(restAfter(200_000, 0, 0.2)).toBeCloseTo(800_000);
    expect(restAfter(1_000_000, FOREGROUND_MEMORY_NANOS, 0.5)).toBeCloseTo(1_000_000);
    const slice = 300_000;
    for (const { share } of [MAIN_THREAD_PACING, WORKER_PACING]) {
      const rest = restAfter(slice, 5_000_000, share);
      expect(slice / (slice + rest)).toBeCloseTo(share);
    }
  });

  it("does not rest once foreground work is older than the memory, nor when none was ever seen", () => {
    expect(restAfter(200_000, FOREGROUND_MEMORY_NANOS + 1, 0.2)).toBe(0);
    expect(restAfter(200_000, Number.POSITIVE_INFINITY, 0.2)).toBe(0);
  });

  it("shortens slices while foreground work was seen lately, and gives full slices otherwise", () => {
    const paced = MAIN_THREAD_PACING.pacedSliceNanos;
    expect(paced).toBeLessThan(SLICE_NANOS);
    expect(sliceBudget(0, MAIN_THREAD_PACING)).toBe(paced);
    expect(sliceBudget(FOREGROUND_MEMORY_NANOS, MAIN_THREAD_PACING)).toBe(paced);
    expect(sliceBudget(FOREGROUND_MEMORY_NANOS + 1, MAIN_THREAD_PACING)).toBe(SLICE_NANOS);
    expect(sliceBudget(Number.POSITIVE_INFINITY, MAIN_THREAD_PACING)).toBe(SLICE_NANOS);
  });

  for (const pacing of [MAIN_THREAD_PACING, WORKER_PACING]) {
    it(`ends its rest (${pacing.restBy}) while foreground work goes on at every turn, and runs the step before the slice`, async () => {
      let count = 0;
      let stop = false;
      // Foreground work on every turn, for as long as the pacer is used.
      const foreground = () => {
        count++;
        if (!stop) setImmediate(foreground);
      };
      foreground();
      const pacer = new SlicePacer(() => count, pacing);
      const order: string[] = [];
      for (let slice = 0; slice < 5; slice++) {
        await pacer.yield(() => order.push(`before ${slice}`));
        order.push(`slice ${slice}`);
      }
      stop = true;
      expect(order).toEqual([0, 1, 2, 3, 4].flatMap((slice) => [`before ${slice}`, `slice ${slice}`]));
    });
  }
});

describe("a paced slice's I/O", () => {
  it("is waited for before the rest while foreground work is seen, and not otherwise", async () => {
    for (const foreground of [true, false]) {
      let count = 0;
      const pacer = new SlicePacer(() => count, WORKER_PACING);
      const steps: string[] = [];
      if (foreground) count++;
      await pacer.yield(
        () => steps.push("slice"),
        async () => {
          await Bun.sleep(1);
          steps.push("settled");
        },
      );
      expect(steps).toEqual(foreground ? ["settled", "slice"] : ["slice"]);
    }
  });
});
