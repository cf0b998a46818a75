// What the clients of a server were told, and so what it must hold: for every key, the value of
// its last acknowledged write (none once deleted, or if no write of it was acknowledged). Each
// key belongs to one client, which waits for each answer before it sends the next request, so a
// key's writes have a known order. Values are `versionedValue`s, so a wrong one names its write.
import { versionOf } from "../fixtures/values.ts";

export interface WriteOutcome {
  method: "PUT" | "DELETE";
  key: string;
  /** The HTTP status; 0 when no answer came. */
  status: number;
  /** Ticks of one clock shared by all clients: when the request was sent, and when answered. */
  sentAt: number;
  answeredAt: number;
}

export const isAcknowledged = (write: WriteOutcome) => write.status >= 200 && write.status < 300;
/** Refused: neither done nor a 404 (a DELETE of a key that was not there). */
export const isRefused = (write: WriteOutcome) => !isAcknowledged(write) && write.status !== 404;

export class WriteLedger {
  readonly writes: WriteOutcome[] = [];
  /** Answers that broke the rules while the load ran: wrong reads, no answer at all. */
  readonly problems: string[] = [];
  private clock = 0;
  private readonly acknowledged = new Map<string, Uint8Array | null>();
  /** The refused write each version came from, to name it when it turns up. */
  private readonly refused = new Map<number, string>();

  /** The next tick of the shared clock. */
  tick(): number {
    return ++this.clock;
  }

  /** Every key written, acknowledged or not. */
  get keys(): string[] {
    return [...this.acknowledged.keys()];
  }

  /** The value `key` must hold: its last acknowledged write's, or null. */
  expected(key: string): Uint8Array | null {
    return this.acknowledged.get(key) ?? null;
  }

  recordPut(key: string, value: Uint8Array, status: number, sentAt: number): void {
    const write = this.record("PUT", key, status, sentAt);
    if (isAcknowledged(write)) {
      this.acknowledged.set(key, value);
    } else {
      if (!this.acknowledged.has(key)) this.acknowledged.set(key, null);
      this.refused.set(versionOf(value), `PUT ${key} answered ${status}`);
    }
  }

  recordDelete(key: string, status: number, sentAt: number): void {
    const write = this.record("DELETE", key, status, sentAt);
    if (isAcknowledged(write)) this.acknowledged.set(key, null);
    if (status === 404 && this.expected(key) !== null) {
      this.problems.push(`DELETE ${key} answered 404, but it holds ${this.describe(this.expected(key))}`);
    }
  }

  /** Why a read of `key` that answered `status` with `body` is wrong, or null if it is right. */
  checkRead(key: string, status: number, body: Uint8Array): string | null {
    const expected = this.expected(key);
    if (expected === null) {
      return status === 404
        ? null
        : `GET ${key} answered ${status} with ${this.describe(body)}; expected 404`;
    }
    if (status !== 200) return `GET ${key} answered ${status}; expected ${this.describe(expected)}`;
    if (Buffer.from(body).equals(expected)) return null;
    return `GET ${key} returned ${this.describe(body)}; expected ${this.describe(expected)}`;
  }

  /** Names a value: the version of the write it came from, and whether that write was refused. */
  describe(value: Uint8Array | null): string {
    if (value === null) return "nothing";
    const version = versionOf(value);
    if (version === -1) return `${value.length} bytes that no write sent`;
    const refused = this.refused.get(version);
    return refused === undefined ? `version ${version}` : `version ${version}, from the refused ${refused}`;
  }

  private record(method: WriteOutcome["method"], key: string, status: number, sentAt: number): WriteOutcome {
    const write = { method, key, status, sentAt, answeredAt: this.tick() };
    this.writes.push(write);
    return write;
  }
}
