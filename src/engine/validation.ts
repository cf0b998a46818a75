import { InvalidKeyError, InvalidValueError, KeyTooLargeError, ValueTooLargeError } from "./errors.ts";
import { MAX_METADATA_BYTES } from "./record.ts";
import type { ListOptions } from "./store-types.ts";

// The checks a write passes before anything of it is written (see KVStore.set).

const textEncoder = new TextEncoder();

/** A key's UTF-8 length; throws InvalidKeyError (KeyTooLargeError past `maxKeyBytes`). */
export function checkKey(key: string, maxKeyBytes: number): number {
  if (typeof key !== "string" || key.length === 0)
    throw new InvalidKeyError("key must be a non-empty string");
  if (!key.isWellFormed()) {
    throw new InvalidKeyError("key is not valid UTF-8: it contains an unpaired surrogate code unit");
  }
  const keyBytes = Buffer.byteLength(key, "utf8");
  if (keyBytes > maxKeyBytes) throw new KeyTooLargeError(keyBytes, maxKeyBytes);
  return keyBytes;
}

/**
 * A listing's options. `prefix` and `after` must be well-formed: keys are UTF-8, which a lone
 * surrogate has no form in (it would be listed as U+FFFD, a different key); InvalidKeyError.
 * `limit` must be a whole number from 0, or Infinity; RangeError.
 */
export function checkListOptions(options: ListOptions | undefined): void {
  for (const name of ["prefix", "after"] as const) {
    const bound = options?.[name];
    if (bound !== undefined && (typeof bound !== "string" || !bound.isWellFormed()))
      throw new InvalidKeyError(`${name} must be a string of valid UTF-8: no unpaired surrogate code unit`);
  }
  const limit = options?.limit;
  if (limit !== undefined && !(limit === Number.POSITIVE_INFINITY || (Number.isInteger(limit) && limit >= 0)))
    throw new RangeError(`limit must be a whole number from 0 (or Infinity), not ${limit}`);
}

/** `set`'s value as bytes (a string as its UTF-8); throws ValueTooLargeError past `maxValueBytes`. */
export function checkValue(value: Uint8Array | string, maxValueBytes: number): Uint8Array {
  const bytes = typeof value === "string" ? textEncoder.encode(value) : value;
  if (!(bytes instanceof Uint8Array)) throw new TypeError("value must be a Uint8Array or a string");
  if (bytes.length > maxValueBytes) throw new ValueTooLargeError(bytes.length, maxValueBytes);
  return bytes;
}

/** `set`'s metadata option, checked before anything is written: the bytes, or null for none. */
export function checkMetadata(metadata: Uint8Array | undefined): Uint8Array | null {
  if (metadata === undefined) return null;
  if (!(metadata instanceof Uint8Array)) throw new InvalidValueError("metadata must be a Uint8Array");
  if (metadata.length > MAX_METADATA_BYTES) {
    throw new InvalidValueError(`metadata is ${metadata.length} bytes; the limit is ${MAX_METADATA_BYTES}`);
  }
  return metadata;
}
