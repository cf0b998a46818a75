import { KVStore } from "../index.ts";
import { BlobStorage } from "../volume/blob-storage.ts";
import { createApp } from "./app.ts";
import type { ServerConfig } from "./config.ts";
import { createLogger, describeError } from "./logger.ts";
import { loadSecurity } from "./security/load-security.ts";

export interface ServerHandle {
  /** Where the server listens, with the port the OS picked when the configuration said 0. */
  readonly url: URL;
  /**
   * Stops accepting connections, lets in-flight requests finish, then closes the store (which
   * flushes and fsyncs, saves the index snapshot and releases the LOCK). Safe to call twice.
   */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Stop and exit 0 on SIGTERM and SIGINT (1 if the shutdown fails). Default true. */
  handleSignals?: boolean;
}

/** Bun's idleTimeout is at most 255 s: BODY_IDLE_SECONDS is at most 250. */
const BUN_IDLE_MARGIN_SECONDS = 5;

/** How long in-flight requests get to finish on shutdown before their connections are cut. */
const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Opens the store, listens, and returns once the server accepts connections. Throws ConfigError,
 * before the store is opened, for security settings it cannot use.
 */
export async function startServer(
  config: ServerConfig,
  { handleSignals = true }: StartOptions = {},
): Promise<ServerHandle> {
  const security = await loadSecurity(config);
  const logger = createLogger(config.logLevel);
  const store = await KVStore.open(config.dataDir, {
    sync: config.sync,
    maxSegmentBytes: config.maxSegmentBytes,
    maxValueBytes: config.maxBodyBytes,
    compactionThreshold: config.compactionThreshold,
    reserveBytes: config.reserveBytes,
    logger,
  });
  const storage = new BlobStorage(store, config.volumeId);
  const app = createApp(storage, {
    maxBodyBytes: config.maxBodyBytes,
    uploadBudgetBytes: config.uploadBudgetBytes,
    bodyIdleMs: config.bodyIdleSeconds * 1000,
    logger,
    logRequests: config.logLevel === "debug",
    security: security.policy,
  });
  try {
    app.listen({
      hostname: config.host,
      port: config.port,
      // The app answers oversized bodies itself with a JSON 413; Bun's own limit would answer
      // first, with an empty body, so it is set out of the way.
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      // Bun's own idle timeout (10 s by default) would cut a stalled body without an answer:
      // it is set past BODY_IDLE_SECONDS, so that the app answers 408 first.
      idleTimeout: config.bodyIdleSeconds + BUN_IDLE_MARGIN_SECONDS,
      // Elysia's default would let a second server share the port and split the traffic.
      reusePort: false,
      development: false,
      tls: security.tls,
    });
  } catch (error) {
    await store.close();
    throw error;
  }
  const server = app.server;
  if (server === null) throw new Error("the HTTP server did not start");
  const url = new URL(`${security.tls === undefined ? "http" : "https"}://${server.hostname}:${server.port}`);

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      logger.info("shutting down: no new connections; waiting for requests in flight");
      const cutConnections = setTimeout(() => {
        logger.warn(`requests still in flight after ${SHUTDOWN_GRACE_MS} ms; closing their connections`);
        void server.stop(true);
      }, SHUTDOWN_GRACE_MS);
      try {
        await app.stop();
      } finally {
        clearTimeout(cutConnections);
      }
      await storage.close();
      // Only now: a second signal during the shutdown must not kill the process midway.
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      logger.info("stopped; the store is closed");
    })();
    return stopping;
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping !== null) {
      logger.info(`${signal} received again; still finishing the requests in flight`);
      return;
    }
    logger.info(`${signal} received`);
    stop().then(
      () => process.exit(0),
      (error) => {
        logger.error(`shutdown failed: ${describeError(error)}`);
        process.exit(1);
      },
    );
  };
  if (handleSignals) {
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  }
  // Only now: whoever waits for this line may send a signal at once, and until a handler is
  // installed the default action of SIGTERM kills the process.
  logger.info(`volume ${config.volumeId} listening on ${url.origin} with data in ${config.dataDir}`);

  return { url, stop };
}
