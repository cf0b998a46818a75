/**
 * Walks over the index that must not interleave (a snapshot's capture, compaction's relocation),
 * run one after the other in the order asked for.
 */
export class IndexWalks {
  private last: Promise<void> = Promise.resolve();

  /** Runs `walk` after any other walk over the index ends. */
  exclusive<T>(walk: () => Promise<T>): Promise<T> {
    const run = this.last.then(walk);
    this.last = run.then(
      () => {},
      () => {},
    );
    return run;
  }
}
