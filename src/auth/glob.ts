// Channel globs from token claims: `*` matches any run of characters (empty and `:` included).
// Matching is linear in the channel's and the pattern's length, whatever the pattern: a hostile claim
// like `room:*:*:*:*:*:x` must not make a permission check backtrack (docs/security.md).

export interface Glob {
  readonly pattern: string;
  test(channel: string): boolean;
}

// Tokens repeat the same few globs across many connections; one compiled Glob serves them all.
const compiled = new Map<string, Glob>();
const MAX_COMPILED = 10_000;

export function compileGlob(pattern: string): Glob {
  let glob = compiled.get(pattern);
  if (!glob) {
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
    glob = buildGlob(pattern);
    compiled.set(pattern, glob);
  }
  return glob;
}

export function matchesAny(globs: readonly Glob[], channel: string): boolean {
  for (const glob of globs) if (glob.test(channel)) return true;
  return false;
}

/** A literal piece between two stars, with its Knuth-Morris-Pratt failure table. */
interface Segment {
  text: string;
  failure: Int32Array;
}

function buildGlob(pattern: string): Glob {
  const parts = pattern.split("*");
  if (parts.length === 1) return { pattern, test: (channel) => channel === pattern };
  // The first part anchors the start, the last the end; the ones between float, in order.
  const head = parts[0]!;
  const tail = parts[parts.length - 1]!;
  const middle = parts.slice(1, -1).filter((part) => part.length > 0).map(segment);
  const fixed = head.length + tail.length;
  return {
    pattern,
    test(channel) {
      if (channel.length < fixed || !channel.startsWith(head) || !channel.endsWith(tail)) return false;
      // Each floating part taken at its leftmost place leaves the most room for the next: greedy is exact
      // for `*`-only globs, and each search resumes where the last ended, so the scan is linear.
      let from = head.length;
      const end = channel.length - tail.length;
      for (const part of middle) {
        const found = find(channel, from, end, part);
        if (found < 0) return false;
        from = found + part.text.length;
      }
      return true;
    },
  };
}

function segment(text: string): Segment {
  const failure = new Int32Array(text.length);
  let matched = 0;
  for (let index = 1; index < text.length; index++) {
    while (matched > 0 && text.charCodeAt(index) !== text.charCodeAt(matched)) matched = failure[matched - 1]!;
    if (text.charCodeAt(index) === text.charCodeAt(matched)) matched++;
    failure[index] = matched;
  }
  return { text, failure };
}

/** The index of the first occurrence of `part` in `text[from, end)`, or -1; O(end - from + part length). */
function find(text: string, from: number, end: number, part: Segment): number {
  const needle = part.text;
  let matched = 0;
  for (let index = from; index < end; index++) {
    const code = text.charCodeAt(index);
    while (matched > 0 && code !== needle.charCodeAt(matched)) matched = part.failure[matched - 1]!;
    if (code === needle.charCodeAt(matched)) matched++;
    if (matched === needle.length) return index - needle.length + 1;
  }
  return -1;
}
