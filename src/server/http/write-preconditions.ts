import { HttpError } from "./http-error.ts";
import { ifNoneMatchHits } from "./if-none-match.ts";

/**
 * Throws 412 when `If-Match` or `If-None-Match` of a PUT, POST or DELETE does not hold for the
 * blob as stored now (`etag`: its entity tag, unquoted; null: no blob). RFC 9110, section 13.2.2:
 * If-Match decides when present, with the strong comparison (a weak tag never matches); `*`
 * matches any blob, so `If-None-Match: *` makes a PUT create-only. The caller must apply the
 * write in the same tick, with no await between, so that no other write comes in between.
 */
export function checkWritePreconditions(headers: Headers, etag: string | null): void {
  const ifMatch = headers.get("if-match");
  if (ifMatch !== null) {
    if (!ifMatchHolds(ifMatch, etag)) throw preconditionFailed("If-Match", etag);
    return;
  }
  const ifNoneMatch = headers.get("if-none-match");
  if (ifNoneMatch !== null && etag !== null && ifNoneMatchHits(ifNoneMatch, etag)) {
    throw preconditionFailed("If-None-Match", etag);
  }
}

function ifMatchHolds(header: string, etag: string | null): boolean {
  if (etag === null) return false;
  return header.split(",").some((candidate) => {
    const tag = candidate.trim();
    return tag === "*" || tag === `"${etag}"`;
  });
}

function preconditionFailed(header: string, etag: string | null): HttpError {
  const current = etag === null ? "there is no blob under this key" : `the blob's ETag is "${etag}"`;
  return new HttpError(412, `precondition failed: ${header} does not hold (${current})`);
}
