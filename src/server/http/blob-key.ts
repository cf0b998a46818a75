import { HttpError } from "./http-error.ts";

const BLOBS_PREFIX = "/blobs/";

/**
 * The key of a `/blobs/...` request, percent-decoded as UTF-8. Read from the raw URL rather than
 * from the router's parameter so that keys containing `/` work both encoded (`a%2Fb`) and not
 * (`a/b`), and so that a bad escape is refused instead of passed through. Length limits are the
 * engine's to enforce.
 */
export function blobKeyFromUrl(url: string): string {
  // Without a Host header Bun gives the bare path ("/blobs/k"), not an absolute URL.
  const pathStart = url.startsWith("/") ? 0 : url.indexOf("/", url.indexOf("//") + 2);
  const queryStart = url.indexOf("?", pathStart);
  const path = url.slice(pathStart, queryStart === -1 ? undefined : queryStart);
  const encoded = path.startsWith(BLOBS_PREFIX) ? path.slice(BLOBS_PREFIX.length) : "";
  if (encoded === "") throw new HttpError(400, "key must not be empty");
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new HttpError(400, "key is not valid percent-encoded UTF-8");
  }
}
