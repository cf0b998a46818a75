// HTTP dates (RFC 9110, section 5.6.7). Sent as IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT");
// read in that form and the two obsolete ones a recipient must still accept:
// RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994").

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTH = `(${MONTHS.join("|")})`;
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC_850 = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
);
const ASCTIME = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

/**
 * Dates already formatted, by second: blobs written together are read together, and formatting
 * costs more than a lookup. At most FORMATTED_DATES are kept.
 */
const formattedDates = new Map<number, string>();
const FORMATTED_DATES = 256;

/** `ms` since the epoch as an IMF-fixdate, to the second below. */
export function formatHttpDate(ms: number): string {
  const second = Math.floor(ms / 1000);
  let text = formattedDates.get(second);
  if (text === undefined) {
    // toUTCString is IMF-fixdate for the years 0 to 9999.
    text = new Date(second * 1000).toUTCString();
    if (formattedDates.size >= FORMATTED_DATES) formattedDates.clear();
    formattedDates.set(second, text);
  }
  return text;
}

/** Milliseconds since the epoch of an HTTP date, or null when `text` is not one. */
export function parseHttpDate(text: string, now = Date.now()): number | null {
  let match = IMF_FIXDATE.exec(text);
  if (match !== null) {
    const [, day, month, year, hours, minutes, seconds] = match as unknown as string[];
    return utc(Number(year), month as string, day as string, hours, minutes, seconds);
  }
  match = RFC_850.exec(text);
  if (match !== null) {
    const [, day, month, twoDigitYear, hours, minutes, seconds] = match as unknown as string[];
    // A two-digit year more than 50 years ahead is the most recent past year ending so.
    const thisYear = new Date(now).getUTCFullYear();
    let year = thisYear - (thisYear % 100) + Number(twoDigitYear);
    if (year > thisYear + 50) year -= 100;
    return utc(year, month as string, day as string, hours, minutes, seconds);
  }
  match = ASCTIME.exec(text);
  if (match !== null) {
    const [, month, day, hours, minutes, seconds, year] = match as unknown as string[];
    return utc(Number(year), month as string, (day as string).trim(), hours, minutes, seconds);
  }
  return null;
}

/** The instant, or null for a date that does not exist (31 Feb, 25:00). */
function utc(year: number, monthName: string, day: string, ...clock: (string | undefined)[]): number | null {
  const month = MONTHS.indexOf(monthName);
  const [hours, minutes, seconds] = clock.map(Number) as [number, number, number];
  if (hours > 23 || minutes > 59 || seconds > 60) return null;
  const ms = Date.UTC(year, month, Number(day), hours, minutes, Math.min(seconds, 59));
  return new Date(ms).getUTCDate() === Number(day) ? ms : null;
}
