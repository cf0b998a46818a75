import type { ListOptions } from "../../index.ts";
import type { BlobStorage } from "../../volume/blob-storage.ts";
import { DEFAULT_LIST_LIMIT } from "../schemas.ts";

/** Response header naming the last key of a page when more keys follow, percent-encoded. */
export const NEXT_AFTER_HEADER = "x-next-after";

export interface KeyPage {
  keys: string[];
  /** The `after` of the next page; undefined on the last page. */
  nextAfter?: string;
}

/** One page of a listing: one key more than the page is read to know whether another follows. */
export function pageOfKeys(
  storage: BlobStorage,
  { limit = DEFAULT_LIST_LIMIT, ...rest }: ListOptions,
): KeyPage {
  const keys = storage.list({ ...rest, limit: limit + 1 });
  if (keys.length <= limit) return { keys };
  keys.length = limit;
  return { keys, nextAfter: keys[limit - 1] };
}
