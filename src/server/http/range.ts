/** What a `Range` header asks of a representation of `size` bytes (RFC 9110, section 14). */
export type RangeRequest =
  | { kind: "whole" }
  | { kind: "partial"; start: number; end: number }
  | { kind: "unsatisfiable" };

const SINGLE_BYTE_RANGE = /^bytes=\s*(\d*)-(\d*)\s*$/;

/**
 * Parses a single byte range; `end` is inclusive. A missing, malformed or multi-range header is
 * answered with the whole representation, which the RFC allows a server to do.
 */
export function parseRange(header: string | null, size: number): RangeRequest {
  const match = header === null ? null : SINGLE_BYTE_RANGE.exec(header);
  if (match === null) return { kind: "whole" };
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return { kind: "whole" };
  if (first === "") {
    // A suffix range: the last N bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? Number.POSITIVE_INFINITY : Number(last);
  if (end < start) return { kind: "whole" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end: Math.min(end, size - 1) };
}
