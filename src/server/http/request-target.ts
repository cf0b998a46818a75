import { pathOf } from "./blob-key.ts";
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

/**
 * Throws a 400 when Bun rewrote the request target of a key without a `/` (a `\`, a `.` or `..`
 * segment, or their `%2E` spellings). Bun 1.4.5 matches its own routes, which Elysia fills with
 * `/blobs/:key`, on the raw target and puts the raw key in `request.params`, while
 * `request.url` is the rewritten one; the two disagree exactly then. A key with a `/` takes the
 * wildcard route, which has no parameters: there a rewrite that leaves an ordinary-looking key
 * (`a/b/../c` arrives as `a/c`) cannot be detected.
 */
export function refuseRewrittenTarget(request: Request): void {
  const rawKey = (request as { params?: Record<string, string | undefined> }).params?.key;
  if (rawKey === undefined) return;
  const path = pathOf(request.url);
  if (path.startsWith(BLOBS_PREFIX)) {
    const key = decodedOrNull(path.slice(BLOBS_PREFIX.length));
    // An undecodable key is blobKeyFromUrl's to refuse, with its own message.
    if (key === null || key === rawKey) return;
  }
  throw new HttpError(
    400,
    'the request path has a "\\" or a "." or ".." segment (also when spelled %2E), which the HTTP ' +
      'server rewrites: percent-encode "\\" as %5C and the "/" next to a dot segment as %2F',
  );
}

function decodedOrNull(encoded: string): string | null {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return null;
  }
}
