// How deeply JSON text nests, found by one linear scan before a recursive parser or validator sees it.

/**
 * The deepest nesting of arrays and objects a frame or request body may have (docs/protocol.md
 * section 8.3). Far more than any real payload needs, far less than what overflows the stack
 * of the recursive code that walks a parsed value (schema checks, stringify).
 */
export const MAX_JSON_DEPTH = 64;

const quote = 34; // "
const backslash = 92; // \
const openBracket = 91; // [
const closeBracket = 93; // ]
const openBrace = 123; // {
const closeBrace = 125; // }

/**
 * Whether `text` nests arrays and objects more than `max` levels deep (`{}` is one level, `[{}]` two);
 * brackets inside strings do not count. The text is not validated: whatever is not JSON is left to
 * the parser, which rejects a stray closing bracket or an unterminated string before it reaches
 * anything nested after it.
 */
export function jsonDepthExceeds(text: string, max: number): boolean {
  // Every level opens with a bracket: a frame with few of them (most) needs no closer look.
  if (openersAtMost(text, max)) return false;
  let depth = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === quote) {
      index = stringEnd(text, index);
      if (index < 0) return false;
    } else if (code === openBracket || code === openBrace) {
      if (++depth > max) return true;
    } else if (code === closeBracket || code === closeBrace) {
      depth--;
    }
  }
  return false;
}

/** Whether `text` holds at most `max` of `[` and `{` together, wherever they are (native searches). */
function openersAtMost(text: string, max: number): boolean {
  let count = 0;
  for (const opener of ["[", "{"]) {
    for (let at = text.indexOf(opener); at >= 0; at = text.indexOf(opener, at + 1)) {
      if (++count > max) return false;
    }
  }
  return true;
}

/** The index of the quote that closes the string opened at `start`, or -1 when it is never closed. */
function stringEnd(text: string, start: number): number {
  for (let end = text.indexOf('"', start + 1); end >= 0; end = text.indexOf('"', end + 1)) {
    // A quote after an odd run of backslashes is escaped; the opening quote stops the count.
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === backslash) backslashes++;
    if (backslashes % 2 === 0) return end;
  }
  return -1;
}
