/**
 * Cross-origin access from browsers. CORS_ORIGINS lists the origins allowed everything (their
 * tokens still decide what they may do); `*` allows every origin, for GET and HEAD only.
 * Same-origin requests (Swagger UI served by kvstore itself) need no entry.
 */
export interface CorsPolicy {
  origins: readonly string[];
}

const READ_METHODS = ["GET", "HEAD"];
const ALL_METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"];
const ALLOWED_HEADERS =
  "Authorization, Content-Type, Range, If-Match, If-None-Match, If-Range, If-Modified-Since, If-Unmodified-Since";
const EXPOSED_HEADERS = "ETag, Content-Range, Content-Length, Last-Modified, X-Next-After";
const PREFLIGHT_MAX_AGE_SECONDS = "600";

/** The methods an origin may use; empty when it is not allowed at all. */
export function methodsAllowedFor(origin: string, policy: CorsPolicy): string[] {
  if (policy.origins.includes(origin)) return ALL_METHODS;
  if (policy.origins.includes("*")) return READ_METHODS;
  return [];
}

/** Headers for the response to an allowed cross-origin request. */
export function corsHeaders(origin: string, policy: CorsPolicy): Record<string, string> {
  return {
    "access-control-allow-origin": policy.origins.includes(origin) ? origin : "*",
    "access-control-expose-headers": EXPOSED_HEADERS,
  };
}

/** The 204 answer to an allowed preflight. */
export function preflightAnswer(origin: string, policy: CorsPolicy): Response {
  return new Response(null, {
    status: 204,
    headers: {
      ...corsHeaders(origin, policy),
      "access-control-allow-methods": methodsAllowedFor(origin, policy).join(", "),
      "access-control-allow-headers": ALLOWED_HEADERS,
      "access-control-max-age": PREFLIGHT_MAX_AGE_SECONDS,
    },
  });
}
