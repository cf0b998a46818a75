import { describe, expect, it } from "bun:test";
import { blobKeyFromUrl } from "../../src/server/http/blob-key.ts";
import { answerFor, HttpError } from "../../src/server/http/http-error.ts";
import { ifNoneMatchHits } from "../../src/server/http/if-none-match.ts";
import { parseRange } from "../../src/server/http/range.ts";

describe("parseRange", () => {
  it("reads the three forms of a single byte range, clipped to the size", () => {
    expect(parseRange("bytes=0-99", 1000)).toEqual({ kind: "partial", start: 0, end: 99 });
    expect(parseRange("bytes=900-", 1000)).toEqual({ kind: "partial", start: 900, end: 999 });
    expect(parseRange("bytes=-100", 1000)).toEqual({ kind: "partial", start: 900, end: 999 });
    expect(parseRange("bytes=990-2000", 1000)).toEqual({ kind: "partial", start: 990, end: 999 });
    expect(parseRange("bytes=-5000", 1000)).toEqual({ kind: "partial", start: 0, end: 999 });
  });

  it("finds a range unsatisfiable when it starts at or past the end, or asks for nothing", () => {
    expect(parseRange("bytes=1000-", 1000)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=2000-3000", 1000)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=-0", 1000)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=0-", 0)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=-1", 0)).toEqual({ kind: "unsatisfiable" });
  });

  it("answers the whole representation for no header, another unit, bad syntax or several ranges", () => {
    for (const header of [
      null,
      "",
      "items=0-1",
      "bytes=",
      "bytes=-",
      "bytes=5-1",
      "bytes=a-b",
      "bytes=0-1,5-6",
    ]) {
      expect(parseRange(header, 1000)).toEqual({ kind: "whole" });
    }
  });
});

describe("ifNoneMatchHits", () => {
  it("matches strong, weak, unquoted, listed and wildcard tags", () => {
    for (const header of ['"0badf00d"', 'W/"0badf00d"', "0badf00d", '"11111111", "0badf00d"', "*"]) {
      expect(ifNoneMatchHits(header, "0badf00d")).toBe(true);
    }
  });

  it("does not match other tags or an absent header", () => {
    for (const header of [null, "", '"11111111"', '"0badf00"', 'W/"0BADF00D"']) {
      expect(ifNoneMatchHits(header, "0badf00d")).toBe(false);
    }
  });
});

describe("blobKeyFromUrl", () => {
  it("decodes the whole path after /blobs/ and ignores the query", () => {
    expect(blobKeyFromUrl("http://h:1/blobs/a%2Fb/c%3Ad?x=1")).toBe("a/b/c:d");
    expect(blobKeyFromUrl("http://h/blobs/%E2%82%AC")).toBe("€");
    expect(blobKeyFromUrl("http://h/blobs/+plus")).toBe("+plus");
  });

  it("reads a bare path, as Bun gives it for a request without a Host header", () => {
    expect(blobKeyFromUrl("/blobs/k1")).toBe("k1");
    expect(blobKeyFromUrl("/blobs/a/b?x=1")).toBe("a/b");
  });

  it("throws a 400 HttpError for an empty or undecodable key", () => {
    for (const url of ["http://h/blobs/", "http://h/blobs", "http://h/blobs/?x=1", "http://h/blobs/%C3%28"]) {
      expect(() => blobKeyFromUrl(url)).toThrow(HttpError);
      try {
        blobKeyFromUrl(url);
      } catch (error) {
        expect((error as HttpError).status).toBe(400);
      }
    }
  });
});

describe("answerFor", () => {
  it("tells the client of an unexpected error its name only: the message may name a server path", () => {
    const answer = answerFor("UNKNOWN", new TypeError("cannot read /var/lib/kvstore/000001.dat"));
    expect(answer).toEqual({
      status: 500,
      message: "internal error (TypeError); see the server log",
      unexpected: true,
    });
  });
});
