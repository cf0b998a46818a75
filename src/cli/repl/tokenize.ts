export class UnterminatedQuoteError extends Error {
  override name = "UnterminatedQuoteError";
  constructor() {
    super('unterminated quote: close the value with "');
  }
}

/**
 * Splits a REPL line into words at spaces. Double quotes group a word that holds spaces (or is
 * empty); inside them \" is a quote and \\ a backslash, and any other backslash is kept as is.
 * Quoted and bare parts next to each other form one word, as in a shell: a"b c" is `ab c`.
 */
export function tokenize(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i] as string;
    if (quoted) {
      const next = line[i + 1];
      if (char === '"') quoted = false;
      else if (char === "\\" && (next === '"' || next === "\\")) {
        word += next;
        i++;
      } else word += char;
    } else if (char === '"') {
      quoted = true;
      word ??= "";
    } else if (char === " " || char === "\t") {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? "") + char;
  }
  if (quoted) throw new UnterminatedQuoteError();
  if (word !== undefined) words.push(word);
  return words;
}

/** The inverse of `tokenize` for one word: quoted only when it has to be. */
export function quoteIfNeeded(word: string): string {
  if (word !== "" && !/[\s"\\]/.test(word)) return word;
  return `"${word.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}
