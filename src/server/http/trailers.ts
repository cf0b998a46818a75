import { HttpError } from "./http-error.ts";

/**
 * Refuses, before its body is read, a request that announces trailer fields: Bun 1.4.5 does not
 * parse them (see whileConnectionOpen for what it does with them instead).
 */
export function refuseAnnouncedTrailers(request: Request): void {
  if (request.headers.has("trailer")) {
    throw new HttpError(400, "trailer fields are not supported: send the request without them");
  }
}
