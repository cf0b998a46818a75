/**
 * Whether an `If-None-Match` header matches `etag` (unquoted), so that the answer is 304.
 * Uses the weak comparison that RFC 9110 prescribes for this header; `*` matches any blob.
 */
export function ifNoneMatchHits(header: string | null, etag: string): boolean {
  if (header === null) return false;
  return header.split(",").some((candidate) => {
    const tag = candidate.trim();
    if (tag === "*") return true;
    const opaque = tag.startsWith("W/") ? tag.slice(2) : tag;
    return opaque === `"${etag}"` || opaque === etag;
  });
}
