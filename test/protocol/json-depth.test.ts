// jsonDepthExceeds(): the linear scan that refuses too-deep JSON before anything recursive sees it.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { MAX_JSON_DEPTH, jsonDepthExceeds } from "../../src/protocol/index.ts";

/** The reference: `{}` and `[]` are one level, scalars none. */
function depthOf(value: unknown): number {
  if (typeof value !== "object" || value === null) return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + Math.max(0, ...children.map(depthOf));
}

const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

// Strings made mostly of what could fool a scanner: brackets, quotes, backslashes.
const trickyString = fc.string({ unit: fc.constantFrom("[", "]", "{", "}", '"', "\\", "a", "\n", "\u2028", "é") });
const { value: jsonValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(null, true, false, 0, -1.5),
    trickyString,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(trickyString, tie("value"), { maxKeys: 4 }),
  ),
}));

describe("jsonDepthExceeds", () => {
  test("agrees with the depth of the value for every limit, whatever the strings hold", () => {
    fc.assert(
      fc.property(jsonValue, fc.constantFrom(undefined, 2), (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        const depth = depthOf(value);
        for (let max = 0; max <= depth + 1; max++) expect([max, jsonDepthExceeds(text, max)]).toEqual([max, depth > max]);
      }),
      { numRuns: 500 },
    );
  });

  test("brackets inside strings and after escaped quotes do not count", () => {
    expect(jsonDepthExceeds(JSON.stringify({ a: "[".repeat(200) }), 1)).toBe(false);
    expect(jsonDepthExceeds(JSON.stringify({ a: '"[[[[[[[[' }), 1)).toBe(false);
    expect(jsonDepthExceeds(JSON.stringify({ a: "\\", b: "[[[[[[[[[[" }), 1)).toBe(false);
    // An escaped backslash ends before the quote, so the brackets after it are outside the string.
    expect(jsonDepthExceeds(`["\\\\",${nested(3)}]`, 3)).toBe(true);
    expect(jsonDepthExceeds(`["\\\\",${nested(3)}]`, 4)).toBe(false);
  });

  test("depth exactly at the limit passes, one more does not", () => {
    expect(jsonDepthExceeds(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH)).toBe(false);
    expect(jsonDepthExceeds(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)).toBe(true);
    const objects = '{"a":'.repeat(MAX_JSON_DEPTH) + "1" + "}".repeat(MAX_JSON_DEPTH);
    expect(jsonDepthExceeds(objects, MAX_JSON_DEPTH)).toBe(false);
    expect(jsonDepthExceeds(`[${objects}]`, MAX_JSON_DEPTH)).toBe(true);
  });

  test("40,000 levels, and unclosed or scalar text", () => {
    expect(jsonDepthExceeds(nested(40_000), MAX_JSON_DEPTH)).toBe(true);
    expect(jsonDepthExceeds("[".repeat(40_000), MAX_JSON_DEPTH)).toBe(true);
    expect(jsonDepthExceeds('"' + "[".repeat(40_000), MAX_JSON_DEPTH)).toBe(false);
    expect(jsonDepthExceeds("42", 0)).toBe(false);
    expect(jsonDepthExceeds("{}", 0)).toBe(true);
  });
});
