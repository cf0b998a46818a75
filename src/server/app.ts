import { Elysia } from "elysia";
import { type Logger, silentLogger } from "../index.ts";
import type { BlobStorage } from "../volume/blob-storage.ts";
import { apiDocs } from "./docs/api-docs.ts";
import { methodRefuser } from "./http/allowed-methods.ts";
import { pathOf } from "./http/blob-key.ts";
import { answerFor, clientClosedRequest } from "./http/http-error.ts";
import { type BodyLimits, DEFAULT_BODY_IDLE_MS, DEFAULT_MAX_BODY_BYTES } from "./http/request-body.ts";
import { refuseRewrittenTarget, withRoutableUrl } from "./http/request-target.ts";
import { DEFAULT_UPLOADS_IN_BUDGET, UploadBudget, UploadBudgetExhausted } from "./http/upload-budget.ts";
import { describeError } from "./logger.ts";
import { ServerMetrics } from "./metrics/server-metrics.ts";
import { adminRoutes } from "./routes/admin.ts";
import { blobHeadAnswer, blobRoutes } from "./routes/blobs.ts";
import { dashboardRoutes } from "./routes/dashboard.ts";
import { healthRoutes } from "./routes/health.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { guardRequest, loopbackPolicy, type SecurityPolicy } from "./security/guard.ts";

export interface AppOptions {
  /** Largest request body in bytes; larger ones get a JSON 413 and nothing is stored. Default 100 MiB. */
  maxBodyBytes?: number;
  /** Bytes that all uploads in flight may hold at once; past it, 503. Default 4 × maxBodyBytes. */
  uploadBudgetBytes?: number;
  /** A request body from which no byte arrives for this long gets 408. Default 30 s. */
  bodyIdleMs?: number;
  /** Default: silent. Unexpected errors are logged at error level. */
  logger?: Logger;
  /** Log one debug line per request. Default false. */
  logRequests?: boolean;
  /** Milliseconds clock for uptime; tests pass their own. */
  now?: () => number;
  /** Tokens, Host, Origin and CORS rules. Default: a loopback server with no token (open). */
  security?: SecurityPolicy;
}

/**
 * The HTTP API of one volume, as an Elysia app: serve it with `startServer`, or call
 * `app.handle(new Request(...))` in tests.
 */
export function createApp(storage: BlobStorage, options: AppOptions = {}) {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const bodyLimits: BodyLimits = {
    maxBytes: maxBodyBytes,
    budget: new UploadBudget(options.uploadBudgetBytes ?? DEFAULT_UPLOADS_IN_BUDGET * maxBodyBytes),
    idleMs: options.bodyIdleMs ?? DEFAULT_BODY_IDLE_MS,
  };
  const logger = options.logger ?? silentLogger;
  const logRequests = options.logRequests ?? false;
  const now = options.now ?? Date.now;
  const security = options.security ?? loopbackPolicy;
  const startedAt = now();
  const uptimeSeconds = () => (now() - startedAt) / 1000;
  const metrics = new ServerMetrics(storage, uptimeSeconds);
  const receivedAt = new WeakMap<Request, number>();

  /** Counts and times one answered request; its log line is built only when it is wanted. */
  const record = (request: Request, route: string | undefined, status: number) => {
    const seconds = (performance.now() - (receivedAt.get(request) ?? performance.now())) / 1000;
    // Keys with a `/` take the hidden wildcard route; count them with the others.
    const routeLabel = route === undefined ? "unmatched" : route === "/blobs/*" ? "/blobs/:key" : route;
    metrics.answered(request.method, routeLabel, status, seconds);
    if (logRequests)
      logger.debug(`${request.method} ${request.url} ${status} ${(seconds * 1000).toFixed(2)}ms`);
  };

  const refuseMethod = methodRefuser(() => app.routes);
  const isFromSocket = (request: Request) => app.server?.requestIP(request) != null;

  /**
   * Everything that runs before routing, in one request hook: access checks (before any body
   * is read), a URL Elysia can route, the rewritten-target check and HEAD of a blob. Elysia
   * takes a hook for async, and then awaits it on every request (a microtask per request), when
   * its source has the word async or await, or `return f(` or `=> f(`: this one must not.
   */
  function beforeRouting({
    request,
    set,
  }: {
    request: Request;
    set: { headers: Record<string, string | number> };
  }) {
    receivedAt.set(request, performance.now());
    // One return, of a variable: Bun's transpiler turns `const x = f(); return x;` into `return f()`.
    let early: Response | Promise<Response> | undefined = guardRequest(request, security, set.headers);
    if (early !== undefined) {
      // Answered before routing, so no route hook records it; refusals are worth counting.
      record(request, early.status === 204 ? "preflight" : "refused", early.status);
    } else {
      // On the request Bun received: the copy made for routing has neither its socket nor the
      // raw key Bun's router found, and would pass whatever target Bun rewrote.
      refuseRewrittenTarget(request, isFromSocket);
      const routable = withRoutableUrl(request);
      // Handled again under a URL that Elysia routes right; that request is the one recorded.
      if (routable !== null) early = app.handle(routable);
      else if (request.method === "HEAD" && pathOf(request.url).startsWith("/blobs/")) {
        // Elysia would answer HEAD of a key with a `/` with the GET handler, reading the whole
        // blob to count its bytes: HEAD of a blob is answered here, before routing.
        early = blobHeadAnswer(storage, request);
        record(request, "/blobs/:key", early.status);
      }
    }
    return early;
  }

  // Requests are recorded when their handler returns (onAfterHandle) or throws (onError), not in
  // onAfterResponse, which Elysia runs through a setImmediate per request: too dear on the hot path.
  const app = new Elysia({ name: "kvstore" })
    .onRequest(beforeRouting)
    .onAfterHandle(({ request, route, set, responseValue }) => {
      record(request, route, responseValue instanceof Response ? responseValue.status : Number(set.status));
    })
    .onError(({ code, error, request, route, set }) => {
      const refusal = code === "NOT_FOUND" ? refuseMethod(request.method, pathOf(request.url)) : null;
      if (refusal?.allow !== undefined) set.headers.allow = refusal.allow;
      // A client gone mid-request (a body cut short) is neither a server error nor worth a log line.
      const answer = answerFor(
        code,
        request.signal.aborted ? clientClosedRequest() : (refusal?.error ?? error),
      );
      if (answer.unexpected) logger.error(`${request.method} ${request.url} failed: ${describeError(error)}`);
      set.status = answer.status;
      if (error instanceof UploadBudgetExhausted) set.headers["retry-after"] = "1";
      // The rest of a stalled body may still come: Bun closes the connection after this answer.
      if (answer.status === 408) set.headers.connection = "close";
      record(request, route, answer.status);
      return { error: answer.message };
    })
    .use(apiDocs())
    .use(blobRoutes(storage, { bodyLimits, metrics }))
    .use(healthRoutes(storage, uptimeSeconds))
    .use(metricsRoutes(storage, metrics, uptimeSeconds))
    .use(adminRoutes(storage))
    .use(dashboardRoutes());
  return app;
}
