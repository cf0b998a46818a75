// A bare TCP connection for HTTP exchanges that fetch() cannot stage, such as sending a request's
// headers, waiting for the server's "100 Continue", and only then sending the body.

export interface RawConnection {
  write(data: string | Uint8Array): void;
  /** Resolves with everything received so far once it matches `pattern`; rejects if the connection closes first. */
  waitFor(pattern: RegExp): Promise<string>;
  /** The same, once `done` says so of what was received. */
  waitUntil(done: (received: string) => boolean, what?: string): Promise<string>;
  close(): void;
}

export async function openRawConnection(origin: string): Promise<RawConnection> {
  const { hostname, port } = new URL(origin);
  let received = "";
  let closed = false;
  const waiters: (() => void)[] = [];
  const wake = () => {
    for (const waiter of waiters.splice(0)) waiter();
  };
  const socket = await Bun.connect({
    hostname,
    port: Number(port),
    socket: {
      data(_socket, chunk) {
        // One character per byte (latin1), so that string lengths are byte counts (Content-Length).
        received += Buffer.from(chunk).toString("latin1");
        wake();
      },
      close() {
        closed = true;
        wake();
      },
    },
  });
  const connection: RawConnection = {
    write(data) {
      const length = typeof data === "string" ? Buffer.byteLength(data) : data.length;
      // Enough for the few kilobytes the tests send; a bigger write would need a drain handler.
      if (socket.write(data) !== length) throw new Error("the socket took only part of the write");
    },
    waitFor(pattern) {
      return connection.waitUntil((text) => pattern.test(text), String(pattern));
    },
    async waitUntil(done, what = "the expected data") {
      while (!done(received)) {
        if (closed) throw new Error(`connection closed before ${what}; got ${JSON.stringify(received)}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
      return received;
    },
    close() {
      socket.end();
    },
  };
  return connection;
}
