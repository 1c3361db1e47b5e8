// Full-jitter backoff.

import { describe, expect, test } from "bun:test";
import { Backoff } from "../../src/client/index.ts";

describe("Backoff", () => {
  test("each delay is random(0, min(max, base * 2^attempt)); reset starts over", () => {
    const top = new Backoff(100, 1_000, () => 0.999_999);
    expect([1, 2, 3, 4, 5, 6].map(() => top.next())).toEqual([99, 199, 399, 799, 999, 999]);
    top.reset();
    expect(top.next()).toBe(99);
    const bottom = new Backoff(100, 1_000, () => 0);
    expect(bottom.next()).toBe(0);
    const long = new Backoff(100, 10_000);
    for (let attempt = 0; attempt < 2_000; attempt++) expect(long.next()).toBeLessThan(10_000);
  });
});
