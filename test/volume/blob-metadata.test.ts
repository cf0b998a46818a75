import { describe, expect, it } from "bun:test";
import { decodeBlobMetadata, encodeBlobMetadata } from "../../src/volume/blob-metadata.ts";
import { isMediaType } from "../../src/volume/media-type.ts";

describe("blob metadata", () => {
  const etag = "c49aacf8080fe47f";

  it("round-trips a content type, a date and an entity tag with the documented layout (version 2)", () => {
    const at = Date.UTC(2026, 10, 25, 16, 0, 0, 123);
    const bytes = encodeBlobMetadata('text/plain; charset="utf-8"', at, etag);
    expect(bytes[0]).toBe(2);
    expect(Buffer.from(bytes).readBigUInt64LE(1)).toBe(BigInt(at));
    expect(Buffer.from(bytes.subarray(9, 17)).toString("hex")).toBe(etag);
    expect(Buffer.from(bytes.subarray(17)).toString("latin1")).toBe('text/plain; charset="utf-8"');
    expect(decodeBlobMetadata(bytes)).toEqual({
      contentType: 'text/plain; charset="utf-8"',
      lastModified: at,
      etag,
    });
  });

  it("reads version 1 (no entity tag) as written before version 2", () => {
    const at = Date.UTC(2026, 10, 25, 16, 0, 0, 123);
    const version1 = Buffer.alloc(9 + "image/png".length);
    version1[0] = 1;
    version1.writeBigUInt64LE(BigInt(at), 1);
    version1.write("image/png", 9, "latin1");
    expect(decodeBlobMetadata(version1)).toEqual({ contentType: "image/png", lastModified: at, etag: null });
  });

  it("reads missing, short, foreign or invalid metadata as none", () => {
    const none = { contentType: "application/octet-stream", lastModified: null, etag: null };
    const good = encodeBlobMetadata("image/png", 1000, etag);
    expect(decodeBlobMetadata(null)).toEqual(none);
    expect(decodeBlobMetadata(good.subarray(0, 16))).toEqual(none);
    expect(decodeBlobMetadata(Uint8Array.of(3, ...good.subarray(1)))).toEqual(none);
    expect(decodeBlobMetadata(encodeBlobMetadata("image/png\r\nX-Evil: 1", 1000, etag))).toEqual(none);
    expect(decodeBlobMetadata(encodeBlobMetadata("image/png", 9e15, etag))).toEqual(none);
  });
});

describe("isMediaType", () => {
  it("accepts type/subtype with token or quoted-string parameters", () => {
    for (const good of [
      "application/octet-stream",
      "text/plain;charset=utf-8",
      'text/plain ; charset="utf-8" ; format=flowed',
      "application/vnd.api+json",
      'multipart/form-data; boundary="a b\\"c"',
    ]) {
      expect([good, isMediaType(good)]).toEqual([good, true]);
    }
  });

  it("refuses anything else, and types over 256 characters", () => {
    for (const bad of [
      "",
      "text",
      "text/",
      "/plain",
      "text/plain;",
      "text/plain; charset",
      "text/plain; charset=",
      'text/plain; a="unterminated',
      "text /plain",
      "text/pläin",
      "text/plain\r\nx: y",
      "text/plain, text/html",
      `text/${"x".repeat(252)}`,
    ]) {
      expect([bad, isMediaType(bad)]).toEqual([bad, false]);
    }
    expect(isMediaType(`text/${"x".repeat(251)}`)).toBe(true);
  });
});
