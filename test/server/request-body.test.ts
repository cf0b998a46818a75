// pipeRequestBody on its own: the body reaches the sink chunk by chunk, and every way a body
// ends gives its bytes back to the upload budget.
import { describe, expect, it } from "bun:test";
import { HttpError } from "../../src/server/http/http-error.ts";
import { type BodyLimits, pipeRequestBody } from "../../src/server/http/request-body.ts";
import { UploadBudget, UploadBudgetExhausted } from "../../src/server/http/upload-budget.ts";

function limits(budgetBytes: number, maxBytes = 1000, idleMs = 60_000): BodyLimits {
  return { maxBytes, budget: new UploadBudget(budgetBytes), idleMs };
}

/** A chunked request (no Content-Length) whose body is `chunks`, then `end` (close, error or stall). */
function chunkedRequest(chunks: Uint8Array[], end: "close" | "error" | "stall" = "close"): Request {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      if (end === "close") controller.close();
      if (end === "error") controller.error(new Error("connection reset"));
    },
  });
  return new Request("http://localhost/blobs/k", { method: "PUT", body });
}

async function refusal(promise: Promise<unknown>): Promise<HttpError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(HttpError);
    return error as HttpError;
  }
  throw new Error("expected the body to be refused");
}

function declaredRequest(body: Uint8Array): Request {
  const headers = { "content-length": String(body.length) };
  return new Request("http://localhost/blobs/k", { method: "PUT", body, headers });
}

const bytes = (length: number, fill = 7) => new Uint8Array(length).fill(fill);

/** A sink that keeps the chunks it is given. */
function collector() {
  const chunks: Uint8Array[] = [];
  return {
    chunks,
    append: (chunk: Uint8Array) => void chunks.push(chunk.slice()),
    joined: () => Buffer.concat(chunks),
  };
}

/** The body of `request`, through a sink that keeps it. */
async function readRequestBody(request: Request, given: BodyLimits): Promise<Uint8Array> {
  const sink = collector();
  const length = await pipeRequestBody(request, given, sink);
  expect(length).toBe(sink.joined().length);
  return new Uint8Array(sink.joined());
}

describe("pipeRequestBody", () => {
  it("passes a declared body to the sink and gives its budget back", async () => {
    const given = limits(100);
    const request = declaredRequest(bytes(100));
    const body = await readRequestBody(request, given);
    expect(body).toEqual(bytes(100));
    expect(given.budget.bytesInFlight).toBe(0);
  });

  it("passes a chunked body to the sink chunk by chunk, as it arrives, and gives its bytes back", async () => {
    const given = limits(1000, 1000);
    const sink = collector();
    const request = chunkedRequest([bytes(300, 1), bytes(300, 2), bytes(1, 3)]);
    expect(await pipeRequestBody(request, given, sink)).toBe(601);
    expect(sink.chunks).toEqual([bytes(300, 1), bytes(300, 2), bytes(1, 3)]);
    expect(given.budget.bytesInFlight).toBe(0);
  });

  it("refuses a body that ends short of its Content-Length (400)", async () => {
    const given = limits(1000);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes(5));
        controller.close();
      },
    });
    const request = new Request("http://localhost/blobs/k", {
      method: "PUT",
      body,
      headers: { "content-length": "10" },
    });
    const error = await refusal(pipeRequestBody(request, given, collector()));
    expect(error.status).toBe(400);
    expect(error.message).toContain("Content-Length");
    expect(given.budget.bytesInFlight).toBe(0);
  });

  it("cancels the body and gives its bytes back when the sink refuses a chunk", async () => {
    const given = limits(10_000);
    const refusing = {
      append: () => {
        throw new Error("disk full");
      },
    };
    await expect(pipeRequestBody(chunkedRequest([bytes(10)], "stall"), given, refusing)).rejects.toThrow(
      "disk full",
    );
    expect(given.budget.bytesInFlight).toBe(0);
  });

  it("refuses a declared body past the budget before reading it (503)", async () => {
    const given = limits(50);
    const request = declaredRequest(bytes(100));
    const error = await refusal(readRequestBody(request, given));
    expect(error).toBeInstanceOf(UploadBudgetExhausted);
    expect(error.status).toBe(503);
    expect(request.bodyUsed).toBe(false);
    expect(given.budget.bytesInFlight).toBe(0);
  });

  it("refuses a chunked body once it takes the uploads past the budget (503)", async () => {
    const given = limits(500);
    given.budget.take(300);
    const error = await refusal(readRequestBody(chunkedRequest([bytes(150), bytes(150)]), given));
    expect(error.status).toBe(503);
    expect(given.budget.bytesInFlight).toBe(300);
  });

  it("gives the bytes back when a chunked body passes the size limit (413)", async () => {
    const given = limits(10_000, 200);
    const error = await refusal(readRequestBody(chunkedRequest([bytes(150), bytes(150)]), given));
    expect(error.status).toBe(413);
    expect(given.budget.bytesInFlight).toBe(0);
  });

  it("gives the bytes back when the body fails midway (a client gone)", async () => {
    const given = limits(10_000);
    await expect(readRequestBody(chunkedRequest([bytes(150)], "error"), given)).rejects.toThrow(
      "connection reset",
    );
    expect(given.budget.bytesInFlight).toBe(0);
  });

  it("abandons a short declared body not whole within idleMs (408) without saying that no byte came", async () => {
    const given = limits(10_000, 1000, 50);
    // Bytes may have been arriving all along: a body this short is read in one step, unseen.
    const body = new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(bytes(1)) });
    const headers = { "content-length": "6" };
    const request = new Request("http://localhost/blobs/k", { method: "PUT", body, headers });
    const error = await refusal(readRequestBody(request, given));
    expect(error.status).toBe(408);
    expect(error.message).toContain("did not arrive within 0.05 s (BODY_IDLE_SECONDS)");
    expect(given.budget.bytesInFlight).toBe(0);
  });

  it("abandons a body from which nothing arrives for idleMs (408), and gives its bytes back", async () => {
    const given = limits(10_000, 1000, 50);
    const error = await refusal(readRequestBody(chunkedRequest([bytes(10)], "stall"), given));
    expect(error.status).toBe(408);
    expect(given.budget.bytesInFlight).toBe(0);
  });
});
