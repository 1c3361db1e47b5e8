// Glob claims match in linear time: property-tested against a reference matcher, and a hostile claim
// cannot freeze the server (docs/security.md).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { compileGlob, matchesAny } from "../../src/auth/glob.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { TestClient } from "../helpers/ws-client.ts";

/** The textbook dynamic-programming wildcard match: obviously right, quadratic, used as the oracle. */
function referenceMatch(pattern: string, text: string): boolean {
  let row = new Array<boolean>(text.length + 1).fill(false);
  row[0] = true;
  for (const character of pattern) {
    const next = new Array<boolean>(text.length + 1).fill(false);
    if (character === "*") {
      next[0] = row[0]!;
      for (let index = 1; index <= text.length; index++) next[index] = next[index - 1]! || row[index]!;
    } else {
      for (let index = 1; index <= text.length; index++) next[index] = row[index - 1]! && text[index - 1] === character;
    }
    row = next;
  }
  return row[text.length]!;
}

// A small alphabet makes overlaps, repeats and near-misses common.
const patternText = fc.string({ unit: fc.constantFrom("a", "b", ":", "*"), maxLength: 12 });
const channelText = fc.string({ unit: fc.constantFrom("a", "b", ":"), maxLength: 24 });

describe("glob matching", () => {
  test("agrees with the reference matcher on any pattern and channel", () => {
    fc.assert(
      fc.property(patternText, channelText, (pattern, channel) => {
        expect(compileGlob(pattern).test(channel)).toBe(referenceMatch(pattern, channel));
      }),
      { numRuns: 5000 },
    );
  });

  test("a channel made of a pattern's own pieces matches it", () => {
    fc.assert(
      fc.property(fc.array(channelText, { minLength: 1, maxLength: 6 }), fc.array(channelText, { maxLength: 6 }), (pieces, fillers) => {
        const pattern = pieces.join("*");
        const channel = pieces.map((piece, index) => (index === 0 ? piece : (fillers[index] ?? "") + piece)).join("");
        expect(compileGlob(pattern).test(channel)).toBe(true);
      }),
    );
  });

  test("* matches any run, empty and ':' included; everything else, regex syntax too, is literal", () => {
    expect(compileGlob("news:*").test("news:")).toBe(true);
    expect(compileGlob("news:*").test("news:a:b:c")).toBe(true);
    expect(compileGlob("a.b").test("axb")).toBe(false);
    expect(compileGlob("a+(b)").test("a+(b)")).toBe(true);
    expect(compileGlob("a*a").test("a")).toBe(false);
    expect(compileGlob("*").test("")).toBe(true);
    expect(matchesAny([compileGlob("x"), compileGlob("y*")], "yes")).toBe(true);
  });

  test("a pattern of many stars against a long near-miss answers (a backtracking regex would not in a lifetime)", () => {
    const hostile = compileGlob("room" + ":*".repeat(40) + ":x");
    expect(hostile.test("room" + ":".repeat(124))).toBe(false);
    expect(hostile.test("room" + ":".repeat(122) + ":x")).toBe(true);
  });
});

describe("a hostile glob claim over the socket", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  test("publishing to a 128-character channel of colons is refused and the server keeps answering", async () => {
    const token = await server.token({ sub: "mallory", publish: ["room" + ":*".repeat(40) + ":x"], subscribe: ["room:*:*:*:*:*:*:*:*:x"] });
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    await client.next((frame) => frame.payload.type === "connected");
    const channel = "room" + ":".repeat(124);
    client.send({ channel, id: "p1", payload: { n: 1 } });
    expect((await client.next((frame) => frame.id === "p1")).payload.code).toBe("forbidden");
    client.send({ channel: "subscription", id: "s1", payload: { action: "subscribe", channel } });
    expect((await client.next((frame) => frame.id === "s1")).payload.code).toBe("forbidden");
    expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(200);
    client.close();
  });
});
