import type { KeyArena } from "./key-arena.ts";
import { compareBytes } from "./key-bytes.ts";

const SMALL_RANGE = 12;

/**
 * Sorts `ids[from, to)` in place by unsigned byte order of their keys, with a multikey
 * quicksort (Bentley and Sedgewick, "Fast algorithms for sorting and searching strings"): each
 * step partitions by one byte at a depth, so keys that share a long prefix (user:0001...) cost
 * one pass per shared byte instead of a full comparison per pair. A comparator sort of one
 * million 16-byte keys took about a second here; this takes a fraction of that and allocates
 * nothing but its stack of pending ranges.
 */
export function sortByKey(arena: KeyArena, ids: Uint32Array, from: number, to: number): void {
  const { bytes, starts } = arena;
  // The byte of `id`'s key at `depth`, or -1 past its end (a shorter key sorts first).
  const byteAt = (id: number, depth: number): number => {
    const at = (starts[id] as number) + depth;
    return at < (starts[id + 1] as number) ? (bytes[at] as number) : -1;
  };
  const pending: number[] = [from, to, 0];
  while (pending.length > 0) {
    const depth = pending.pop() as number;
    const high = pending.pop() as number;
    const low = pending.pop() as number;
    if (high - low <= SMALL_RANGE) {
      insertionSort(arena, ids, low, high, depth);
      continue;
    }
    // Median of three bytes as the pivot.
    const a = byteAt(ids[low] as number, depth);
    const b = byteAt(ids[(low + high) >>> 1] as number, depth);
    const c = byteAt(ids[high - 1] as number, depth);
    const pivot = Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
    // Dijkstra's three-way partition: [low, lt) < pivot, [lt, i) = pivot, [gt, high) > pivot.
    let lt = low;
    let gt = high;
    let i = low;
    while (i < gt) {
      // byteAt, inlined: this loop is where the sort spends its time.
      const id = ids[i] as number;
      const at = (starts[id] as number) + depth;
      const byte = at < (starts[id + 1] as number) ? (bytes[at] as number) : -1;
      if (byte < pivot) {
        const swap = ids[lt] as number;
        ids[lt++] = id;
        ids[i++] = swap;
      } else if (byte > pivot) {
        const swap = ids[--gt] as number;
        ids[gt] = id;
        ids[i] = swap;
      } else i++;
    }
    if (lt - low > 1) pending.push(low, lt, depth);
    // Keys equal so far and not ended: go on with the next byte.
    if (pivot !== -1 && gt - lt > 1) pending.push(lt, gt, depth + 1);
    if (high - gt > 1) pending.push(gt, high, depth);
  }
}

/** Insertion sort of a short range whose keys share their first `depth` bytes. */
function insertionSort(arena: KeyArena, ids: Uint32Array, from: number, to: number, depth: number): void {
  const { bytes, starts } = arena;
  for (let i = from + 1; i < to; i++) {
    const id = ids[i] as number;
    let j = i - 1;
    while (
      j >= from &&
      compareBytes(
        bytes,
        (starts[ids[j] as number] as number) + depth,
        starts[(ids[j] as number) + 1] as number,
        bytes,
        (starts[id] as number) + depth,
        starts[id + 1] as number,
      ) > 0
    ) {
      ids[j + 1] = ids[j] as number;
      j--;
    }
    ids[j + 1] = id;
  }
}
