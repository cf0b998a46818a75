import { HttpError } from "./http-error.ts";

const DECIMAL = /^\d+$/;

/**
 * The body length a request's Content-Length declares, or null without one. Bun lets a request
 * repeat the header only with the same value and hands the values on joined ("3, 3"), which
 * RFC 9110 (section 8.6) allows reading as that one value; any other form is a 400. Read as a
 * plain number, such a list would be NaN: no limit would refuse it, and the upload budget,
 * given NaN back, would refuse nothing from then on.
 */
export function declaredLength(headers: Headers): number | null {
  const header = headers.get("content-length");
  if (header === null) return null;
  const [first = "", ...others] = header.split(",").map((value) => value.trim());
  if (!DECIMAL.test(first) || others.some((value) => value !== first)) {
    throw new HttpError(400, `Content-Length ${JSON.stringify(header)} is not one decimal length`);
  }
  return Number(first);
}
