import { HttpError } from "./http-error.ts";

/**
 * Methods that RFC 9110 (and RFC 5789, PATCH) define: a route that lacks one answers 405 with
 * `Allow`. Any other method that Bun lets through (PROPFIND, QUERY, M-SEARCH...) is one this
 * server does not implement anywhere: 501. Bun itself closes the connection, without a
 * response, on a method it does not know (`BREW`) or one in lower case.
 */
const STANDARD_METHODS = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "OPTIONS",
  "PATCH",
  "TRACE",
  "CONNECT",
]);

interface RouteSpec {
  method: string;
  path: string;
}

/**
 * What to answer for a request that no route took: 501 for a method not implemented anywhere,
 * 405 (with the `Allow` list) for a path that a route has under other methods, or null (404).
 */
export function methodRefuser(routes: () => readonly RouteSpec[]) {
  let patterns: { pattern: RegExp; method: string }[] | null = null;
  return (method: string, path: string): { error: HttpError; allow?: string } | null => {
    if (!STANDARD_METHODS.has(method)) {
      return { error: new HttpError(501, `method ${method} is not implemented by this server`) };
    }
    patterns ??= routes().map(({ method, path }) => ({ method, pattern: patternOf(path) }));
    const allowed = new Set(
      patterns.filter(({ pattern }) => pattern.test(path)).map((route) => route.method),
    );
    if (allowed.size === 0) return null;
    // Elysia answers HEAD with the GET handler wherever there is no HEAD route.
    if (allowed.has("GET")) allowed.add("HEAD");
    const allow = [...allowed].sort().join(", ");
    return { error: new HttpError(405, `method ${method} is not allowed here; allowed: ${allow}`), allow };
  };
}

/** A route path (`/blobs/:key`, `/blobs/*`) as a regular expression for a request path. */
function patternOf(path: string): RegExp {
  const source = path
    .split("/")
    .map((segment) =>
      segment === "*"
        ? ".*"
        : segment.startsWith(":")
          ? "[^/]+"
          : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
    )
    .join("/");
  return new RegExp(`^${source}$`);
}
