import { type Requirement, requirementOf } from "../security/access.ts";
import { ROLES } from "../security/tokens.ts";
import type { ErrorExample } from "./error-examples.ts";

/** The name Swagger UI's "Authorize" dialog shows the token field under. */
export const BEARER_SCHEME = "bearerAuth";

export const bearerSecurityScheme = {
  type: "http",
  scheme: "bearer",
  description:
    "A token from AUTH_TOKEN (role admin) or from AUTH_TOKENS_FILE (`<role> <token>` lines). Roles: " +
    "read (GET and HEAD of blobs, /metrics), write (also PUT, POST, DELETE of blobs), admin (also " +
    "/admin). A server with no token configured (listening on loopback) lets every request in.",
} as const;

/** What one operation needs, as the access check decides it (the path is the documented template). */
function requirementOfOperation(method: string, path: string): Requirement {
  return requirementOf(method.toUpperCase(), path, false);
}

/** A sentence for the operation's description. */
export function requirementSentence(method: string, path: string): string {
  const needed = requirementOfOperation(method, path);
  if (needed === "open") return "No token needed.";
  const stronger = ROLES.slice(ROLES.indexOf(needed) + 1);
  const or = stronger.length > 0 ? ` (or ${stronger.join(", ")})` : "";
  // /metrics is the one route a setting can open: the document is the same either way.
  const unless = requirementOf(method.toUpperCase(), path, true) === "open" ? " unless METRICS_PUBLIC=1" : "";
  return `Needs a token with the ${needed} role${or} when tokens are configured${unless}.`;
}

const unauthorized: ErrorExample = {
  description: "Tokens are configured and the request has no valid one",
  message: "Authentication required: send Authorization: Bearer <token>",
};

/**
 * 403 for a role too weak where a weaker role exists; otherwise (a read operation, or an open one)
 * only a browser's Origin that is not allowed gets one.
 */
function forbiddenExample(method: string, path: string): ErrorExample {
  const needed = requirementOfOperation(method, path);
  const weaker = needed === "open" ? undefined : ROLES[ROLES.indexOf(needed) - 1];
  if (weaker === undefined) {
    return {
      description: "The request's Origin is not allowed (see CORS_ORIGINS)",
      message: `Origin "https://elsewhere.example" may not ${method.toUpperCase()} here; see CORS_ORIGINS`,
    };
  }
  return {
    description: "The token's role is too weak, or the request's Origin is not allowed (see CORS_ORIGINS)",
    message: `This needs a token with the ${needed} role (of ${ROLES.join(", ")}); yours has ${weaker}`,
  };
}

/** The refusals of the access check that an operation can get, by status. */
export function accessRefusals(method: string, path: string): Record<string, ErrorExample> {
  const refusals: Record<string, ErrorExample> = { 403: forbiddenExample(method, path) };
  if (requirementOfOperation(method, path) !== "open") refusals[401] = unauthorized;
  return refusals;
}
