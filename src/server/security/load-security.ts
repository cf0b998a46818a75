import { readFileSync } from "node:fs";
import { ConfigError, type ServerConfig } from "../config.ts";
import { isLoopbackBind } from "./bind-address.ts";
import type { SecurityPolicy } from "./guard.ts";
import { AccessTokens, parseTokensFile, type TokenGrant } from "./tokens.ts";

export interface LoadedSecurity {
  policy: SecurityPolicy;
  /** For Bun.serve's `tls` option; undefined serves plain HTTP. */
  tls: { cert: string; key: string } | undefined;
}

function readSetting(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const reason = error instanceof Error && "code" in error ? String(error.code) : String(error);
    throw new ConfigError(`cannot read ${what} ${JSON.stringify(path)}: ${reason}`);
  }
}

/**
 * Reads the files the security settings name and applies the protected-mode rule: a server
 * that listens beyond loopback with no token configured refuses to start unless
 * ALLOW_UNAUTHENTICATED says it should. Every problem is a ConfigError (exit 2).
 */
export async function loadSecurity(config: ServerConfig): Promise<LoadedSecurity> {
  const grants: TokenGrant[] = [];
  if (config.authToken !== undefined) grants.push({ role: "admin", token: config.authToken });
  if (config.authTokensFile !== undefined) {
    const file = config.authTokensFile;
    grants.push(...parseTokensFile(readSetting(file, "the tokens file (AUTH_TOKENS_FILE)"), file));
  }
  // Resolved even when tokens are configured: an unresolvable HOST gets a clear message either way.
  const loopback = await isLoopbackBind(config.host);
  if (grants.length === 0 && !config.allowUnauthenticated && !loopback) {
    throw new ConfigError(
      `refusing to listen on ${config.host} with no token configured: anyone who can reach it could ` +
        "read and change every blob. Set AUTH_TOKEN or AUTH_TOKENS_FILE (--auth-tokens), listen on " +
        "127.0.0.1, or pass --allow-unauthenticated (ALLOW_UNAUTHENTICATED=1) if a proxy in front checks access",
    );
  }
  const tls =
    config.tlsCert !== undefined && config.tlsKey !== undefined
      ? {
          cert: readSetting(config.tlsCert, "the TLS certificate (TLS_CERT)"),
          key: readSetting(config.tlsKey, "the TLS key (TLS_KEY)"),
        }
      : undefined;
  return {
    policy: {
      tokens: new AccessTokens(grants),
      boundHost: config.host,
      allowedHosts: config.allowedHosts,
      cors: { origins: config.corsOrigins },
      metricsPublic: config.metricsPublic,
    },
    tls,
  };
}
