import { decodedOrNull, pathOf } from "./blob-key.ts";
import { HttpError } from "./http-error.ts";

const BLOBS_PREFIX = "/blobs/";

/**
 * Elysia finds the path of a request at the first "/" from offset 11 of its URL, which assumes
 * a host of at least 4 characters: with `Host: x` it would route `/blobs/admin/snapshot` as
 * `/admin/snapshot`. This returns a copy of the request whose URL Elysia reads right (same
 * method, headers and body; the host in its URL is `localhost`, the Host header is kept), or
 * null when Elysia already reads this one right, as it does for any usual host.
 */
export function withRoutableUrl(request: Request): Request | null {
  const url = request.url;
  // Without a Host header Bun gives the bare path ("/blobs/k"), not an absolute URL.
  const schemeEnd = url.indexOf("//");
  const pathStart = url.startsWith("/") ? 0 : url.indexOf("/", schemeEnd + 2);
  if (pathStart !== -1 && url.indexOf("/", 11) === pathStart) return null;
  const scheme = url.startsWith("/") ? "http:" : url.slice(0, schemeEnd);
  const rest = pathStart === -1 ? "/" : url.slice(pathStart);
  return new Request(`${scheme}//localhost${rest}`, request);
}

/** The methods of `/blobs/:key`, which Elysia also hands to Bun's own router. */
const KEY_ROUTE_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE"]);

/**
 * Throws a 400 when Bun rewrote the request target into a key without a `/` (a `\`, a `.` or
 * `..` segment, or their `%2E` spellings). Bun 1.4.5 matches its own routes, which Elysia fills
 * with `/blobs/:key`, on the raw target and puts the raw key in `request.params`, while
 * `request.url` is the rewritten one. So a request from a socket for such a key either has
 * the raw key, which must be the one in the URL, or came from another raw target
 * (`/blobs/x/../k` arrives as `/blobs/k` without parameters). A rewrite that leaves a key with a
 * `/` (`a/b/../c` arrives as `a/c`) cannot be detected. `fromSocket` tells requests Bun received
 * from those made by `app.handle()` or re-made by withRoutableUrl, which carry no parameters.
 */
export function refuseRewrittenTarget(request: Request, fromSocket: (request: Request) => boolean): void {
  const rawKey = (request as { params?: Record<string, string | undefined> }).params?.key;
  const path = pathOf(request.url);
  if (!path.startsWith(BLOBS_PREFIX)) {
    if (rawKey !== undefined) throw rewrittenTarget();
    return;
  }
  const key = decodedOrNull(path.slice(BLOBS_PREFIX.length));
  // An undecodable key is blobKeyFromUrl's to refuse, with its own message.
  if (key === null) return;
  if (rawKey !== undefined) {
    if (key !== rawKey) throw rewrittenTarget();
    return;
  }
  if (!key.includes("/") && KEY_ROUTE_METHODS.has(request.method) && fromSocket(request))
    throw rewrittenTarget();
}

function rewrittenTarget(): HttpError {
  return new HttpError(
    400,
    'the request path has a "\\" or a "." or ".." segment (also when spelled %2E), which the HTTP ' +
      'server rewrites: percent-encode "\\" as %5C and the "/" next to a dot segment as %2F',
  );
}
