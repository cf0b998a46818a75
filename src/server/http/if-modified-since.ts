import { parseHttpDate } from "./http-date.ts";

/**
 * Whether an `If-Modified-Since` header says the client's copy is current, so that the answer
 * is 304 (RFC 9110, section 13.1.3): the blob was last modified (`lastModified`, ms since the
 * epoch) no later than the header's date, compared to the second that Last-Modified carries.
 * An invalid date, or a blob with no recorded date, never is. The caller ignores the header when
 * the request carries If-None-Match, and for methods other than GET and HEAD.
 */
export function notModifiedSince(header: string | null, lastModified: number | null): boolean {
  if (header === null || lastModified === null) return false;
  const since = parseHttpDate(header.trim());
  if (since === null) return false;
  return Math.floor(lastModified / 1000) * 1000 <= since;
}
