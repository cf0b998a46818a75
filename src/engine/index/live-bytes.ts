/**
 * Bytes of the records each segment holds that the index still points to; compaction picks
 * segments by it. A segment with none has no entry.
 */
export class LiveBytes {
  constructor(readonly bySegment = new Map<number, number>()) {}

  add(segmentId: number, bytes: number): void {
    const total = (this.bySegment.get(segmentId) ?? 0) + bytes;
    if (total === 0) this.bySegment.delete(segmentId);
    else this.bySegment.set(segmentId, total);
  }

  of(segmentId: number): number {
    return this.bySegment.get(segmentId) ?? 0;
  }

  get total(): number {
    let total = 0;
    for (const bytes of this.bySegment.values()) total += bytes;
    return total;
  }
}
