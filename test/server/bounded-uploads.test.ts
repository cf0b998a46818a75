// The upload budget and the idle-body timeout as a client sees them, over raw connections that
// send a request's headers and part of its body, then stall.
import { describe, expect, it } from "bun:test";
import { WHOLE_BODY_BYTES } from "../../src/server/http/request-body.ts";
import { openRawConnection, type RawConnection } from "./raw-connection.ts";
import { readResponses } from "./raw-http.ts";
import { startTestServer } from "./served-app.ts";

const BUDGET = 1000;

/** Headers announcing `length` bytes, then only the first few: the body stalls. */
async function stalledUpload(origin: string, key: string, length: number): Promise<RawConnection> {
  const connection = await openRawConnection(origin);
  connection.write(`PUT /blobs/${key} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${length}\r\n\r\nabc`);
  return connection;
}

/** Retries the PUT until the budget lets it in: the server notices a closed connection in its own time. */
async function putWhenBudgetAllows(origin: string, key: string, body: Uint8Array): Promise<number> {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await Bun.sleep(50)) {
    const response = await fetch(`${origin}/blobs/${key}`, { method: "PUT", body });
    if (response.status !== 503) return response.status;
  }
  return 503;
}

describe("the upload budget", () => {
  it("answers 503 with Retry-After, before reading, to a declared body past it; and frees it on abort", async () => {
    const { origin, store } = await startTestServer({ bodyLimits: { uploadBudgetBytes: BUDGET } });
    const holder = await stalledUpload(origin, "holder", 600);
    // The holder's reservation is taken once its handler runs: wait until a second one is refused.
    let refused: Response | undefined;
    for (const deadline = Date.now() + 20_000; refused === undefined && Date.now() < deadline; ) {
      const response = await fetch(`${origin}/blobs/second`, { method: "PUT", body: new Uint8Array(600) });
      if (response.status === 503) refused = response;
      else await Bun.sleep(50);
    }
    expect(refused?.headers.get("retry-after")).toBe("1");
    expect(refused?.headers.get("content-type")).toStartWith("application/json");
    expect(await refused?.text()).toContain("UPLOAD_BUDGET_MB");
    expect(await store.has("second")).toBe(false);

    holder.close();
    expect(await putWhenBudgetAllows(origin, "whole", new Uint8Array(BUDGET))).toBe(201);
    expect(await store.has("holder")).toBe(false);
  });

  it("answers 503 to a chunked body once it pushes the uploads past it", async () => {
    const { origin, store } = await startTestServer({ bodyLimits: { uploadBudgetBytes: BUDGET } });
    const holder = await stalledUpload(origin, "holder", 600);
    const chunked = await openRawConnection(origin);
    const chunk = "x".repeat(300);
    chunked.write("PUT /blobs/chunked HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
    let answer: { status: number; body: string } | undefined;
    // Sends chunks until the server answers; a holder not yet counted only delays the refusal.
    for (let sent = 0; answer === undefined && sent < 100; sent++) {
      chunked.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      answer =
        (await Promise.race([readResponses(chunked, 1).then(([first]) => first), Bun.sleep(100)])) ??
        undefined;
    }
    chunked.close();
    holder.close();
    expect(answer?.status).toBe(503);
    expect(answer?.body).toContain("UPLOAD_BUDGET_MB");
    expect(await store.has("chunked")).toBe(false);
  });

  it('holds after a body whose Content-Length is sent twice (Bun joins them: "3, 3"), read as that length', async () => {
    const { origin, store } = await startTestServer({ bodyLimits: { uploadBudgetBytes: BUDGET } });
    const twice = await openRawConnection(origin);
    twice.write(
      "PUT /blobs/twice HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    );
    const [stored] = await readResponses(twice, 1);
    twice.close();
    expect(stored?.status).toBe(201);
    expect(new TextDecoder().decode(store.get("twice") ?? undefined)).toBe("abc");
    // Read as NaN, the length was taken from and given back to the budget as NaN: it then let
    // any body through.
    const past = await fetch(`${origin}/blobs/past`, { method: "PUT", body: new Uint8Array(BUDGET + 1) });
    expect(past.status).toBe(503);
    expect(store.has("past")).toBe(false);
  });
});

describe("an idle request body", () => {
  // A body declared up to WHOLE_BODY_BYTES is read in one step, a longer one as a stream: both
  // must end in a 408.
  for (const [shape, declared] of [
    ["a short declared body", 600],
    ["a declared body read as a stream", WHOLE_BODY_BYTES + 1],
  ] as const) {
    it(`is abandoned with a JSON 408 and its connection closed once no byte arrives for bodyIdleMs; nothing is stored (${shape})`, async () => {
      const budget = Math.max(BUDGET, declared);
      const { origin, store } = await startTestServer({
        bodyLimits: { uploadBudgetBytes: budget, maxBodyBytes: budget, bodyIdleMs: 1000 },
      });
      const connection = await stalledUpload(origin, "slow", declared);
      const [answer] = await readResponses(connection, 1);
      // The server closes the connection after its answer.
      await expect(connection.waitUntil(() => false, "the connection to close")).rejects.toThrow(
        "connection closed",
      );
      expect(answer?.status).toBe(408);
      expect(answer?.headers.connection).toBe("close");
      expect(JSON.parse(answer?.body ?? "{}").error).toContain("BODY_IDLE_SECONDS");
      expect(await store.has("slow")).toBe(false);
      // Its reservation was given back: the whole budget is free again.
      expect(await putWhenBudgetAllows(origin, "whole", new Uint8Array(budget))).toBe(201);
    });
  }
});
