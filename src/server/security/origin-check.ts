import { type CorsPolicy, methodsAllowedFor } from "./cors.ts";

/** Whether the Origin header names the server itself (Swagger UI, or a page served alongside). */
export function isSameOrigin(origin: string, hostHeader: string): boolean {
  try {
    return new URL(origin).host === hostHeader.toLowerCase();
  } catch {
    return false;
  }
}

/**
 * Whether a browser request from `origin` may use `method`. Checked before routing, for every
 * method: a cross-origin POST with `Content-Type: text/plain` is sent without a preflight, so
 * the browser's CORS check would come only after the write was done.
 */
export function isOriginAllowed(
  origin: string,
  hostHeader: string,
  method: string,
  policy: CorsPolicy,
): boolean {
  return isSameOrigin(origin, hostHeader) || methodsAllowedFor(origin, policy).includes(method);
}
