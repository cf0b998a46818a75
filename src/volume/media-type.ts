/** What a blob without a stored type is served as. */
export const DEFAULT_CONTENT_TYPE = "application/octet-stream";

/** Longest Content-Type kept with a blob: far above real ones, and it is sent on every read. */
export const MAX_MEDIA_TYPE_LENGTH = 256;

// RFC 9110, section 8.3.1: type "/" subtype *( OWS ";" OWS parameter ), where a parameter is
// token "=" ( token / quoted-string ). Visible ASCII only, so the value is always a safe header.
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED_STRING = '"(?:[\\t !#-\\[\\]-~]|\\\\[\\t -~])*"';
const MEDIA_TYPE = new RegExp(
  `^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|${QUOTED_STRING}))*$`,
);

/** Whether `text` is a media type as Content-Type carries it, at most MAX_MEDIA_TYPE_LENGTH long. */
export function isMediaType(text: string): boolean {
  return text.length <= MAX_MEDIA_TYPE_LENGTH && MEDIA_TYPE.test(text);
}
