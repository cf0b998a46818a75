/**
 * Whether a `Range` may be applied under the request's `If-Range` (RFC 9110, section 13.1.5):
 * only when the header is absent or names the current entity tag (`etag`, unquoted), compared
 * strongly. A weak tag, another tag or a date (Last-Modified is a weak validator: a blob can
 * change twice within its second) gets the whole blob, so that a resumed download never splices
 * two versions.
 */
export function ifRangeHolds(header: string | null, etag: string): boolean {
  return header === null || header.trim() === `"${etag}"`;
}
