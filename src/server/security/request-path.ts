import { pathOf } from "../http/blob-key.ts";

/**
 * The paths a request may be routed by. Elysia finds the path with `url.indexOf("/", 11)`, which
 * skips past the first slash of the path when the host is shorter than 4 characters
 * (`http://x/blobs/admin/snapshot` is routed as `/admin/snapshot`); access is decided on both
 * readings so that such a request needs the role of either route.
 */
export function requestPaths(url: string): [string] | [string, string] {
  const parsed = pathOf(url);
  const start = url.indexOf("/", 11);
  if (start === -1) return [parsed];
  const query = url.indexOf("?", start);
  const routed = url.slice(start, query === -1 ? undefined : query);
  return routed === parsed ? [parsed] : [parsed, routed];
}
