import { refusal } from "./refusal.ts";
import { requestPaths } from "./request-path.ts";
import { type AccessTokens, ROLES, type Role, roleCovers } from "./tokens.ts";

/** `open`: anyone may call it. */
export type Requirement = Role | "open";

/**
 * What a route needs: /health (and `GET /`, the original API's health route) and the API documentation are open (the document describes the
 * routes, which are public in the source, and holds no data; Swagger UI must load before its
 * "Authorize" button can take a token), and so are the dashboard's page and assets (for the same
 * reason: its data comes from /admin and /metrics with the token it asks for); /metrics needs read unless made public; reading blobs
 * needs read, changing them write; /admin and anything unknown need admin.
 */
export function requirementOf(method: string, path: string, metricsPublic: boolean): Requirement {
  if (path === "/health" || (path === "/" && (method === "GET" || method === "HEAD"))) return "open";
  if (path === "/swagger" || path.startsWith("/swagger/")) return "open";
  if (path === "/dashboard" || path.startsWith("/dashboard/")) return "open";
  if (path === "/metrics") return metricsPublic ? "open" : "read";
  if (path === "/blobs" || path.startsWith("/blobs/")) {
    return method === "GET" || method === "HEAD" ? "read" : "write";
  }
  return "admin";
}

/** What a request needs: the stronger requirement of the paths it may be routed by. */
function requirementOfPaths(method: string, url: string, metricsPublic: boolean): Requirement {
  const [path, otherPath] = requestPaths(url);
  const needed = requirementOf(method, path, metricsPublic);
  if (otherPath === undefined) return needed;
  return stronger(needed, requirementOf(method, otherPath, metricsPublic));
}

function stronger(one: Requirement, other: Requirement): Requirement {
  if (one === "open") return other;
  if (other === "open") return one;
  return roleCovers(one, other) ? one : other;
}

const BEARER = /^Bearer[ ]+(\S+)[ ]*$/i;

/**
 * Checks the request's bearer token against what its paths need: undefined lets it through,
 * otherwise the 401 (no valid token) or 403 (a role too weak) to answer. With no token
 * configured, everything is open.
 */
export function checkAccess(
  request: Request,
  tokens: AccessTokens,
  metricsPublic: boolean,
): Response | undefined {
  if (tokens.isEmpty) return undefined;
  const needed = requirementOfPaths(request.method, request.url, metricsPublic);
  if (needed === "open") return undefined;
  const presented = BEARER.exec(request.headers.get("authorization") ?? "")?.[1];
  if (presented === undefined) {
    const message = "Authentication required: send Authorization: Bearer <token>";
    return refusal(401, message, { "www-authenticate": 'Bearer realm="kvstore"' });
  }
  const role = tokens.roleOf(presented);
  if (role === undefined) {
    return refusal(401, "Invalid token", {
      "www-authenticate": 'Bearer realm="kvstore", error="invalid_token"',
    });
  }
  if (!roleCovers(role, needed)) {
    return refusal(
      403,
      `This needs a token with the ${needed} role (of ${ROLES.join(", ")}); yours has ${role}`,
    );
  }
  return undefined;
}
