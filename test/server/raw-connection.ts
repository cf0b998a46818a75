// A bare TCP connection for HTTP exchanges that fetch() cannot stage, such as sending a request's
// headers, waiting for the server's "100 Continue", and only then sending the body.

export interface RawConnection {
  write(data: string | Uint8Array): void;
  /** Resolves with everything received so far once it matches `pattern`; rejects if the connection closes first. */
  waitFor(pattern: RegExp): Promise<string>;
  close(): void;
}

export async function openRawConnection(origin: string): Promise<RawConnection> {
  const { hostname, port } = new URL(origin);
  const decoder = new TextDecoder();
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
        received += decoder.decode(chunk, { stream: true });
        wake();
      },
      close() {
        closed = true;
        wake();
      },
    },
  });
  return {
    write(data) {
      const length = typeof data === "string" ? Buffer.byteLength(data) : data.length;
      // Enough for the few kilobytes the tests send; a bigger write would need a drain handler.
      if (socket.write(data) !== length) throw new Error("the socket took only part of the write");
    },
    async waitFor(pattern) {
      while (!pattern.test(received)) {
        if (closed) throw new Error(`connection closed before ${pattern}; got ${JSON.stringify(received)}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
      return received;
    },
    close() {
      socket.end();
    },
  };
}
