// Background work (compaction, snapshots) runs in slices between event-loop turns, so that
// reads and writes wait at most one slice.

/** The longest a slice of background work may run before it lets other work in. */
export const SLICE_NANOS = 1_000_000;

/** Resolves on a later turn of the event loop (a macrotask), after all pending microtasks. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
