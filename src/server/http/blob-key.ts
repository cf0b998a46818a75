import { HttpError } from "./http-error.ts";

const BLOBS_PREFIX = "/blobs/";

const PERCENT_ENCODE = "percent-encode the key (a / in it as %2F)";

/**
 * The key of a `/blobs/...` request, percent-decoded as UTF-8. Read from the raw URL rather than
 * from the router's parameter so that keys containing `/` work both encoded (`a%2Fb`) and not
 * (`a/b`), and so that a bad escape is refused instead of passed through. Length limits are the
 * engine's to enforce.
 *
 * Bun rewrites the request target before the app sees it (`.` and `..` segments removed, `%2E`
 * spellings included, `\` read as `/`, bytes that are not UTF-8 turned into U+FFFD). The forms
 * that such a rewrite can produce, and that would otherwise store under another key than the
 * client sent, are refused: an empty segment between literal slashes (`a/./` arrives as `a/`,
 * `a/.//b` as `a//b`) and U+FFFD. What a rewrite leaves looking like an ordinary key
 * (`a/../b` arrives as `b`) cannot be told apart here; see rawTargetMismatch.
 */
export function blobKeyFromUrl(url: string): string {
  const path = pathOf(url);
  const encoded = path.startsWith(BLOBS_PREFIX) ? path.slice(BLOBS_PREFIX.length) : "";
  if (encoded === "") throw new HttpError(400, "key must not be empty");
  if (encoded.startsWith("/") || encoded.endsWith("/") || encoded.includes("//")) {
    throw new HttpError(
      400,
      "key has an empty segment between slashes, which the server cannot tell from a removed " +
        `"." or ".." segment: ${PERCENT_ENCODE}`,
    );
  }
  const key = decodedOrNull(encoded);
  if (key === null) throw new HttpError(400, "key is not valid percent-encoded UTF-8");
  if (key.includes("\uFFFD")) {
    throw new HttpError(
      400,
      "key contains U+FFFD, which the server cannot tell from raw bytes that are not UTF-8: " +
        `${PERCENT_ENCODE}, and use another character`,
    );
  }
  return key;
}

/** The path of a request URL, without the query: works whatever the length of the host. */
export function pathOf(url: string): string {
  // Without a Host header Bun gives the bare path ("/blobs/k"), not an absolute URL.
  const pathStart = url.startsWith("/") ? 0 : url.indexOf("/", url.indexOf("//") + 2);
  if (pathStart === -1) return "/";
  const queryStart = url.indexOf("?", pathStart);
  return url.slice(pathStart, queryStart === -1 ? undefined : queryStart);
}

/** `encoded` percent-decoded as UTF-8, or null when it cannot be. */
export function decodedOrNull(encoded: string): string | null {
  // Most keys have no escape, and decodeURIComponent would only copy them.
  if (!encoded.includes("%")) return encoded;
  try {
    return decodeURIComponent(encoded);
  } catch {
    return null;
  }
}
