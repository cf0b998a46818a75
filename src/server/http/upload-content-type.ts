import { DEFAULT_CONTENT_TYPE, isMediaType, MAX_MEDIA_TYPE_LENGTH } from "../../volume/media-type.ts";
import { HttpError } from "./http-error.ts";

/**
 * The media type a PUT or POST stores its blob as: its `Content-Type`, or
 * application/octet-stream without one. Throws 400 for a header that is not a media type (or is
 * longer than MAX_MEDIA_TYPE_LENGTH): call it before reading the body, so that nothing is stored.
 */
export function uploadContentType(request: Request): string {
  const header = request.headers.get("content-type");
  if (header === null) return DEFAULT_CONTENT_TYPE;
  if (!isMediaType(header)) {
    const shown = header.length > 80 ? `${header.slice(0, 80)}…` : header;
    throw new HttpError(
      400,
      `Content-Type ${JSON.stringify(shown)} is not a media type such as "text/plain; charset=utf-8" ` +
        `(type/subtype, then ;name=value parameters, at most ${MAX_MEDIA_TYPE_LENGTH} characters)`,
    );
  }
  return header;
}
