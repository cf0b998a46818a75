import { ExitCode } from "./exit-code.ts";
import { UsageError } from "./usage-error.ts";

/**
 * Runs the blob server until it is told to stop. The server is imported only here, with literal
 * paths: the compiler still embeds it, and the other commands never pay for loading Elysia.
 */
export async function serveCommand(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<ExitCode> {
  const { ConfigError, loadServerConfig } = await import("../server/config.ts");
  let config: ReturnType<typeof loadServerConfig>;
  try {
    config = loadServerConfig(args, env);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message, "serve");
    throw error;
  }
  const { startServer } = await import("../server/serve.ts");
  try {
    await startServer(config);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message, "serve");
    throw error;
  }
  return ExitCode.success;
}
